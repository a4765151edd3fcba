use std::io::Read;

use serde_json::{Value, json};

use super::*;

fn entry(leaf: u64) -> AuditEntry {
    let event = json!({"id": format!("e{leaf}"), "action": "space.deleted", "occurredAt": "2026-12-01T10:00:00Z"});
    AuditEntry {
        leaf_index: leaf,
        event_id: format!("e{leaf}"),
        occurred_at: 1_796_119_200_000_000 + leaf as i64,
        canonical: event.to_string().into_bytes(),
        leaf_hash: [0; 32],
    }
}

fn items(n: u64) -> Vec<Item> {
    (0..n).map(|i| record("acme", &entry(i)).unwrap()).collect()
}

#[test]
fn a_record_carries_id_leaf_workspace_and_the_stored_event() {
    let item = record("acme", &entry(7)).unwrap();
    let v: Value = serde_json::from_str(&item.json).unwrap();
    assert_eq!(v["id"], "e7");
    assert_eq!(v["leafIndex"], 7);
    assert_eq!(v["workspaceId"], "acme");
    assert_eq!(v["event"]["action"], "space.deleted");
    assert_eq!(item.leaf, Some(7));
    let mut bad = entry(1);
    bad.canonical = vec![0xff, 0xfe];
    assert!(record("acme", &bad).is_err());
}

#[test]
fn a_checkpoint_record_is_shaped_as_the_checkpoint_route() {
    let c = StoredCheckpoint {
        tree_size: 3,
        root_hash: [1; 32],
        timestamp: 1_790_000_000,
        key_id: "abcd1234".into(),
        note: "tally.example/w/acme\n3\nAQEB\n".into(),
    };
    let item = checkpoint("acme", &c);
    let v: Value = serde_json::from_str(&item.json).unwrap();
    assert_eq!(v["workspaceId"], "acme");
    assert_eq!(v["checkpoint"], checkpoint_json(&c));
    assert_eq!(item.leaf, None);
    assert_eq!(item.at, 1_790_000_000_000_000);
}

#[test]
fn webhook_and_splunk_bodies() {
    let body: Value = serde_json::from_slice(&webhook_body(&items(3))).unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), 3);
    assert_eq!(body["records"][2]["leafIndex"], 2);
    let text = String::from_utf8(splunk_body(
        &items(2),
        &SplunkFields {
            index: Some("sec".into()),
            sourcetype: None,
        },
    ))
    .unwrap();
    let events: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["source"], "tally");
    assert_eq!(events[1]["sourcetype"], "tally:audit");
    assert_eq!(events[1]["index"], "sec");
    assert_eq!(events[1]["event"]["leafIndex"], 1);
    assert_eq!(events[1]["time"].as_f64().unwrap(), 1_796_119_200.000_001);
}

#[test]
fn datadog_bodies_keep_to_the_intake_limits_in_order() {
    let bodies = datadog_bodies(&items(2_500));
    assert_eq!(bodies.len(), 3);
    let mut leaves = Vec::new();
    for body in &bodies {
        let entries: Vec<Value> = serde_json::from_slice(body).unwrap();
        assert!(entries.len() <= DATADOG_MAX_ENTRIES);
        for e in entries {
            assert_eq!(e["ddsource"], "tally");
            assert_eq!(e["service"], "tally");
            let record: Value = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
            leaves.push(record["leafIndex"].as_u64().unwrap());
        }
    }
    assert_eq!(leaves, (0..2_500).collect::<Vec<_>>());
    let mut big = items(1)[0].clone();
    big.json = format!("\"{}\"", "x".repeat(1_500_000));
    let bodies = datadog_bodies(&vec![big; 7]);
    assert!(bodies.iter().all(|b| b.len() <= DATADOG_MAX_BYTES));
    assert_eq!(bodies.len(), 3);
}

#[test]
fn objects_are_gzip_jsonl_named_by_date_and_leaves() {
    let now = jiff::Timestamp::from_second(1_796_119_200).unwrap(); // 2026-12-01
    let batch = items(3);
    assert_eq!(
        object_name(Some("siem/tally"), "acme", &batch[1..], 1, now),
        "siem/tally/acme/2026/12/01/00000000000000000001-00000000000000000002.jsonl.gz"
    );
    assert_eq!(
        object_name(None, "acme", &batch, 0, now),
        "acme/2026/12/01/00000000000000000000-00000000000000000002.jsonl.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&jsonl_gz(&batch)[..])
        .read_to_string(&mut text)
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["leafIndex"], 0);
}
