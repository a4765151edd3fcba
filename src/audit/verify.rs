//! Verification, pure: an export checked offline (each leaf recomputed from the event's
//! canonical bytes, then the root for a whole-log export or each inclusion proof for a
//! filtered one, and the checkpoint's signature), and the pieces that check a whole store
//! (entries in leaf order against their stored hashes and tree nodes, then every stored node
//! and checkpoint against the recomputed tree). Each failure names the first bad entry.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use serde_json::value::RawValue;

use super::canonical::canonical_bytes;
use super::merkle::{
    Hash, MemoryNodes, Node, NodeSource, leaf_hash, tree_root, verify_consistency, verify_inclusion,
};
use super::note::{Checkpoint, Verifier, open_checkpoint};
use crate::storage::audit::{AuditEntry, StoredCheckpoint};

/// What failed to verify, naming the entry when one can be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub leaf_index: Option<u64>,
    pub event_id: Option<String>,
    pub reason: String,
}

impl Problem {
    fn at(leaf_index: u64, event_id: Option<&str>, reason: impl Into<String>) -> Problem {
        Problem {
            leaf_index: Some(leaf_index),
            event_id: event_id.map(str::to_string),
            reason: reason.into(),
        }
    }

    fn general(reason: impl Into<String>) -> Problem {
        Problem {
            leaf_index: None,
            event_id: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.leaf_index, &self.event_id) {
            (Some(leaf), Some(id)) => write!(f, "leaf {leaf} (event {id}): {}", self.reason),
            (Some(leaf), None) => write!(f, "leaf {leaf}: {}", self.reason),
            _ => f.write_str(&self.reason),
        }
    }
}

/// What a verified export covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub checkpoint: Checkpoint,
    pub entries: u64,
    pub whole_log: bool,
}

/// Reads a saved checkpoint: the checkpoint route's JSON (its `note`) or the note text itself.
///
/// # Errors
/// When the signature or the note does not verify with `verifiers`.
pub fn open_saved_checkpoint(text: &str, verifiers: &[Verifier]) -> Result<Checkpoint, Problem> {
    let note = match serde_json::from_str::<Value>(text) {
        Ok(json) => json
            .get("note")
            .or_else(|| json.get("checkpoint").and_then(|c| c.get("note")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Problem::general("the saved checkpoint JSON has no \"note\""))?,
        Err(_) => text.to_string(),
    };
    open_checkpoint(&note, verifiers)
        .map_err(|e| Problem::general(format!("the saved checkpoint does not verify: {e}")))
}

/// Verifies a JSONL export against the verifier keys, and, when `saved` is given, that the log
/// it came from extends that earlier checkpoint.
///
/// # Errors
/// The first problem found.
pub fn verify_export(
    text: &str,
    verifiers: &[Verifier],
    saved: Option<&Checkpoint>,
) -> Result<ExportSummary, Problem> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .next()
        .ok_or_else(|| Problem::general("the export is empty"))?;
    let checkpoint = export_checkpoint(first, verifiers)?;
    // A filtered export says so, so that one matching nothing is not taken for an emptied log.
    let filtered = serde_json::from_str::<Value>(first)
        .is_ok_and(|json| json["wholeLog"] == Value::Bool(false));
    let mut leaves = Vec::new();
    let whole_log = !filtered;
    let mut entries = 0;
    let lines: Vec<&str> = lines.collect();
    for (i, parsed) in parse_entries(&lines).into_iter().enumerate() {
        let (index, hash, proof) = parsed?;
        // The event id is read again only to name a problem.
        let at = |reason: String| Problem::at(index, event_id(lines[i]).as_deref(), reason);
        if index >= checkpoint.tree_size {
            return Err(at(format!(
                "is beyond the checkpoint's tree size {}",
                checkpoint.tree_size
            )));
        }
        match proof {
            Some(proof) => verify_inclusion(
                &hash,
                index,
                checkpoint.tree_size,
                &proof,
                &checkpoint.root_hash,
            )
            .map_err(|e| at(format!("inclusion proof fails: {e}")))?,
            None if !whole_log => {
                return Err(at(
                    "a line of a filtered export lacks its inclusionProof".into()
                ));
            }
            None => {}
        }
        if whole_log {
            if index != leaves.len() as u64 {
                return Err(Problem::at(
                    leaves.len() as u64,
                    None,
                    format!(
                        "is missing or out of order: the next line holds leaf {index}{}",
                        event_id(lines[i])
                            .map(|e| format!(" (event {e})"))
                            .unwrap_or_default()
                    ),
                ));
            }
            leaves.push(hash);
        }
        entries += 1;
    }
    if whole_log {
        check_whole_log(&leaves, &checkpoint, saved)?;
    } else if saved.is_some() {
        return Err(Problem::general(
            "a consistency check with a saved checkpoint needs a whole-log export (no filters)",
        ));
    }
    Ok(ExportSummary {
        checkpoint,
        entries,
        whole_log,
    })
}

