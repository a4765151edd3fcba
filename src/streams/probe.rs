//! The test route's probe: one record marked `"test": true`, with action `stream.test`, sent
//! through a stream's sink now, outside the log and the cursor (object stores keep it at
//! `<prefix>/<wId>/test/<id>.jsonl.gz`).

use super::record::Item;
use super::sink::Sink;
use super::{Kind, config};
use crate::storage::streams::StoredStream;

/// Sends one test record through a stream's sink now; `None` when it was delivered, else why.
pub async fn send_test(
    stream: &StoredStream,
    settings: &config::Settings,
    allow_private: bool,
) -> Option<String> {
    let kind: Kind = match stream.kind.parse() {
        Ok(kind) => kind,
        Err(e) => return Some(e),
    };
    let sink = match Sink::new(kind, settings) {
        Ok(sink) => sink,
        Err(e) => return Some(e),
    };
    let client = match super::sink::http_client(super::sink::REQUEST_TIMEOUT, allow_private) {
        Ok(client) => client,
        Err(e) => return Some(e),
    };
    let now = jiff::Timestamp::now();
    let test_id = format!("test_{}", crate::access::random_hex(8).unwrap_or_default());
    let event = serde_json::json!({
        "id": test_id, "action": "stream.test", "occurredAt": now.to_string(),
        "actor": {"type": "system", "id": "tally", "name": "tally"},
        "targets": [{"type": "log_stream", "id": stream.id}],
        "context": {"location": "internal"}, "metadata": {"actor_type": "system"},
    });
    let item = Item {
        leaf: None,
        json: serde_json::json!({"id": test_id, "leafIndex": null, "workspaceId": stream.workspace_id, "test": true, "event": event}).to_string(),
        at: now.as_microsecond(),
    };
    let prefix = sink.prefix().map(|p| format!("{p}/")).unwrap_or_default();
    let name = format!("{prefix}{}/test/{test_id}.jsonl.gz", stream.workspace_id);
    sink.send(&client, &name, &[item]).await.reason
}
