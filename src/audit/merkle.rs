//! The audit log's Merkle tree: RFC 6962 / RFC 9162 hashing over SHA-256, an append-only
//! [`Frontier`] that keeps the root in O(log n) memory and reports every perfect subtree it
//! completes (so a store can persist them), and the [`NodeSource`] through which inclusion and
//! consistency proofs are built from those stored nodes and checked (in `proof`). Pure: no I/O.

use sha2::{Digest, Sha256};

mod proof;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use proof::{
    consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion,
};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Why a proof could not be built or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    LeafOutOfRange { index: u64, size: u64 },
    /// A consistency proof was asked between a tree and a smaller one.
    #[error("tree size {first} is larger than tree size {second}")]
    SizesOutOfOrder { first: u64, second: u64 },
    /// The proof does not have the number of hashes the tree shape calls for.
    #[error("the proof has {got} hashes where a tree of this shape needs {expected}")]
    WrongLength { expected: usize, got: usize },
    /// The proof does not lead to the root hash given for a tree size.
    #[error("the proof does not lead to the root hash given for tree size {size}")]
    RootMismatch { size: u64 },
    /// The node source lacks a node the proof needs (the store is behind or damaged).
    #[error("the tree node at level {level}, index {index} is not available")]
    MissingNode { level: u32, index: u64 },
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a leaf: `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the tree over `leaves` (leaf hashes), computed by the RFC 6962 definition:
/// the obviously-correct reference that the incremental code is tested against.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The largest power of two smaller than `n`, where RFC 6962 splits a tree of `n >= 2` leaves.
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2, "only a tree of two or more leaves splits");
    1 << (63 - (n - 1).leading_zeros())
}

/// The root of a perfect subtree, named by its height and position: it covers the leaves
/// `[index * 2^level, (index + 1) * 2^level)`; level 0 holds the leaf hashes themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// Where nodes of a tree come from when building proofs: a store, or [`MemoryNodes`].
pub trait NodeSource {
    /// The hash of the perfect subtree at (`level`, `index`), if it is known. Only subtrees
    /// lying wholly inside the tree are ever asked for.
    fn node(&self, level: u32, index: u64) -> Option<Hash>;
}

/// The right edge of an append-only tree: the roots of its maximal perfect subtrees (one per
/// set bit of the size, largest first). Enough to append and to compute the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its stored nodes, asking `node`
    /// for each position [`Frontier::peak_positions`] lists.
    ///
    /// # Errors
    ///
    /// The first error `node` returns (a store failing, or lacking a node).
    pub fn from_nodes<E>(
        size: u64,
        mut node: impl FnMut(u32, u64) -> Result<Hash, E>,
    ) -> Result<Frontier, E> {
        let peaks = Frontier::peak_positions(size)
            .into_iter()
            .map(|(level, index)| node(level, index))
            .collect::<Result<_, E>>()?;
        Ok(Frontier { size, peaks })
    }

    /// The (level, index) of each maximal perfect subtree of a tree of `size` leaves, largest
    /// (leftmost) first: the nodes [`Frontier::from_nodes`] needs.
    pub fn peak_positions(size: u64) -> Vec<(u32, u64)> {
        (0..u64::BITS)
            .rev()
            .filter(|level| size >> level & 1 == 1)
            .map(|level| (level, (size >> level) - 1))
            .collect()
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash and returns the perfect subtrees this completes, from the leaf
    /// itself (level 0) upwards, for a store to keep.
    pub fn push(&mut self, leaf: Hash) -> Vec<Node> {
        let mut node = Node {
            level: 0,
            index: self.size,
            hash: leaf,
        };
        let mut completed = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        completed.push(node);
        // An odd index means a left sibling of the same level is the last peak: merge upwards.
        while node.index & 1 == 1 {
            let left = self
                .peaks
                .pop()
                .expect("invariant: one peak per set bit of size, and this bit is set");
            node = Node {
                level: node.level + 1,
                index: node.index >> 1,
                hash: node_hash(&left, &node.hash),
            };
            completed.push(node);
        }
        self.peaks.push(node.hash);
        self.size += 1;
        completed
    }

    /// The root hash of the tree so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => empty_root(),
            Some(last) => peaks.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

/// Every perfect-subtree node of a tree, kept in memory: a [`NodeSource`] for tests, for
/// offline verification of an export, and the model a store's node table follows.
#[derive(Debug, Clone, Default)]
pub struct MemoryNodes {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemoryNodes {
    /// The nodes of the tree over these leaf hashes.
    pub fn from_leaves(leaves: &[Hash]) -> MemoryNodes {
        let mut nodes = MemoryNodes::default();
        for leaf in leaves {
            nodes.push(*leaf);
        }
        nodes
    }

    /// Appends a leaf hash, keeping every node it completes.
    pub fn push(&mut self, leaf: Hash) {
        for node in self.frontier.push(leaf) {
            let level = node.level as usize;
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, node.index);
            self.levels[level].push(node.hash);
        }
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The root hash of the whole tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
}

impl NodeSource for MemoryNodes {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels.get(level as usize)?.get(index).copied()
    }
}