fn check_whole_log(
    leaves: &[Hash],
    checkpoint: &Checkpoint,
    saved: Option<&Checkpoint>,
) -> Result<(), Problem> {
    if leaves.len() as u64 != checkpoint.tree_size {
        return Err(Problem::at(
            leaves.len() as u64,
            None,
            format!(
                "is missing: the export ends after {} entries but its checkpoint covers {}",
                leaves.len(),
                checkpoint.tree_size
            ),
        ));
    }
    let nodes = MemoryNodes::from_leaves(leaves);
    if nodes.root() != checkpoint.root_hash {
        return Err(Problem::general(
            "the entries do not lead to the checkpoint's root hash: the export was altered",
        ));
    }
    if let Some(saved) = saved {
        check_saved(&nodes, saved)?;
    }
    Ok(())
}

/// Checks that the tree in `nodes` extends the saved checkpoint.
///
/// # Errors
/// When the saved checkpoint is of a larger tree, or its root is not the tree's at its size.
pub fn check_saved(nodes: &MemoryNodes, saved: &Checkpoint) -> Result<(), Problem> {
    let size = nodes.size();
    if saved.tree_size > size {
        return Err(Problem::general(format!(
            "the saved checkpoint covers {} entries but the log holds {size}: entries were removed",
            saved.tree_size
        )));
    }
    let root = tree_root(nodes, saved.tree_size).map_err(|e| Problem::general(e.to_string()))?;
    // The consistency proof between the two sizes, built and checked as any auditor would.
    let now = tree_root(nodes, size).map_err(|e| Problem::general(e.to_string()))?;
    let proof = super::merkle::consistency_proof(nodes, saved.tree_size, size)
        .map_err(|e| Problem::general(e.to_string()))?;
    if root != saved.root_hash
        || verify_consistency(saved.tree_size, size, &saved.root_hash, &now, &proof).is_err()
    {
        return Err(Problem::general(format!(
            "the log is not consistent with the saved checkpoint of tree size {}: entries before leaf {} were rewritten",
            saved.tree_size, saved.tree_size
        )));
    }
    Ok(())
}

fn export_checkpoint(line: &str, verifiers: &[Verifier]) -> Result<Checkpoint, Problem> {
    let json: Value = serde_json::from_str(line)
        .map_err(|e| Problem::general(format!("the first line is not JSON: {e}")))?;
    let object = &json["checkpoint"];
    let note = object["note"].as_str().ok_or_else(|| {
        Problem::general("the first line must be {\"checkpoint\": {..., \"note\"}}")
    })?;
    let checkpoint = open_checkpoint(note, verifiers)
        .map_err(|e| Problem::general(format!("the checkpoint does not verify: {e}")))?;
    let agrees = object["treeSize"].as_u64() == Some(checkpoint.tree_size)
        && object["rootHash"].as_str() == Some(&BASE64.encode(checkpoint.root_hash))
        && object["origin"].as_str() == Some(&checkpoint.origin);
    if !agrees {
        return Err(Problem::general(
            "the checkpoint's fields do not match its signed note",
        ));
    }
    Ok(checkpoint)
}

