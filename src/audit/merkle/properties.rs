//! Property-style tests over seeded random append sequences: the frontier, the stored nodes
//! and every proof agree with the recursive reference definitions of RFC 6962 / RFC 9162.

use super::*;

/// SplitMix64: a small seeded generator, so random tests replay exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn leaves(&mut self, n: usize) -> Vec<Hash> {
        (0..n)
            .map(|_| leaf_hash(&self.next().to_le_bytes()[..(self.below(9) as usize)]))
            .collect()
    }
}

/// PATH(m, D[n]) of RFC 9162 straight over a slice of leaves.
fn reference_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split_point(leaves.len() as u64) as usize;
    let (mut path, sibling) = if m < k {
        (reference_path(m, &leaves[..k]), root(&leaves[k..]))
    } else {
        (reference_path(m - k, &leaves[k..]), root(&leaves[..k]))
    };
    path.push(sibling);
    path
}

/// SUBPROOF(m, D[n], complete) of RFC 9162 straight over a slice of leaves.
fn reference_subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    let k = split_point(n as u64) as usize;
    let (mut proof, sibling) = if m <= k {
        (
            reference_subproof(m, &leaves[..k], complete),
            root(&leaves[k..]),
        )
    } else {
        (
            reference_subproof(m - k, &leaves[k..], false),
            root(&leaves[..k]),
        )
    };
    proof.push(sibling);
    proof
}

#[test]
fn frontier_reports_exactly_the_perfect_subtrees_it_completes() {
    let leaves = Rng(1).leaves(100);
    let mut frontier = Frontier::new();
    let mut reported = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let completed = frontier.push(*leaf);
        assert_eq!(
            completed[0],
            Node {
                level: 0,
                index: i as u64,
                hash: *leaf
            }
        );
        assert_eq!(completed.len(), 1 + (i as u64).trailing_ones() as usize);
        reported.extend(completed);
    }
    for node in &reported {
        let width = 1usize << node.level;
        let start = node.index as usize * width;
        assert_eq!(node.hash, root(&leaves[start..start + width]), "{node:?}");
    }
    // Every perfect subtree inside the tree, once: sum over levels of floor(n / 2^level).
    let expected: usize = (0..7).map(|level| 100 >> level).sum();
    assert_eq!(reported.len(), expected);
}

#[test]
fn frontier_rebuilt_from_stored_nodes_continues_the_same_tree() {
    let leaves = Rng(2).leaves(70);
    let nodes = MemoryNodes::from_leaves(&leaves);
    for size in 0..=70u64 {
        let lookup = |level, index| nodes.node(level, index).ok_or((level, index));
        let mut rebuilt = Frontier::from_nodes(size, lookup).expect("every peak is stored");
        assert_eq!(rebuilt.size(), size);
        assert_eq!(
            rebuilt.root(),
            root(&leaves[..size as usize]),
            "size {size}"
        );
        for leaf in &leaves[size as usize..] {
            rebuilt.push(*leaf);
        }
        assert_eq!(rebuilt.root(), nodes.root(), "continued from {size}");
    }
    assert_eq!(Frontier::peak_positions(13), vec![(3, 0), (2, 2), (0, 12)]);
    let empty = MemoryNodes::default();
    let missing = Frontier::from_nodes(3, |level, index| empty.node(level, index).ok_or(level));
    assert_eq!(missing, Err(1));
}

#[test]
fn random_append_sequences_keep_the_reference_root() {
    for seed in 0..20 {
        let mut rng = Rng(seed);
        let n = rng.below(300) as usize + 1;
        let leaves = rng.leaves(n);
        let mut frontier = Frontier::new();
        let mut nodes = MemoryNodes::default();
        for (i, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            nodes.push(*leaf);
            let expected = root(&leaves[..=i]);
            assert_eq!(frontier.root(), expected, "seed {seed}, size {}", i + 1);
            assert_eq!(tree_root(&nodes, i as u64 + 1), Ok(expected));
        }
        assert_eq!(nodes.size(), n as u64);
    }
}

#[test]
fn every_inclusion_proof_verifies_in_random_trees() {
    let leaves = Rng(3).leaves(300);
    let nodes = MemoryNodes::from_leaves(&leaves);
    for size in 1..=300u64 {
        let tree = &leaves[..size as usize];
        let tree_root = root(tree);
        for index in 0..size {
            let proof = inclusion_proof(&nodes, index, size).expect("inside the tree");
            if size <= 64 || index % 37 == 0 {
                assert_eq!(
                    proof,
                    reference_path(index as usize, tree),
                    "{index} of {size}"
                );
            }
            let leaf = &leaves[index as usize];
            let verdict = verify_inclusion(leaf, index, size, &proof, &tree_root);
            assert_eq!(verdict, Ok(()), "leaf {index} of {size}");
        }
    }
}

#[test]
fn consistency_proofs_verify_for_all_small_pairs_and_random_large_ones() {
    let leaves = Rng(4).leaves(300);
    let nodes = MemoryNodes::from_leaves(&leaves);
    let roots: Vec<Hash> = (0..=300).map(|n| root(&leaves[..n])).collect();
    let mut pairs: Vec<(u64, u64)> = (0..=48)
        .flat_map(|n| (0..=n).map(move |m| (m, n)))
        .collect();
    let mut rng = Rng(5);
    pairs.extend((0..3000).map(|_| {
        let second = rng.below(300) + 1;
        (rng.below(second + 1), second)
    }));
    for (first, second) in pairs {
        let proof = consistency_proof(&nodes, first, second).expect("inside the tree");
        if 0 < first && first < second && second <= 64 {
            let reference = reference_subproof(first as usize, &leaves[..second as usize], true);
            assert_eq!(proof, reference, "{first} to {second}");
        }
        let (r1, r2) = (&roots[first as usize], &roots[second as usize]);
        let verdict = verify_consistency(first, second, r1, r2, &proof);
        assert_eq!(verdict, Ok(()), "{first} to {second}");
        if first > 0 && first < second {
            let mut forged = proof.clone();
            forged[0][31] ^= 1;
            assert!(verify_consistency(first, second, r1, r2, &forged).is_err());
        }
    }
}
