//! Export rows: an event as a CSV record (formula-protected text cells) and as a JSONL line
//! `{"leafIndex", "leafHash", "event", "inclusionProof"?}`. Pure shaping, no I/O.

use serde_json::{Value, json};

use super::log::b64;
use super::merkle::Hash;

/// The CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "id",
    "leafIndex",
    "occurredAt",
    "action",
    "actorType",
    "actorId",
    "actorName",
    "targets",
    "location",
    "userAgent",
    "metadata",
];

/// The header record, with its line end.
pub fn csv_header() -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    out
}

/// One event as a CSV record, with its line end.
pub fn csv_record(leaf_index: u64, event: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let json_cell = |v: &Value| {
        if v.is_null() {
            String::new()
        } else {
            v.to_string()
        }
    };
    let cells = [
        text(&event["id"]),
        leaf_index.to_string(),
        text(&event["occurredAt"]),
        text(&event["action"]),
        text(&event["actor"]["type"]),
        text(&event["actor"]["id"]),
        protect(&text(&event["actor"]["name"])),
        protect(&json_cell(&event["targets"])),
        protect(&text(&event["context"]["location"])),
        protect(&text(&event["context"]["userAgent"])),
        protect(&json_cell(&event["metadata"])),
    ];
    let mut out = cells.iter().map(|c| quote(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

/// A leading `'` for text a spreadsheet would read as a formula.
fn protect(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// RFC 4180 quoting, only where needed.
fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

/// One JSONL export line (without its newline).
pub fn jsonl_line(
    leaf_index: u64,
    leaf_hash: &Hash,
    event: Value,
    inclusion_proof: Option<&[Hash]>,
) -> String {
    let mut line = json!({"leafIndex": leaf_index, "leafHash": b64(leaf_hash), "event": event});
    if let Some(proof) = inclusion_proof {
        line["inclusionProof"] = proof.iter().map(b64).collect();
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formula_protected() {
        let event = json!({"id": "e1", "occurredAt": "2026-03-01T09:30:00+01:00", "action": "space.deleted",
            "actor": {"type": "user", "id": "u1", "name": "=HYPERLINK(\"x\")"},
            "targets": [{"type": "space", "id": "s1"}], "context": {"location": "internal"},
            "metadata": {"actor_type": "user"}});
        let record = csv_record(3, &event);
        assert_eq!(
            record,
            "e1,3,2026-03-01T09:30:00+01:00,space.deleted,user,u1,\"'=HYPERLINK(\"\"x\"\")\",\"[{\"\"id\"\":\"\"s1\"\",\"\"type\"\":\"\"space\"\"}]\",internal,,\"{\"\"actor_type\"\":\"\"user\"\"}\"\r\n"
        );
        assert_eq!(csv_header().split(',').count(), 11);
    }
}
