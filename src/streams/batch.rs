//! A batch: the entries read after a stream's cursor, in leaf order, with each checkpoint the
//! stream has not delivered placed right after the record that completes its tree (a
//! checkpoint of a tree already delivered goes first), and where the batch leaves the cursors.

use super::record::{self, Item, Unreadable};
use crate::storage::audit::{AuditEntry, StoredCheckpoint};

/// What one attempt sends and where success leaves the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub items: Vec<Item>,
    /// Records (not checkpoints) in the batch.
    pub records: u64,
    /// The next leaf after the batch.
    pub cursor: u64,
    /// The tree size of the last checkpoint in the batch, or the stream's.
    pub checkpoint_cursor: u64,
}

/// The batch of `entries` (consecutive leaves from `cursor`) and of the `checkpoints` (by tree
/// size) the stream has not delivered; `None` when there is nothing to send.
///
/// # Errors
/// When an entry's stored bytes are not UTF-8.
pub fn assemble(
    workspace: &str,
    cursor: u64,
    checkpoint_cursor: u64,
    entries: &[AuditEntry],
    checkpoints: &[StoredCheckpoint],
) -> Result<Option<Batch>, Unreadable> {
    let next = entries.last().map_or(cursor, |e| e.leaf_index + 1);
    let due: Vec<&StoredCheckpoint> = checkpoints
        .iter()
        .filter(|c| c.tree_size > checkpoint_cursor && c.tree_size <= next)
        .collect();
    if entries.is_empty() && due.is_empty() {
        return Ok(None);
    }
    let mut items = Vec::with_capacity(entries.len() + due.len());
    let mut pending = due.iter().peekable();
    while let Some(c) = pending.next_if(|c| c.tree_size <= cursor) {
        items.push(record::checkpoint(workspace, c));
    }
    for entry in entries {
        items.push(record::record(workspace, entry)?);
        while let Some(c) = pending.next_if(|c| c.tree_size <= entry.leaf_index + 1) {
            items.push(record::checkpoint(workspace, c));
        }
    }
    Ok(Some(Batch {
        items,
        records: entries.len() as u64,
        cursor: next,
        checkpoint_cursor: due.last().map_or(checkpoint_cursor, |c| c.tree_size),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(leaf: u64) -> AuditEntry {
        AuditEntry {
            leaf_index: leaf,
            event_id: format!("e{leaf}"),
            occurred_at: 0,
            canonical: b"{}".to_vec(),
            leaf_hash: [0; 32],
        }
    }

    fn checkpoint(size: u64) -> StoredCheckpoint {
        StoredCheckpoint {
            tree_size: size,
            root_hash: [0; 32],
            timestamp: 1,
            key_id: "00000000".into(),
            note: format!("o\n{size}\n"),
        }
    }

    /// Each item as `r<leaf>` or `c<tree size>`.
    fn shape(batch: &Batch) -> Vec<String> {
        batch
            .items
            .iter()
            .map(|i| match i.leaf {
                Some(leaf) => format!("r{leaf}"),
                None => {
                    let v: serde_json::Value = serde_json::from_str(&i.json).unwrap();
                    format!("c{}", v["checkpoint"]["treeSize"])
                }
            })
            .collect()
    }

    #[test]
    fn checkpoints_follow_the_record_that_completes_their_tree() {
        let entries: Vec<AuditEntry> = (4..8).map(entry).collect();
        let checkpoints: Vec<StoredCheckpoint> = [2, 4, 5, 7, 9].map(checkpoint).to_vec();
        let batch = assemble("acme", 4, 2, &entries, &checkpoints)
            .unwrap()
            .unwrap();
        assert_eq!(shape(&batch), ["c4", "r4", "c5", "r5", "r6", "c7", "r7"]);
        assert_eq!(
            (batch.records, batch.cursor, batch.checkpoint_cursor),
            (4, 8, 7)
        );
    }

    #[test]
    fn a_lone_checkpoint_is_a_batch_and_nothing_new_is_none() {
        let batch = assemble("acme", 9, 7, &[], &[checkpoint(9)])
            .unwrap()
            .unwrap();
        assert_eq!(shape(&batch), ["c9"]);
        assert_eq!(
            (batch.records, batch.cursor, batch.checkpoint_cursor),
            (0, 9, 9)
        );
        assert_eq!(assemble("acme", 9, 9, &[], &[checkpoint(9)]).unwrap(), None);
    }
}
