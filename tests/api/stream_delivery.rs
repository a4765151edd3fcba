//! Log stream delivery against local receivers that fail on purpose, on both stores: every
//! record arrives in leaf order without a gap through outages, throttling, dropped
//! connections, oversized batches, bad credentials and a SIGKILL of the server.

use std::time::Duration;

use serde_json::{Value, json};
use tally::model::{Plan, Role, Scope};
use tally::streams::retry::Backoff;
use tally::streams::worker::{Gauges, WorkerSettings, run};

use crate::receivers::*;
use crate::streams::{call, create_stream, json_of, spawn};
use crate::support::*;

/// The delivery worker over a test's store, stopped when dropped.
pub struct Worker(tokio::task::JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn fast_settings(ts: &TestStore, owner: &str) -> WorkerSettings {
    let config = test_config(ts._dir.path());
    WorkerSettings {
        owner: owner.into(),
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        batch: 25,
        timeout: Duration::from_millis(500),
        backoff: Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(200),
        },
        allow_private: true,
        key: tally::streams::seal::key(&config).unwrap(),
    }
}

pub fn start_worker(ts: &TestStore) -> Worker {
    let gauges = Gauges::default();
    Worker(tokio::spawn(run(
        ts.store.clone(),
        fast_settings(ts, "test-worker"),
        gauges,
    )))
}

pub fn audit_events(prefix: &str, n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("{prefix}_{i}"), "action": "document.viewed", "occurredAt": "2026-11-20T09:30:00Z",
                   "actor": {"type": "user", "id": "u1", "name": "Ada"}, "targets": [{"type": "document", "id": format!("d{i}")}]})
        })
        .collect();
    Value::Array(events)
}

pub async fn ingest_audit(app: &TestApp, prefix: &str, n: usize) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/w/{WS}/audit/events")))
        .bearer_auth(&app.ingest)
        .json(&audit_events(prefix, n))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn webhook_stream(app: &TestApp, receiver: &Receiver, secret: &str) -> String {
    let body = json!({"kind": "https", "config": {"url": format!("{}/hook", receiver.base), "secret": secret}});
    let created = json_of(create_stream(app, body).await, 201).await;
    created["id"].as_str().unwrap().to_string()
}

async fn status(app: &TestApp, id: &str) -> Value {
    json_of(
        call(app, reqwest::Method::GET, &format!("/{id}"), None).await,
        200,
    )
    .await["status"]
        .clone()
}

