use super::directory::{DirValue, DirectoryKind, missing_required, validate_records};
use super::*;
use serde_json::json;

const NOW: i64 = 1_790_000_000_000_000; // 2026-09-21

fn message(id: &str) -> Value {
    json!({"type": "message", "id": id, "occurredAt": "2026-03-01T09:30:00+01:00",
           "conversationId": "c1", "userId": "u1", "agentId": "a1", "source": "web",
           "tokensIn": 10, "tokensOut": 20, "cost": 0.0125})
}

#[test]
fn a_valid_batch_is_typed_and_split_by_event_type() {
    let events = vec![
        message("m1"),
        json!({"type": "tool_execution", "id": "t1", "occurredAt": "2026-03-01T08:30:00Z",
               "tool": "web_search", "messageId": "m1"}),
        json!({"type": "skill_execution", "id": "s1", "occurredAt": "2026-03-01T08:30:00Z",
               "skill": "Summarize", "status": "failed"}),
        json!({"type": "workflow_run", "id": "w1", "occurredAt": "2026-03-01T08:30:00Z",
               "workflowId": "wf", "status": "succeeded"}),
    ];
    let batch = validate_batch(&events, NOW).unwrap();
    assert_eq!(batch.len(), 4);
    let m = &batch.messages[0];
    assert_eq!(m.occurred_at, 1_772_353_800_000_000);
    assert_eq!(m.cost_micros, Some(12_500));
    assert_eq!(m.user_id.as_deref(), Some("u1"));
    assert_eq!(batch.tool_executions[0].status.as_str(), "succeeded");
    assert_eq!(batch.skill_executions[0].name, "Summarize");
    assert_eq!(batch.skill_executions[0].status.as_str(), "failed");
}

#[test]
fn every_bad_field_of_every_event_is_reported() {
    let mut bad = message("m2");
    bad["content"] = json!("hello");
    bad["agnetId"] = json!("typo");
    bad["occurredAt"] = json!("yesterday");
    bad["tokensIn"] = json!(-1);
    let events = vec![
        message("m1"),
        bad,
        json!({"type": "page_view", "id": "x"}),
        json!(3),
    ];
    let errors = validate_batch(&events, NOW).unwrap_err();
    let found: Vec<(Option<usize>, &str)> =
        errors.iter().map(|e| (e.index, e.field.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (Some(1), "agnetId"),
            (Some(1), "content"),
            (Some(1), "occurredAt"),
            (Some(1), "tokensIn"),
            (Some(2), "type"),
            (Some(3), ""),
        ]
    );
    assert!(
        errors[1].reason.contains("never stores"),
        "{}",
        errors[1].reason
    );
    assert!(errors[0].reason.contains("agentId"), "{}", errors[0].reason);
}

#[test]
fn required_fields_and_bad_ids_are_named() {
    let events = vec![
        json!({"type": "message", "id": "bad id", "occurredAt": "2026-03-01T09:30:00Z",
                             "agentId": "a", "source": "Web"}),
    ];
    let errors = validate_batch(&events, NOW).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["id", "conversationId", "source"]);
}

#[test]
fn workflow_runs_need_a_status() {
    let events = vec![
        json!({"type": "workflow_run", "id": "w", "occurredAt": "2026-03-01T09:30:00Z",
                             "workflowId": "wf", "status": "done"}),
    ];
    let errors = validate_batch(&events, NOW).unwrap_err();
    assert_eq!(errors[0].field, "status");
    assert_eq!(
        errors[0].reason,
        "must be one of succeeded|failed|cancelled"
    );
}

#[test]
fn ndjson_and_json_arrays_split_the_same() {
    let line = serde_json::to_string(&message("m1")).unwrap();
    let ndjson = format!("{line}\n\n{line}\r\n");
    let a = split_items(ndjson.as_bytes(), BodyFormat::Ndjson).unwrap();
    let b = split_items(format!("[{line},{line}]").as_bytes(), BodyFormat::JsonArray).unwrap();
    assert_eq!(a, b);
    let broken = split_items(format!("{line}\n{{nope\n").as_bytes(), BodyFormat::Ndjson);
    match broken {
        Err(BatchError::Invalid(errors)) => assert_eq!(errors[0].index, Some(1)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        split_items(b"{\"a\": 1}", BodyFormat::JsonArray),
        Err(BatchError::Malformed(_))
    ));
}

#[test]
fn limits_are_enforced() {
    let many = format!("[{}]", vec!["{}"; MAX_BATCH_ITEMS + 1].join(","));
    assert!(matches!(
        split_items(many.as_bytes(), BodyFormat::JsonArray),
        Err(BatchError::TooLarge(m)) if m.contains("10000")
    ));
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    assert!(matches!(
        decode_body(&huge, false),
        Err(BatchError::TooLarge(_))
    ));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &huge).unwrap();
    let small = gz.finish().unwrap();
    assert!(small.len() < 100_000);
    assert!(matches!(
        decode_body(&small, true),
        Err(BatchError::TooLarge(_))
    ));
    assert!(matches!(
        decode_body(b"not gzip", true),
        Err(BatchError::Malformed(_))
    ));
}

#[test]
fn content_types_choose_the_framing() {
    assert_eq!(
        BodyFormat::from_content_type("application/json; charset=utf-8"),
        Some(BodyFormat::JsonArray)
    );
    assert_eq!(
        BodyFormat::from_content_type("application/x-ndjson"),
        Some(BodyFormat::Ndjson)
    );
    assert_eq!(BodyFormat::from_content_type("text/plain"), None);
}

#[test]
fn directory_records_merge_and_clear() {
    let items = vec![json!({"userId": "u1", "status": "revoked", "lastLoginAt": null})];
    let records = validate_records(DirectoryKind::Members, &items, NOW).unwrap();
    assert_eq!(records[0].values.len(), 2);
    assert_eq!(records[0].text("status"), Some("revoked"));
    assert_eq!(records[0].get("lastLoginAt"), None);
    let missing = missing_required(DirectoryKind::Members, &records, |_| false);
    let fields: Vec<&str> = missing.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["email", "name", "role", "joinedAt"]);
    assert!(missing_required(DirectoryKind::Members, &records, |_| true).is_empty());
}

#[test]
fn directory_records_are_validated_field_by_field() {
    let items = vec![
        json!({"agentId": "a1", "name": "Helper", "settings": "secret",
                            "authorEmails": ["ada@example.com", "nope"], "prompt": "x"}),
    ];
    let errors = validate_records(DirectoryKind::Agents, &items, NOW).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["prompt", "settings", "authorEmails[1]"]);
    let ok = vec![
        json!({"agentId": "a1", "name": "Helper", "settings": "global",
                         "authorEmails": ["ada@example.com"]}),
    ];
    let records = validate_records(DirectoryKind::Agents, &ok, NOW).unwrap();
    assert_eq!(
        records[0].get("authorEmails"),
        Some(&DirValue::List(vec!["ada@example.com".into()]))
    );
}
