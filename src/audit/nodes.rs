//! Fetching just the tree nodes a proof needs: the proof builders ask a [`NodeSource`] for
//! positions that depend only on the tree's shape, never on hash values, so a dry run with a
//! [`Recorder`] lists them, a store reads them in one query, and the real run uses a [`NodeMap`].

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use super::merkle::{Hash, Node, NodeSource};

/// A node source that answers a placeholder for every node and remembers which were asked.
#[derive(Debug, Default)]
pub struct Recorder(RefCell<BTreeSet<(u32, u64)>>);

impl NodeSource for Recorder {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.0.borrow_mut().insert((level, index));
        Some([0; 32])
    }
}

/// The positions `build` asks its node source for.
pub fn needed<T>(build: impl FnOnce(&dyn NodeSource) -> T) -> Vec<(u32, u64)> {
    let recorder = Recorder::default();
    build(&recorder);
    recorder.0.into_inner().into_iter().collect()
}

/// Nodes read from a store, by position.
#[derive(Debug, Clone, Default)]
pub struct NodeMap(HashMap<(u32, u64), Hash>);

impl NodeMap {
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> NodeMap {
        NodeMap(
            nodes
                .into_iter()
                .map(|n| ((n.level, n.index), n.hash))
                .collect(),
        )
    }
}

impl NodeSource for NodeMap {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.0.get(&(level, index)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::merkle::{MemoryNodes, inclusion_proof, leaf_hash};

    #[test]
    fn a_proof_built_from_the_needed_nodes_alone_matches() {
        let leaves: Vec<Hash> = (0u32..37).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let all = MemoryNodes::from_leaves(&leaves);
        let positions = needed(|src| inclusion_proof(src, 5, 30));
        let map = NodeMap::new(positions.iter().map(|&(level, index)| Node {
            level,
            index,
            hash: all.node(level, index).unwrap(),
        }));
        assert_eq!(
            inclusion_proof(&map, 5, 30).unwrap(),
            inclusion_proof(&all, 5, 30).unwrap()
        );
    }
}