/// Polls the stream's status until `check` holds.
async fn status_until(
    app: &TestApp,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(app, id).await;
        if check(&s) {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn tree_size(ts: &TestStore) -> u64 {
    ts.store.audit_tree_size(WS).await.unwrap()
}

async fn all_delivered(ts: &TestStore, receiver: &Receiver) -> u64 {
    let n = tree_size(ts).await;
    eventually(Duration::from_secs(30), "every record", || {
        receiver.leaves().iter().max().is_some_and(|&m| m + 1 >= n)
    })
    .await;
    n
}

#[tokio::test]
async fn every_record_and_checkpoint_arrives_in_order_signed() {
    each_store(|ts| async move {
        let receiver = Receiver::start().await;
        let app = spawn(&ts).await;
        let _worker = start_worker(&ts);
        let id = webhook_stream(&app, &receiver, SECRET).await;
        for b in 0..4 {
            ingest_audit(&app, &format!("b{b}"), 30).await;
        }
        let reader = key(&ts.store, WS, Role::User, vec![Scope::AuditRead]).await;
        let signed = app
            .client
            .post(app.url(&format!("/api/v1/w/{WS}/audit/checkpoint")))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap();
        let checkpoint: Value = signed.json().await.unwrap();
        let n = all_delivered(&ts, &receiver).await;
        eventually(Duration::from_secs(10), "the checkpoint", || {
            receiver
                .received()
                .iter()
                .any(|r| r["checkpoint"] == checkpoint)
        })
        .await;
        assert_eq!(
            receiver.leaves(),
            (0..n).collect::<Vec<_>>(),
            "exactly once, in order, without failures"
        );
        assert_eq!(receiver.bad_signatures(), 0);
        let records = receiver.received();
        let first = &records[0];
        assert_eq!(
            (first["leafIndex"].as_u64(), first["workspaceId"].as_str()),
            (Some(0), Some(WS))
        );
        assert_eq!(
            first["event"]["action"], "stream.created",
            "the log's own events are delivered"
        );
        let b0 = records.iter().find(|r| r["id"] == "b0_0").unwrap();
        assert_eq!(b0["event"]["targets"][0]["id"], "d0");
        let cp = records
            .iter()
            .find(|r| r.get("checkpoint").is_some())
            .unwrap();
        assert_eq!(cp["workspaceId"], WS);
        let s = status_until(&app, &id, "delivered counts", |s| {
            s["delivered"].as_u64() == Some(n)
        })
        .await;
        assert_eq!(
            (
                s["state"].as_str(),
                s["lagEvents"].as_u64(),
                s["cursor"].as_u64()
            ),
            (Some("active"), Some(0), Some(n))
        );
        assert!(s["lastSuccessAt"].is_string(), "{s}");
        assert!(
            receiver.batch_sizes().iter().all(|&b| b <= 26),
            "batches by size: {:?}",
            receiver.batch_sizes()
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn an_outage_throttling_and_dropped_connections_lose_nothing() {
    each_store(|ts| async move {
        let mut receiver = Receiver::start().await;
        let app = spawn(&ts).await;
        let _worker = start_worker(&ts);
        let id = webhook_stream(&app, &receiver, SECRET).await;
        ingest_audit(&app, "before", 20).await;
        all_delivered(&ts, &receiver).await;

        receiver.stop();
        ingest_audit(&app, "down1", 20).await;
        let s = status_until(&app, &id, "failing while down", |s| s["state"] == "failing").await;
        assert!(
            s["lastError"].as_str().unwrap().contains("cannot reach"),
            "{s}"
        );
        assert!(s["lagEvents"].as_u64().unwrap() >= 20, "{s}");
        ingest_audit(&app, "down2", 20).await;

        receiver.fail(Failure::Status(503));
        receiver.restart().await;
        status_until(&app, &id, "the 503", |s| {
            s["lastError"].as_str().is_some_and(|e| e.contains("503"))
        })
        .await;

        receiver.fail(Failure::RetryAfter(1));
        let (r0, started) = (receiver.requests(), std::time::Instant::now());
        eventually(Duration::from_secs(10), "two throttled requests", || {
            receiver.requests() >= r0 + 3
        })
        .await;
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After honoured"
        );

        receiver.fail(Failure::Drop);
        let r1 = receiver.requests();
        eventually(Duration::from_secs(10), "dropped connections", || {
            receiver.requests() >= r1 + 2
        })
        .await;
        status_until(&app, &id, "failing", |s| s["state"] == "failing").await;

        receiver.fail(Failure::Slow(Duration::from_secs(2)));
        let s = status_until(&app, &id, "a timeout", |s| {
            s["lastError"]
                .as_str()
                .is_some_and(|e| e.contains("timed out"))
        })
        .await;
        assert_eq!(s["state"], "failing");

        receiver.fail(Failure::Slow(Duration::from_millis(100)));
        ingest_audit(&app, "after", 20).await;
        let n = all_delivered(&ts, &receiver).await;
        receiver.fail(Failure::None);
        assert_in_order_without_gaps(&receiver.leaves(), n);
        let s = status_until(&app, &id, "recovered", |s| {
            s["state"] == "active" && s["lagEvents"] == 0
        })
        .await;
        assert_eq!(s["lastError"], Value::Null);
        assert_eq!(receiver.bad_signatures(), 0, "each attempt signed afresh");
        ts
    })
    .await;
}

#[tokio::test]
async fn a_too_large_answer_splits_the_batch() {
    each_store(|ts| async move {
        let receiver = Receiver::start().await;
        receiver.fail(Failure::TooLarge(3));
        let app = spawn(&ts).await;
        let _worker = start_worker(&ts);
        webhook_stream(&app, &receiver, SECRET).await;
        ingest_audit(&app, "big", 40).await;
        let n = all_delivered(&ts, &receiver).await;
        assert_eq!(receiver.leaves(), (0..n).collect::<Vec<_>>());
        assert!(
            receiver.batch_sizes().iter().all(|&b| b <= 3),
            "{:?}",
            receiver.batch_sizes()
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn bad_credentials_stop_the_stream_visibly_until_resumed() {
    each_store(|ts| async move {
        let receiver = Receiver::start().await;
        let app = spawn(&ts).await;
        let _worker = start_worker(&ts);
        let id = webhook_stream(&app, &receiver, "wrong-secret").await;
        ingest_audit(&app, "x", 10).await;
        let s = status_until(&app, &id, "stopped", |s| s["state"] == "stopped").await;
        assert!(s["lastError"].as_str().unwrap().contains("401"), "{s}");
        let requests = receiver.requests();
        ingest_audit(&app, "y", 10).await;
        // Absence can only be seen over time: twenty of the worker's polls.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            receiver.requests(),
            requests,
            "a stopped stream does not retry"
        );
        let s = status(&app, &id).await;
        assert_eq!(
            (s["state"].as_str(), s["cursor"].as_u64()),
            (Some("stopped"), Some(0)),
            "records wait at the cursor"
        );
        // The console's settings page shows it too.
        crate::console::seed(&ts, &app).await;
        let mut browser = crate::console::Browser::new(&app);
        browser
            .login(crate::console::ADMIN, crate::console::PASSWORD)
            .await;
        let page = browser
            .get(&format!("/w/{WS}/settings"))
            .await
            .text()
            .await
            .unwrap();
        let section = &page[page.find("id=\"streams\"").expect("the streams section")..];
        assert!(
            section.contains(&id) && section.contains("stream-stopped") && section.contains("401"),
            "{section}"
        );
        let body = json!({"config": {"secret": SECRET}});
        json_of(
            call(&app, reqwest::Method::PATCH, &format!("/{id}"), Some(body)).await,
            200,
        )
        .await;
        json_of(
            call(&app, reqwest::Method::POST, &format!("/{id}/resume"), None).await,
            200,
        )
        .await;
        let n = all_delivered(&ts, &receiver).await;
        assert_eq!(receiver.leaves(), (0..n).collect::<Vec<_>>());
        let tested = json_of(
            call(&app, reqwest::Method::POST, &format!("/{id}/test"), None).await,
            200,
        )
        .await;
        assert_eq!(tested, json!({"delivered": true, "error": null}));
        assert!(
            receiver
                .received()
                .iter()
                .any(|r| r["test"] == true && r["event"]["action"] == "stream.test")
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn a_server_killed_mid_delivery_resumes_without_a_gap() {
    each_store(|ts| async move {
        create_workspace(&ts.store, WS, Plan::Enterprise).await;
        let admin = key(&ts.store, WS, Role::Admin, vec![]).await;
        let ingest = key(&ts.store, WS, Role::User, vec![Scope::Ingest]).await;
        let receiver = Receiver::start().await;
        receiver.fail(Failure::Slow(Duration::from_millis(300)));
        let port = crate::crash::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let vars = [("TALLY_STREAMS_ALLOW_PRIVATE", "true")];
        let mut child = crate::crash::start_server_with(&ts, port, &vars);
        crate::crash::wait_ready(&base).await;
        let client = reqwest::Client::new();
        for b in 0..6 {
            let response = client.post(format!("{base}/api/v1/w/{WS}/audit/events")).bearer_auth(&ingest).json(&audit_events(&format!("k{b}"), 500)).send().await.unwrap();
            assert_eq!(response.status(), 200);
        }
        let body = json!({"kind": "https", "config": {"url": format!("{}/hook", receiver.base), "secret": SECRET}});
        let created: Value = client.post(format!("{base}/api/v1/w/{WS}/audit/streams")).bearer_auth(&admin).json(&body).send().await.unwrap().json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        eventually(Duration::from_secs(30), "a first batch", || !receiver.leaves().is_empty()).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let n = tree_size(&ts).await;
        assert!((receiver.leaves().len() as u64) < n, "killed mid-delivery");
        receiver.fail(Failure::None);
        let mut child = crate::crash::start_server_with(&ts, port, &vars);
        crate::crash::wait_ready(&base).await;
        all_delivered(&ts, &receiver).await;
        assert_in_order_without_gaps(&receiver.leaves(), n);
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(&format!("tally_stream_delivered_total{{stream=\"{id}\",kind=\"https\"}}")), "{metrics}");
        assert!(metrics.contains(&format!("tally_stream_lag_events{{stream=\"{id}\",kind=\"https\"}}")));
        child.kill().unwrap();
        child.wait().unwrap();
        ts
    })
    .await;
}

#[tokio::test]
async fn splunk_and_datadog_receive_every_record_through_failures() {
    each_store(|ts| async move {
        let app = spawn(&ts).await;
        let _worker = start_worker(&ts);
        let mut receivers = Vec::new();
        for kind in ["splunk", "datadog"] {
            let receiver = Receiver::start().await;
            receiver.fail(Failure::Status(500));
            let config = match kind {
                "splunk" => json!({"url": receiver.base, "token": TOKEN, "index": "security"}),
                _ => json!({"site": "datadoghq.eu", "url": receiver.base, "apiKey": API_KEY}),
            };
            let created = json_of(
                create_stream(&app, json!({"kind": kind, "config": config})).await,
                201,
            )
            .await;
            assert!(!created.to_string().contains(TOKEN) && !created.to_string().contains(API_KEY));
            receivers.push((kind, receiver, created["id"].as_str().unwrap().to_string()));
        }
        ingest_audit(&app, "a", 30).await;
        for (kind, receiver, id) in &receivers {
            let s = status_until(&app, id, "failing on 500", |s| s["state"] == "failing").await;
            assert!(
                s["lastError"].as_str().unwrap().contains("500"),
                "{kind}: {s}"
            );
            receiver.fail(Failure::RetryAfter(0));
        }
        ingest_audit(&app, "b", 30).await;
        for (_, receiver, _) in &receivers {
            receiver.fail(Failure::None);
        }
        for (kind, receiver, id) in &receivers {
            let n = all_delivered(&ts, receiver).await;
            assert_in_order_without_gaps(&receiver.leaves(), n);
            let s = status_until(&app, id, "caught up", |s| {
                s["lagEvents"] == 0 && s["state"] == "active"
            })
            .await;
            assert!(s["delivered"].as_u64().unwrap() >= n, "{kind}: {s}");
            let first = &receiver.received()[0];
            assert_eq!(
                (first["leafIndex"].as_u64(), first["workspaceId"].as_str()),
                (Some(0), Some(WS)),
                "{kind}"
            );
        }
        // Bad credentials are permanent: the stream stops, visibly.
        for (kind, config) in [
            ("splunk", json!({"config": {"token": "wrong"}})),
            ("datadog", json!({"config": {"apiKey": "wrong"}})),
        ] {
            let (_, _, id) = receivers.iter().find(|r| r.0 == kind).unwrap();
            json_of(
                call(
                    &app,
                    reqwest::Method::PATCH,
                    &format!("/{id}"),
                    Some(config),
                )
                .await,
                200,
            )
            .await;
        }
        ingest_audit(&app, "c", 5).await;
        for (kind, _, id) in &receivers {
            let s = status_until(&app, id, "stopped", |s| s["state"] == "stopped").await;
            let code = if *kind == "splunk" { "401" } else { "403" };
            assert!(
                s["lastError"].as_str().unwrap().contains(code),
                "{kind}: {s}"
            );
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn splunk_batches_count_only_once_indexing_is_acknowledged() {
    each_store(|ts| async move {
        let receiver = Receiver::start().await;
        receiver.enable_acks();
        let app = spawn(&ts).await;
        let _worker = start_worker(&ts);
        let config = json!({"url": receiver.base, "token": TOKEN});
        let created = json_of(
            create_stream(&app, json!({"kind": "splunk", "config": config})).await,
            201,
        )
        .await;
        let id = created["id"].as_str().unwrap().to_string();
        ingest_audit(&app, "acked", 60).await;
        let n = all_delivered(&ts, &receiver).await;
        assert_eq!(receiver.leaves(), (0..n).collect::<Vec<_>>());
        assert!(
            receiver.ack_polls() >= 2 * receiver.batch_sizes().len() as u64,
            "each batch confirmed on a second ask"
        );
        let s = status_until(&app, &id, "caught up", |s| s["lagEvents"] == 0).await;
        assert_eq!(s["state"], "active");
        ts
    })
    .await;
}