/// A line's leaf index, leaf hash and inclusion proof.
type ExportEntry = (u64, Hash, Option<Vec<Hash>>);

/// Parses and hashes the entry lines on every core, keeping their order (so the first problem
/// reported is the first in the file).
fn parse_entries(lines: &[&str]) -> Vec<Result<ExportEntry, Problem>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = lines.len().div_ceil(threads).max(1024);
    std::thread::scope(|scope| {
        let workers: Vec<_> = lines
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, line)| export_entry(line, c * chunk + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .expect("invariant: parsing an entry does not panic")
            })
            .collect()
    })
}

fn export_entry(line: &str, n: usize) -> Result<ExportEntry, Problem> {
    match canonical_entry(line) {
        Some(entry) => Ok(entry),
        None => parsed_entry(line, n),
    }
}

/// An export line as written, its event left as text.
#[derive(serde::Deserialize)]
struct LineParts<'a> {
    #[serde(rename = "leafIndex")]
    leaf_index: u64,
    #[serde(rename = "leafHash", borrow)]
    leaf_hash: Cow<'a, str>,
    #[serde(borrow)]
    event: &'a RawValue,
    #[serde(rename = "inclusionProof", borrow, default)]
    inclusion_proof: Option<Vec<Cow<'a, str>>>,
}

#[derive(serde::Deserialize)]
struct LineEvent<'a> {
    #[serde(borrow)]
    event: EventId<'a>,
}

#[derive(serde::Deserialize)]
struct EventId<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// The id of a line's event, when it has one.
fn event_id(line: &str) -> Option<String> {
    let parsed: LineEvent = serde_json::from_str(line).ok()?;
    Some(parsed.event.id.into_owned())
}

/// The common case, read without building the event: the export writes each event as its
/// canonical bytes, so when the event's text itself hashes to the stated leaf hash, it is the
/// canonical form the leaf committed to (SHA-256 being collision resistant, as the whole tree
/// assumes), and canonicalizing it again would give the same bytes. Anything else (another
/// serialization of the event, a bad field, an altered event) is `None`, for [`parsed_entry`]
/// to check in full and name.
fn canonical_entry(line: &str) -> Option<ExportEntry> {
    let parts: LineParts = serde_json::from_str(line).ok()?;
    let stated = decode_hash(&parts.leaf_hash)?;
    let event = parts.event.get();
    let hash = leaf_hash(event.as_bytes());
    if hash != stated {
        return None;
    }
    let proof = match &parts.inclusion_proof {
        None => None,
        Some(items) => Some(
            items
                .iter()
                .map(|h| decode_hash(h))
                .collect::<Option<Vec<Hash>>>()?,
        ),
    };
    Some((parts.leaf_index, hash, proof))
}

/// A line read in full: the event parsed and canonicalized, every problem named.
fn parsed_entry(line: &str, n: usize) -> Result<ExportEntry, Problem> {
    let json: Value = serde_json::from_str(line)
        .map_err(|e| Problem::general(format!("line {} is not JSON: {e}", n + 2)))?;
    let index = json["leafIndex"]
        .as_u64()
        .ok_or_else(|| Problem::general(format!("line {} has no leafIndex", n + 2)))?;
    let event = &json["event"];
    let event_id = event["id"].as_str().map(str::to_string);
    let id = event_id.as_deref();
    let stated = json["leafHash"]
        .as_str()
        .and_then(decode_hash)
        .ok_or_else(|| Problem::at(index, id, "has no base64 leafHash"))?;
    let bytes = canonical_bytes(event)
        .map_err(|e| Problem::at(index, id, format!("the event has no canonical form: {e}")))?;
    let hash = leaf_hash(&bytes);
    if hash != stated {
        return Err(Problem::at(
            index,
            id,
            "the event does not hash to its leafHash: it was altered",
        ));
    }
    let proof = match &json["inclusionProof"] {
        Value::Null => None,
        Value::Array(items) => Some(
            items
                .iter()
                .map(|h| h.as_str().and_then(decode_hash))
                .collect::<Option<Vec<Hash>>>()
                .ok_or_else(|| Problem::at(index, id, "inclusionProof holds a non-hash"))?,
        ),
        _ => return Err(Problem::at(index, id, "inclusionProof must be an array")),
    };
    Ok((index, hash, proof))
}

