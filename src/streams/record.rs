//! What is delivered, shaped per kind. A record is `{"id", "leafIndex", "workspaceId",
//! "event"}`, the event being its stored canonical bytes as they are (already JSON, so records
//! are written as text without re-serializing events); a checkpoint is `{"workspaceId",
//! "checkpoint"}` shaped as the checkpoint route answers. Bodies: the webhook's `{"records":
//! [...]}`, Splunk HEC events concatenated, Datadog intake entries (gzip), and gzip JSONL
//! objects for S3 and GCS.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::audit::log::checkpoint_json;
use crate::storage::audit::{AuditEntry, StoredCheckpoint};

/// One thing to deliver, already serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The leaf of a record; `None` for a checkpoint.
    pub leaf: Option<u64>,
    /// The record's JSON text.
    pub json: String,
    /// The event's (or checkpoint's) instant, microseconds since the epoch.
    pub at: i64,
}

/// Why an entry cannot be delivered: its stored bytes are not the JSON the log committed to.
#[derive(Debug, thiserror::Error)]
#[error("audit entry {leaf} cannot be delivered: its stored event is not UTF-8 JSON")]
pub struct Unreadable {
    pub leaf: u64,
}

/// The record of a stored entry.
///
/// # Errors
/// When the stored bytes are not UTF-8 (a corrupt store).
pub fn record(workspace: &str, entry: &AuditEntry) -> Result<Item, Unreadable> {
    let event = std::str::from_utf8(&entry.canonical).map_err(|_| Unreadable {
        leaf: entry.leaf_index,
    })?;
    let json = format!(
        "{{\"id\":{},\"leafIndex\":{},\"workspaceId\":{},\"event\":{event}}}",
        Value::String(entry.event_id.clone()),
        entry.leaf_index,
        Value::String(workspace.to_string()),
    );
    Ok(Item {
        leaf: Some(entry.leaf_index),
        json,
        at: entry.occurred_at,
    })
}

/// The record of a signed checkpoint.
pub fn checkpoint(workspace: &str, c: &StoredCheckpoint) -> Item {
    let json = json!({"workspaceId": workspace, "checkpoint": checkpoint_json(c)}).to_string();
    Item {
        leaf: None,
        json,
        at: i64::try_from(c.timestamp)
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000),
    }
}

/// The webhook body: `{"records": [...]}`.
pub fn webhook_body(items: &[Item]) -> Vec<u8> {
    let mut out = String::with_capacity(items.iter().map(|i| i.json.len() + 1).sum::<usize>() + 14);
    out.push_str("{\"records\":[");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&item.json);
    }
    out.push_str("]}");
    out.into_bytes()
}

/// Splunk HEC settings an event carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplunkFields {
    pub index: Option<String>,
    pub sourcetype: Option<String>,
}

/// Splunk HEC events, concatenated: `{"time", "source": "tally", "sourcetype": "tally:audit",
/// "event": record}` each (with `index` when configured).
pub fn splunk_body(items: &[Item], fields: &SplunkFields) -> Vec<u8> {
    let sourcetype = Value::String(
        fields
            .sourcetype
            .clone()
            .unwrap_or_else(|| "tally:audit".into()),
    );
    let index = fields
        .index
        .as_ref()
        .map(|i| format!(",\"index\":{}", Value::String(i.clone())))
        .unwrap_or_default();
    let mut out = String::new();
    for item in items {
        let time = format!(
            "{}.{:06}",
            item.at.div_euclid(1_000_000),
            item.at.rem_euclid(1_000_000)
        );
        out.push_str(&format!(
            "{{\"time\":{time},\"source\":\"tally\",\"sourcetype\":{sourcetype}{index},\"event\":{}}}\n",
            item.json
        ));
    }
    out.into_bytes()
}

/// Datadog's intake limits per request: entries, and bytes before compression.
pub const DATADOG_MAX_ENTRIES: usize = 1_000;
pub const DATADOG_MAX_BYTES: usize = 5_000_000;

/// One Datadog log entry: the record as JSON text in `message`.
pub fn datadog_entry(item: &Item) -> String {
    json!({"ddsource": "tally", "service": "tally", "message": item.json}).to_string()
}

/// Datadog request bodies (JSON arrays of entries, before gzip), each within the intake's
/// limits, in order.
pub fn datadog_bodies(items: &[Item]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let mut body = String::from("[");
    let mut count = 0;
    for item in items {
        let entry = datadog_entry(item);
        if count > 0
            && (count == DATADOG_MAX_ENTRIES || body.len() + entry.len() + 2 > DATADOG_MAX_BYTES)
        {
            body.push(']');
            bodies.push(std::mem::replace(&mut body, String::from("[")).into_bytes());
            count = 0;
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&entry);
        count += 1;
    }
    if count > 0 {
        body.push(']');
        bodies.push(body.into_bytes());
    }
    bodies
}

/// Gzip of `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// An object's JSONL (one record a line), gzipped.
pub fn jsonl_gz(items: &[Item]) -> Vec<u8> {
    let mut text = String::with_capacity(items.iter().map(|i| i.json.len() + 1).sum());
    for item in items {
        text.push_str(&item.json);
        text.push('\n');
    }
    gzip(text.as_bytes())
}

/// An object's name: `<prefix>/<wId>/<YYYY>/<MM>/<DD>/<first leaf>-<last leaf>.jsonl.gz`
/// (leaves as 20 digits, the date of delivery in UTC). A batch of checkpoints alone is named
/// by the tree size they follow, `<cursor>-<cursor>` with a `.checkpoint` mark.
pub fn object_name(
    prefix: Option<&str>,
    workspace: &str,
    items: &[Item],
    cursor: u64,
    now: jiff::Timestamp,
) -> String {
    let date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let leaves: Vec<u64> = items.iter().filter_map(|i| i.leaf).collect();
    let name = match (leaves.first(), leaves.last()) {
        (Some(first), Some(last)) => format!("{first:020}-{last:020}.jsonl.gz"),
        _ => format!("{cursor:020}-{cursor:020}.checkpoint.jsonl.gz"),
    };
    let dir = format!(
        "{workspace}/{:04}/{:02}/{:02}",
        date.year(),
        date.month(),
        date.day()
    );
    match prefix {
        Some(p) if !p.is_empty() => format!("{p}/{dir}/{name}"),
        _ => format!("{dir}/{name}"),
    }
}

#[cfg(test)]
mod tests;
