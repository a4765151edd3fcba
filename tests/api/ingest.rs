//! `POST /events` and the directory PUTs over HTTP.

use crate::support::*;
use serde_json::{Value, json};
use std::io::Write;

#[tokio::test]
async fn a_batch_is_stored_once_and_a_retry_counts_duplicates() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let events = json!([message("m1", "2026-03-01T10:00:00Z"), message("m2", "2026-03-01T11:00:00+02:00"),
            {"type": "tool_execution", "id": "t1", "occurredAt": "2026-03-01T10:00:01Z", "tool": "web_search", "messageId": "m1"}]);
        let first: Value = app.post_events(&events).await.json().await.unwrap();
        assert_eq!(first, json!({"accepted": 3, "duplicates": 0}), "{}", ts.backend());
        let retry: Value = app.post_events(&events).await.json().await.unwrap();
        assert_eq!(retry, json!({"accepted": 0, "duplicates": 3}));
        assert_eq!(ts.store.event_counts(WS).await.unwrap().messages, 2);
        ts
    })
    .await;
}

#[tokio::test]
async fn ndjson_and_gzip_bodies_are_accepted() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let lines: String = (0..100)
            .map(|i| format!("{}\n", message(&format!("m{i}"), "2026-03-01T10:00:00Z")))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(lines.as_bytes()).unwrap();
        let response = app
            .client
            .post(app.url("/api/v1/w/acme/events"))
            .bearer_auth(&app.ingest)
            .header("content-type", "application/x-ndjson")
            .header("content-encoding", "gzip")
            .body(gz.finish().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 100);
        ts
    })
    .await;
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_naming_index_and_field() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut bad = message("m2", "2026-03-01T10:00:00Z");
        bad["prompt"] = json!("what is the capital of France?");
        let events =
            json!([message("m1", "2026-03-01T10:00:00Z"), bad, {"type": "message", "id": "m3"}]);
        let error = error_of(app.post_events(&events).await, 422).await;
        assert_eq!(error["type"], "invalid_request_error");
        let details = error["details"].as_array().unwrap();
        assert_eq!(
            details[0],
            json!({"index": 1, "field": "prompt", "reason": details[0]["reason"]})
        );
        assert!(details[0]["reason"].as_str().unwrap().contains("content"));
        let fields: Vec<(u64, &str)> = details
            .iter()
            .map(|d| (d["index"].as_u64().unwrap(), d["field"].as_str().unwrap()))
            .collect();
        assert_eq!(
            fields,
            vec![
                (1, "prompt"),
                (2, "occurredAt"),
                (2, "conversationId"),
                (2, "agentId"),
                (2, "source")
            ]
        );
        assert_eq!(
            ts.store.event_counts(WS).await.unwrap().messages,
            0,
            "nothing stored, not even the valid event"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn limits_answer_413_naming_the_limit() {
    let ts = sqlite_store().await;
    let app = TestApp::spawn(&ts).await;
    let many: Vec<Value> = (0..10_001)
        .map(|i| message(&format!("m{i}"), "2026-03-01T10:00:00Z"))
        .collect();
    let error = error_of(app.post_events(&Value::Array(many)).await, 413).await;
    assert_eq!(error["type"], "payload_too_large");
    assert!(
        error["message"].as_str().unwrap().contains("10000"),
        "{error}"
    );
    let exactly: Vec<Value> = (0..10_000)
        .map(|i| message(&format!("m{i}"), "2026-03-01T10:00:00Z"))
        .collect();
    assert_eq!(
        app.post_events(&Value::Array(exactly)).await.status(),
        200,
        "the limit itself is allowed"
    );
    let big = format!("[{}]", " ".repeat(10 * 1024 * 1024));
    let response = app
        .client
        .post(app.url("/api/v1/w/acme/events"))
        .bearer_auth(&app.ingest)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let error = error_of(response, 413).await;
    assert!(
        error["message"].as_str().unwrap().contains("10 MiB"),
        "{error}"
    );
    ts.cleanup().await;
}

#[tokio::test]
async fn malformed_bodies_and_media_types_are_refused_clearly() {
    let ts = sqlite_store().await;
    let app = TestApp::spawn(&ts).await;
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/w/acme/events"))
            .bearer_auth(&app.ingest)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let error = error_of(send("[{", "application/json").await.unwrap(), 400).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let error = error_of(send("{}", "application/json").await.unwrap(), 400).await;
    assert!(error["message"].as_str().unwrap().contains("JSON array"));
    let error = error_of(send("[]", "text/plain").await.unwrap(), 415).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("application/x-ndjson")
    );
    let error = error_of(
        send("{\"type\": \"message\"}\n{oops\n", "application/x-ndjson")
            .await
            .unwrap(),
        422,
    )
    .await;
    let details = error["details"].as_array().unwrap();
    assert_eq!(
        details[0]["index"], 0,
        "the valid line's problems are listed too: {error}"
    );
    assert_eq!(details.last().unwrap()["index"], 1);
    assert!(
        details.last().unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    ts.cleanup().await;
}

#[tokio::test]
async fn ingest_needs_the_ingest_scope_and_its_own_workspace() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        create_workspace(&ts.store, "other", tally::model::Plan::Free).await;
        let events = json!([message("m1", "2026-03-01T10:00:00Z")]);
        let send = |key: Option<&str>, ws: &str| {
            let mut request = app
                .client
                .post(app.url(&format!("/api/v1/w/{ws}/events")))
                .json(&events);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            request.send()
        };
        error_of(send(None, WS).await.unwrap(), 401).await;
        error_of(send(Some("tally_not_a_key"), WS).await.unwrap(), 401).await;
        let error = error_of(send(Some(&app.admin), WS).await.unwrap(), 403).await;
        assert!(error["message"].as_str().unwrap().contains("scope ingest"));
        let other = error_of(send(Some(&app.ingest), "other").await.unwrap(), 404).await;
        let missing = error_of(send(Some(&app.ingest), "missing").await.unwrap(), 404).await;
        assert_eq!(
            other, missing,
            "another workspace looks exactly like a missing one"
        );
        assert_eq!(ts.store.event_counts("other").await.unwrap().messages, 0);
        ts
    })
    .await;
}