fn decode_hash(b64: &str) -> Option<Hash> {
    BASE64.decode(b64).ok()?.try_into().ok()
}

/// Checks a store's entries as they are read in leaf order, rebuilding the tree.
#[derive(Debug, Default)]
pub struct StoreChecker {
    nodes: MemoryNodes,
}

impl StoreChecker {
    pub fn new() -> StoreChecker {
        StoreChecker::default()
    }

    /// Checks the next entry: that it is the expected leaf, that its stored bytes are the
    /// canonical form of its event, that they hash to its stored leaf hash, and that this is
    /// the leaf node the tree stored (`stored_leaf`).
    ///
    /// # Errors
    /// The problem, naming the leaf.
    pub fn entry(&mut self, entry: &AuditEntry, stored_leaf: Option<Hash>) -> Result<(), Problem> {
        let expected = self.nodes.size();
        let id = Some(entry.event_id.as_str());
        if entry.leaf_index != expected {
            return Err(Problem::at(
                expected,
                None,
                format!(
                    "is missing or out of place: the next stored entry is leaf {} (event {})",
                    entry.leaf_index, entry.event_id
                ),
            ));
        }
        let event: Value = serde_json::from_slice(&entry.canonical)
            .map_err(|_| Problem::at(expected, id, "the stored event is not JSON"))?;
        if canonical_bytes(&event).ok().as_deref() != Some(entry.canonical.as_slice()) {
            return Err(Problem::at(
                expected,
                id,
                "the stored bytes are not the event's canonical form",
            ));
        }
        if event["id"].as_str() != id {
            return Err(Problem::at(
                expected,
                id,
                "the stored event carries another id",
            ));
        }
        let hash = leaf_hash(&entry.canonical);
        if hash != entry.leaf_hash {
            return Err(Problem::at(
                expected,
                id,
                "the event does not hash to its stored leaf hash: it was altered",
            ));
        }
        match stored_leaf {
            None => {
                return Err(Problem::at(
                    expected,
                    id,
                    "the tree holds no such leaf: the entry was inserted",
                ));
            }
            Some(stored) if stored != hash => {
                return Err(Problem::at(
                    expected,
                    id,
                    "the tree holds another leaf here: the entry was replaced or moved",
                ));
            }
            Some(_) => {}
        }
        self.nodes.push(hash);
        Ok(())
    }

    /// How many entries were checked.
    pub fn size(&self) -> u64 {
        self.nodes.size()
    }

    /// The tree rebuilt from the checked entries.
    pub fn nodes(&self) -> &MemoryNodes {
        &self.nodes
    }

