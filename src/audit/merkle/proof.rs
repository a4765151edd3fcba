//! Inclusion and consistency proofs (RFC 9162 §2.1.3 and §2.1.4): built from the perfect
//! subtrees a [`NodeSource`] holds, recursing where a subtree is not perfect, and verified by
//! the RFC's iterative algorithms after a length check that refuses malformed proofs early.

use super::{Hash, NodeSource, ProofError, empty_root, node_hash, split_point};

/// The root hash of the first `size` leaves of the tree `src` holds nodes for.
///
/// # Errors
///
/// [`ProofError::MissingNode`] when `src` lacks a node inside that tree.
pub fn tree_root<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Hash, ProofError> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree(src, 0, size)
}

/// The audit path of leaf `leaf_index` in the tree of the first `tree_size` leaves, from the
/// leaf's sibling up to the root's child (RFC 9162 §2.1.3.1).
///
/// # Errors
///
/// [`ProofError::LeafOutOfRange`] when `leaf_index >= tree_size`;
/// [`ProofError::MissingNode`] when `src` lacks a node inside the tree.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    leaf_index: u64,
    tree_size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::LeafOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let mut proof = Vec::new();
    audit_path(src, leaf_index, 0, tree_size, &mut proof)?;
    Ok(proof)
}

/// The proof that the tree of `second` leaves extends the tree of `first` leaves
/// (RFC 9162 §2.1.4.1); empty when `first` is 0 or equals `second`.
///
/// # Errors
///
/// [`ProofError::SizesOutOfOrder`] when `first > second`;
/// [`ProofError::MissingNode`] when `src` lacks a node inside the larger tree.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    let mut proof = Vec::new();
    if first > 0 && first < second {
        subproof(src, first, 0, second, true, &mut proof)?;
    }
    Ok(proof)
}

/// Checks that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` leaves whose root
/// is `root` (RFC 9162 §2.1.3.2).
///
/// # Errors
///
/// [`ProofError::LeafOutOfRange`], [`ProofError::WrongLength`] for a proof of the wrong
/// shape, and [`ProofError::RootMismatch`] when the proof does not lead to `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    leaf_index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::LeafOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    check_length(path_length(leaf_index, tree_size - 1), proof)?;
    let computed = chain_inclusion(*leaf_hash, leaf_index, tree_size - 1, proof);
    if computed != Some(*root) {
        return Err(ProofError::RootMismatch { size: tree_size });
    }
    Ok(())
}

/// Checks that the tree of `second` leaves with root `second_root` extends the tree of
/// `first` leaves with root `first_root` (RFC 9162 §2.1.4.2). The empty tree (whose root is
/// [`empty_root`]) is consistent with every tree, by an empty proof.
///
/// # Errors
///
/// [`ProofError::SizesOutOfOrder`], [`ProofError::WrongLength`] for a proof of the wrong
/// shape, and [`ProofError::RootMismatch`] naming the size whose root the proof misses.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    if first == 0 || first == second {
        check_length(0, proof)?;
        let expected = if first == 0 {
            empty_root()
        } else {
            *second_root
        };
        if *first_root != expected {
            return Err(ProofError::RootMismatch { size: first });
        }
        return Ok(());
    }
    check_length(consistency_length(first, second), proof)?;
    let Some((first_computed, second_computed)) =
        chain_consistency(first, second, first_root, proof)
    else {
        return Err(ProofError::RootMismatch { size: second });
    };
    if first_computed != *first_root {
        return Err(ProofError::RootMismatch { size: first });
    }
    if second_computed != *second_root {
        return Err(ProofError::RootMismatch { size: second });
    }
    Ok(())
}

/// The hash of the `n >= 1` leaves starting at `start`. The RFC's recursion only ever splits
/// at powers of two, so every perfect piece starts at a multiple of its own width and is a
/// node `src` can hold.
fn subtree<S: NodeSource + ?Sized>(src: &S, start: u64, n: u64) -> Result<Hash, ProofError> {
    if n.is_power_of_two() {
        debug_assert_eq!(start % n, 0, "perfect subtrees are aligned");
        let level = n.trailing_zeros();
        let index = start >> level;
        return src
            .node(level, index)
            .ok_or(ProofError::MissingNode { level, index });
    }
    let k = split_point(n);
    Ok(node_hash(
        &subtree(src, start, k)?,
        &subtree(src, start + k, n - k)?,
    ))
}

/// PATH(m, D[start..start+n]) of RFC 9162 §2.1.3.1, appended to `out` leaf side first.
fn audit_path<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    n: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        audit_path(src, m, start, k, out)?;
        out.push(subtree(src, start + k, n - k)?);
    } else {
        audit_path(src, m - k, start + k, n - k, out)?;
        out.push(subtree(src, start, k)?);
    }
    Ok(())
}

/// SUBPROOF(m, D[start..start+n], complete) of RFC 9162 §2.1.4.1, appended to `out`.
fn subproof<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    n: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    if m == n {
        if !complete {
            out.push(subtree(src, start, n)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof(src, m, start, k, complete, out)?;
        out.push(subtree(src, start + k, n - k)?);
    } else {
        subproof(src, m - k, start + k, n - k, false, out)?;
        out.push(subtree(src, start, k)?);
    }
    Ok(())
}

fn check_length(expected: usize, proof: &[Hash]) -> Result<(), ProofError> {
    if proof.len() == expected {
        Ok(())
    } else {
        Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        })
    }
}

/// How many hashes lead from node `index` to the root of a tree whose last node at that level
/// is `last`: the levels below where their paths meet, plus the left siblings above it.
fn path_length(index: u64, last: u64) -> usize {
    let inner = u64::BITS - (index ^ last).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// The length of a consistency proof for `0 < first < second`: the path from the largest
/// perfect subtree ending at `first`, plus that subtree's hash unless it is the whole first tree.
fn consistency_length(first: u64, second: u64) -> usize {
    let shift = first.trailing_zeros();
    let seed = usize::from(!first.is_power_of_two());
    seed + path_length((first - 1) >> shift, (second - 1) >> shift)
}

/// The iterative step of RFC 9162 §2.1.3.2 from `seed` at node `fn_` whose tree's last node
/// is `sn`: the root the proof leads to, or `None` when its shape does not fit the tree.
fn chain_inclusion(seed: Hash, mut fn_: u64, mut sn: u64, proof: &[Hash]) -> Option<Hash> {
    let mut r = seed;
    for p in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// The iterative step of RFC 9162 §2.1.4.2 for `0 < first < second`: the first and second
/// roots the proof leads to, or `None` when its shape does not fit the trees.
fn chain_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    proof: &[Hash],
) -> Option<(Hash, Hash)> {
    // When the first tree is perfect its root is the seed, and the proof leaves it out.
    let (seed, rest) = if first.is_power_of_two() {
        (*first_root, proof)
    } else {
        let (seed, rest) = proof.split_first()?;
        (*seed, rest)
    };
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some((fr, sr))
}
