//! Known answers from the Certificate Transparency test vectors (the RFC 6962 leaves, roots
//! and proofs of google/certificate-transparency and transparency-dev/merkle), forged and
//! malformed proofs.

use super::*;

/// The RFC 6962 test leaves of google/certificate-transparency and transparency-dev/merkle.
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots of the trees of the first 1..=8 of those leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const EMPTY_ROOT: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// (leaf index, tree size, audit path), leaf indexes zero-based.
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (first size, second size, consistency proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(hex_str: &str) -> Hash {
    let bytes = hex::decode(hex_str).expect("test vectors are hex");
    bytes.try_into().expect("test vector hashes are 32 bytes")
}

fn hashes(list: &[&str]) -> Vec<Hash> {
    list.iter().map(|s| h(s)).collect()
}

fn ct_leaves() -> Vec<Hash> {
    LEAF_INPUTS
        .iter()
        .map(|input| leaf_hash(&hex::decode(input).expect("hex")))
        .collect()
}

fn ct_root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn empty_tree_root_is_sha256_of_the_empty_string() {
    assert_eq!(empty_root(), h(EMPTY_ROOT));
    assert_eq!(root(&[]), h(EMPTY_ROOT));
    assert_eq!(Frontier::new().root(), h(EMPTY_ROOT));
    assert_eq!(tree_root(&MemoryNodes::default(), 0), Ok(h(EMPTY_ROOT)));
}

#[test]
fn leaf_and_node_hashes_are_domain_separated() {
    assert_eq!(leaf_hash(b""), ct_root(1), "SHA-256(0x00)");
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let concatenated = [a, b].concat();
    assert_ne!(node_hash(&a, &b), leaf_hash(&concatenated));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
}

#[test]
fn roots_match_the_rfc6962_vectors_by_every_method() {
    let leaves = ct_leaves();
    let nodes = MemoryNodes::from_leaves(&leaves);
    let mut frontier = Frontier::new();
    for size in 1..=8u64 {
        frontier.push(leaves[size as usize - 1]);
        assert_eq!(
            root(&leaves[..size as usize]),
            ct_root(size),
            "reference, size {size}"
        );
        assert_eq!(frontier.root(), ct_root(size), "frontier, size {size}");
        assert_eq!(
            tree_root(&nodes, size),
            Ok(ct_root(size)),
            "nodes, size {size}"
        );
    }
    assert_eq!(nodes.root(), ct_root(8));
}

#[test]
fn inclusion_proofs_match_and_verify_against_the_published_vectors() {
    let leaves = ct_leaves();
    let nodes = MemoryNodes::from_leaves(&leaves);
    for (index, size, expected) in INCLUSION {
        let proof = inclusion_proof(&nodes, index, size).expect("inside the tree");
        assert_eq!(proof, hashes(expected), "proof for leaf {index} of {size}");
        let leaf = &leaves[index as usize];
        assert_eq!(
            verify_inclusion(leaf, index, size, &proof, &ct_root(size)),
            Ok(())
        );
    }
    // A one-leaf tree: the leaf is the root and the path is empty.
    assert_eq!(inclusion_proof(&nodes, 0, 1), Ok(Vec::new()));
    assert_eq!(verify_inclusion(&leaves[0], 0, 1, &[], &ct_root(1)), Ok(()));
}

#[test]
fn consistency_proofs_match_and_verify_against_the_published_vectors() {
    let nodes = MemoryNodes::from_leaves(&ct_leaves());
    for (first, second, expected) in CONSISTENCY {
        let proof = consistency_proof(&nodes, first, second).expect("inside the tree");
        assert_eq!(proof, hashes(expected), "proof from {first} to {second}");
        let (first_root, second_root) = (ct_root(first), ct_root(second));
        assert_eq!(
            verify_consistency(first, second, &first_root, &second_root, &proof),
            Ok(())
        );
    }
}

/// Every way transparency-dev/merkle's tests corrupt a good inclusion proof.
fn corrupted_inclusions(
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Vec<(String, u64, u64, Vec<Hash>)> {
    let mut probes = vec![
        ("index + 1".to_string(), index + 1, size, proof.to_vec()),
        ("index ^ 2".to_string(), index ^ 2, size, proof.to_vec()),
        ("size * 2".to_string(), index, size * 2, proof.to_vec()),
        ("size / 2".to_string(), index, size / 2, proof.to_vec()),
        (
            "trailing zeros".to_string(),
            index,
            size,
            [proof, &[[0; 32]]].concat(),
        ),
        (
            "leading zeros".to_string(),
            index,
            size,
            [&[[0; 32]], proof].concat(),
        ),
    ];
    if index > 0 {
        probes.push(("index - 1".to_string(), index - 1, size, proof.to_vec()));
    }
    if let Some((_, rest)) = proof.split_last() {
        probes.push(("missing last".to_string(), index, size, rest.to_vec()));
        let inserted = [&proof[..1], &[[7; 32]], &proof[1..]].concat();
        probes.push(("inserted".to_string(), index, size, inserted));
    }
    for i in 0..proof.len() {
        let mut flipped = proof.to_vec();
        flipped[i][0] ^= 8;
        probes.push((format!("flipped proof[{i}]"), index, size, flipped));
    }
    probes
}

#[test]
fn forged_inclusion_proofs_are_refused() {
    let leaves = ct_leaves();
    for (index, size, expected) in INCLUSION {
        let (proof, root, leaf) = (hashes(expected), ct_root(size), leaves[index as usize]);
        for (what, i, n, forged) in corrupted_inclusions(index, size, &proof) {
            let verdict = verify_inclusion(&leaf, i, n, &forged, &root);
            assert!(
                verdict.is_err(),
                "{what} accepted for leaf {index} of {size}"
            );
        }
        let wrong_leaf = leaf_hash(b"WrongLeaf");
        for (leaf, root) in [(wrong_leaf, root), (leaf, h(EMPTY_ROOT)), (leaf, proof[0])] {
            assert_eq!(
                verify_inclusion(&leaf, index, size, &proof, &root),
                Err(ProofError::RootMismatch { size })
            );
        }
        let extra = [&proof[..], &[root]].concat();
        assert_eq!(
            verify_inclusion(&leaf, index, size, &extra, &root),
            Err(ProofError::WrongLength {
                expected: proof.len(),
                got: proof.len() + 1
            })
        );
    }
}

#[test]
fn forged_consistency_proofs_are_refused() {
    for (first, second, expected) in CONSISTENCY.iter().filter(|c| !c.2.is_empty()) {
        let (first, second, proof) = (*first, *second, hashes(expected));
        let (r1, r2) = (ct_root(first), ct_root(second));
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            ("first - 1".into(), first - 1, second, r1, r2, proof.clone()),
            ("first + 1".into(), first + 1, second, r1, r2, proof.clone()),
            ("first ^ 2".into(), first ^ 2, second, r1, r2, proof.clone()),
            (
                "second * 2".into(),
                first,
                second * 2,
                r1,
                r2,
                proof.clone(),
            ),
            (
                "second / 2".into(),
                first,
                second / 2,
                r1,
                r2,
                proof.clone(),
            ),
            (
                "wrong first root".into(),
                first,
                second,
                h(EMPTY_ROOT),
                r2,
                proof.clone(),
            ),
            (
                "wrong second root".into(),
                first,
                second,
                r1,
                h(EMPTY_ROOT),
                proof.clone(),
            ),
            ("swapped roots".into(), first, second, r2, r1, proof.clone()),
            ("empty proof".into(), first, second, r1, r2, Vec::new()),
            (
                "trailing root".into(),
                first,
                second,
                r1,
                r2,
                [&proof[..], &[r2]].concat(),
            ),
            (
                "leading root".into(),
                first,
                second,
                r1,
                r2,
                [&[r1], &proof[..]].concat(),
            ),
            (
                "leading proof[0]".into(),
                first,
                second,
                r1,
                r2,
                [&proof[..1], &proof].concat(),
            ),
            (
                "truncated".into(),
                first,
                second,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
            ),
        ];
        for i in 0..proof.len() {
            let mut flipped = proof.clone();
            flipped[i][0] ^= 16;
            probes.push((
                format!("flipped proof[{i}]"),
                first,
                second,
                r1,
                r2,
                flipped,
            ));
        }
        for (what, m, n, a, b, forged) in probes {
            let verdict = verify_consistency(m, n, &a, &b, &forged);
            assert!(verdict.is_err(), "{what} accepted from {first} to {second}");
        }
    }
}

#[test]
fn malformed_requests_are_refused_with_a_reason() {
    let leaves = ct_leaves();
    let nodes = MemoryNodes::from_leaves(&leaves[..5]);
    let (leaf, any) = (leaves[0], ct_root(3));
    let out_of_range = |index, size| ProofError::LeafOutOfRange { index, size };
    assert_eq!(inclusion_proof(&nodes, 5, 5), Err(out_of_range(5, 5)));
    assert_eq!(inclusion_proof(&nodes, 0, 0), Err(out_of_range(0, 0)));
    assert_eq!(
        verify_inclusion(&leaf, 8, 8, &[], &any),
        Err(out_of_range(8, 8))
    );
    assert_eq!(
        verify_inclusion(&leaf, 0, 0, &[], &h(EMPTY_ROOT)),
        Err(out_of_range(0, 0))
    );
    let backwards = Err(ProofError::SizesOutOfOrder {
        first: 4,
        second: 3,
    });
    assert_eq!(consistency_proof(&nodes, 4, 3), backwards);
    assert_eq!(
        verify_consistency(4, 3, &any, &any, &[]),
        backwards.map(|_: Vec<Hash>| ())
    );
    // The store holds five leaves: a tree of eight needs nodes it does not have.
    assert_eq!(
        inclusion_proof(&nodes, 0, 8),
        Err(ProofError::MissingNode { level: 2, index: 1 })
    );
    assert!(matches!(
        consistency_proof(&nodes, 3, 6),
        Err(ProofError::MissingNode { .. })
    ));
    assert_eq!(tree_root(&nodes, 5), Ok(ct_root(5)));
    // The empty tree and a tree itself are consistent only by an empty proof.
    let (r3, r5) = (ct_root(3), ct_root(5));
    assert_eq!(verify_consistency(0, 5, &h(EMPTY_ROOT), &r5, &[]), Ok(()));
    assert_eq!(verify_consistency(3, 3, &r3, &r3, &[]), Ok(()));
    let not_empty = Err(ProofError::WrongLength {
        expected: 0,
        got: 1,
    });
    assert_eq!(
        verify_consistency(0, 5, &h(EMPTY_ROOT), &r5, &[r5]),
        not_empty
    );
    assert_eq!(verify_consistency(3, 3, &r3, &r3, &[r3]), not_empty);
    let mismatch = |size| Err(ProofError::RootMismatch { size });
    assert_eq!(verify_consistency(0, 5, &r3, &r5, &[]), mismatch(0));
    assert_eq!(verify_consistency(3, 3, &r3, &r5, &[]), mismatch(3));
    assert_eq!(consistency_proof(&nodes, 0, 5), Ok(Vec::new()));
    assert_eq!(consistency_proof(&nodes, 5, 5), Ok(Vec::new()));
    // A proof of the wrong shape is named as such before any hashing.
    let proof = hashes(CONSISTENCY[3].2);
    let (r2, long) = (ct_root(2), [&proof[..], &[r5]].concat());
    let wrong_length = |got| Err(ProofError::WrongLength { expected: 2, got });
    assert_eq!(verify_consistency(2, 5, &r2, &r5, &long), wrong_length(3));
    assert_eq!(
        verify_consistency(2, 5, &r2, &r5, &proof[..1]),
        wrong_length(1)
    );
    assert_eq!(verify_consistency(2, 5, &r2, &r5, &proof), Ok(()));
}