    /// Checks the stored tree size against the entries read.
    ///
    /// # Errors
    /// When they differ.
    pub fn head(&self, stored_size: u64) -> Result<(), Problem> {
        match stored_size.cmp(&self.size()) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => Err(Problem::at(
                self.size(),
                None,
                format!(
                    "is missing: the log's size is {stored_size} but entries end at leaf {}",
                    self.size()
                ),
            )),
            std::cmp::Ordering::Less => Err(Problem::at(
                stored_size,
                None,
                format!("is beyond the log's size {stored_size}: entries were inserted"),
            )),
        }
    }

    /// Checks a stored interior node against the rebuilt tree.
    ///
    /// # Errors
    /// When it differs or lies outside the tree, naming the first leaf it covers.
    pub fn node(&self, node: &Node) -> Result<(), Problem> {
        let first = node.index << node.level;
        match self.nodes.node(node.level, node.index) {
            Some(hash) if hash == node.hash => Ok(()),
            Some(_) => Err(Problem::at(
                first,
                None,
                format!(
                    "the stored tree node ({}, {}) over leaves {first}..{} does not match the entries",
                    node.level,
                    node.index,
                    first + (1 << node.level)
                ),
            )),
            None => Err(Problem::at(
                first,
                None,
                format!(
                    "the stored tree node ({}, {}) lies outside the tree",
                    node.level, node.index
                ),
            )),
        }
    }

    /// How many nodes the rebuilt tree has (each stored once).
    pub fn node_count(&self) -> u64 {
        let size = self.size();
        (0..64).map(|level| size >> level).sum()
    }

    /// Checks a stored checkpoint: its signature by one of `verifiers`, that its note agrees
    /// with the stored columns, and that its root is the rebuilt tree's at its size.
    ///
    /// # Errors
    /// The problem.
    pub fn checkpoint(
        &self,
        c: &StoredCheckpoint,
        verifiers: &[Verifier],
    ) -> Result<Checkpoint, Problem> {
        let size = c.tree_size;
        let opened = open_checkpoint(&c.note, verifiers).map_err(|e| {
            Problem::general(format!(
                "the checkpoint of tree size {size} does not verify: {e}"
            ))
        })?;
        if opened.tree_size != size || opened.root_hash != c.root_hash {
            return Err(Problem::general(format!(
                "the stored checkpoint of tree size {size} does not match its signed note"
            )));
        }
        if size > self.size() {
            return Err(Problem::at(
                self.size(),
                None,
                format!(
                    "is missing: a checkpoint covers {size} entries but the log holds {}",
                    self.size()
                ),
            ));
        }
        let root = tree_root(&self.nodes, size).map_err(|e| Problem::general(e.to_string()))?;
        if root != c.root_hash {
            return Err(Problem::general(format!(
                "the entries do not lead to the signed root of tree size {size}: entries before leaf {size} were rewritten"
            )));
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::export::jsonl_line;
    use crate::audit::merkle::inclusion_proof;
    use crate::audit::note::{Signer, sign_checkpoint};
    use serde_json::json;

    fn export(events: &[Value], signer: &Signer, filtered: bool) -> String {
        let hashes: Vec<Hash> = events
            .iter()
            .map(|e| leaf_hash(&canonical_bytes(e).unwrap()))
            .collect();
        let nodes = MemoryNodes::from_leaves(&hashes);
        let checkpoint = Checkpoint {
            origin: signer.name().into(),
            tree_size: hashes.len() as u64,
            root_hash: nodes.root(),
            timestamp: 1_790_000_000,
        };
        let note = sign_checkpoint(signer, &checkpoint).unwrap();
        let mut out = json!({"checkpoint": {"origin": signer.name(), "treeSize": hashes.len(),
            "rootHash": BASE64.encode(nodes.root()), "timestamp": 1_790_000_000, "note": note},
            "wholeLog": !filtered})
        .to_string();
        for (i, event) in events.iter().enumerate() {
            if filtered && i % 2 == 1 {
                continue;
            }
            let proof = filtered.then(|| inclusion_proof(&nodes, i as u64, nodes.size()).unwrap());
            out.push('\n');
            out.push_str(&jsonl_line(
                i as u64,
                &hashes[i],
                event.clone(),
                proof.as_deref(),
            ));
        }
        out
    }

    fn events(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"id": format!("e{i}"), "action": "a.b", "metadata": {"n": i}}))
            .collect()
    }

    #[test]
    fn whole_and_filtered_exports_verify_and_alterations_are_named() {
        let signer = Signer::generate("example.com/w/acme").unwrap();
        let keys = [signer.verifier()];
        for filtered in [false, true] {
            let text = export(&events(9), &signer, filtered);
            let summary = verify_export(&text, &keys, None).unwrap();
            assert_eq!(summary.whole_log, !filtered);
            let altered = text.replace("\"n\":4", "\"n\":40");
            let problem = verify_export(&altered, &keys, None).unwrap_err();
            assert_eq!(problem.leaf_index, Some(4), "{problem}");
            assert_eq!(problem.event_id.as_deref(), Some("e4"));
        }
        let other = Signer::generate("example.com/w/acme").unwrap();
        let text = export(&events(3), &signer, false);
        assert!(verify_export(&text, &[other.verifier()], None).is_err());
    }

    #[test]
    fn an_event_written_in_another_key_order_is_canonicalized_and_verifies() {
        let signer = Signer::generate("example.com/w/acme").unwrap();
        let keys = [signer.verifier()];
        for filtered in [false, true] {
            let text = export(&events(5), &signer, filtered);
            let reordered = text.replace(
                "{\"action\":\"a.b\",\"id\":\"e2\",\"metadata\":{\"n\":2}}",
                "{ \"metadata\": {\"n\": 2}, \"id\": \"e2\", \"action\": \"a.b\" }",
            );
            assert_ne!(reordered, text);
            let summary = verify_export(&reordered, &keys, None).unwrap();
            assert_eq!(summary.entries, if filtered { 3 } else { 5 });
            let altered = reordered.replace("\"n\": 2", "\"n\": 3");
            let problem = verify_export(&altered, &keys, None).unwrap_err();
            assert_eq!(problem.leaf_index, Some(2), "{problem}");
            assert_eq!(problem.event_id.as_deref(), Some("e2"));
        }
    }

    #[test]
    fn a_line_whose_inclusion_proof_fails_is_named_with_its_event() {
        let signer = Signer::generate("example.com/w/acme").unwrap();
        let text = export(&events(9), &signer, true);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut line: Value = serde_json::from_str(&lines[3]).unwrap();
        line["inclusionProof"][0] = json!(BASE64.encode([7u8; 32]));
        lines[3] = line.to_string();
        let problem = verify_export(&lines.join("\n"), &[signer.verifier()], None).unwrap_err();
        assert_eq!(problem.leaf_index, Some(4), "{problem}");
        assert_eq!(problem.event_id.as_deref(), Some("e4"));
        assert!(
            problem.reason.starts_with("inclusion proof fails"),
            "{problem}"
        );
    }

    #[test]
    fn a_line_read_as_text_agrees_with_the_line_read_in_full() {
        let signer = Signer::generate("example.com/w/acme").unwrap();
        for filtered in [false, true] {
            let text = export(&events(9), &signer, filtered);
            for (n, line) in text.lines().skip(1).enumerate() {
                let fast = canonical_entry(line).expect("the export's own lines are canonical");
                assert_eq!(Ok(fast), parsed_entry(line, n));
            }
        }
        let line = "{\"leafIndex\":-1,\"leafHash\":\"x\",\"event\":{}}";
        assert_eq!(canonical_entry(line), None);
        assert!(parsed_entry(line, 0).is_err());
    }

    #[test]
    fn a_dropped_line_of_a_whole_log_export_is_named() {
        let signer = Signer::generate("example.com/w/acme").unwrap();
        let text = export(&events(5), &signer, false);
        let dropped: Vec<&str> = text.lines().filter(|l| !l.contains("\"e2\"")).collect();
        let problem = verify_export(&dropped.join("\n"), &[signer.verifier()], None).unwrap_err();
        assert_eq!(problem.leaf_index, Some(2), "{problem}");
        assert!(problem.reason.contains("leaf 3 (event e3)"), "{problem}");
    }

    #[test]
    fn a_saved_checkpoint_catches_a_rewritten_history() {
        let signer = Signer::generate("example.com/w/acme").unwrap();
        let keys = [signer.verifier()];
        let first = export(&events(4), &signer, false);
        let saved = export_checkpoint(first.lines().next().unwrap(), &keys).unwrap();
        let grown = export(&events(7), &signer, false);
        assert!(verify_export(&grown, &keys, Some(&saved)).is_ok());
        let mut rewritten = events(7);
        rewritten[1]["metadata"]["n"] = json!(100);
        let rewritten = export(&rewritten, &signer, false);
        assert!(verify_export(&rewritten, &keys, None).is_ok());
        assert!(verify_export(&rewritten, &keys, Some(&saved)).is_err());
    }
}