#[tokio::test]
async fn directories_upsert_over_http() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let put = |kind: &str, body: Value| {
            app.client.put(app.url(&format!("/api/v1/w/acme/{kind}"))).bearer_auth(&app.ingest).json(&body).send()
        };
        let members = json!([{"userId": "u1", "email": "ada@example.com", "name": "Ada", "role": "admin", "status": "active", "joinedAt": "2025-01-01T00:00:00Z"}]);
        let body: Value = put("members", members).await.unwrap().json().await.unwrap();
        assert_eq!(body, json!({"accepted": 1, "created": 1, "updated": 0}));
        let body: Value = put("members", json!([{"userId": "u1", "name": "Ada L."}])).await.unwrap().json().await.unwrap();
        assert_eq!(body, json!({"accepted": 1, "created": 0, "updated": 1}));
        let error = error_of(put("agents", json!([{"agentId": "a1", "name": "Helper"}])).await.unwrap(), 422).await;
        assert_eq!(error["details"][0]["field"], "settings");
        let error = error_of(put("tools", json!([{"id": "t1", "name": "Search", "owner": "x"}])).await.unwrap(), 422).await;
        assert_eq!(error["details"][0]["field"], "owner");
        for kind in ["agents", "tools", "skills", "projects", "workflows", "models"] {
            let id_field = if kind == "agents" { "agentId" } else { "id" };
            let mut record = json!({id_field: "x1", "name": "X"});
            if kind == "agents" {
                record["settings"] = json!("published");
            }
            assert_eq!(put(kind, json!([record])).await.unwrap().status(), 200, "{kind}");
        }
        ts
    })
    .await;
}
