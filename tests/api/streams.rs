//! Log streams through the API, on both stores: management by admins, write-only secrets,
//! field-naming refusals, and the audit trail of every change.

use serde_json::{Value, json};
use tally::model::{Plan, Role};
use tally::storage::audit::{AuditFilter, AuditOrder};
use tally::web::{self, AppState};

use crate::receivers::SECRET;
use crate::support::*;

/// A server that allows private destinations, as tests and self-hosted receivers need.
pub async fn spawn(ts: &TestStore) -> TestApp {
    let config = test_config_with(ts._dir.path(), &[("TALLY_STREAMS_ALLOW_PRIVATE", "true")]);
    TestApp::spawn_with(ts, config).await
}

pub fn streams_url(app: &TestApp, rest: &str) -> String {
    app.url(&format!("/api/v1/w/{WS}/audit/streams{rest}"))
}

pub async fn create_stream(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(streams_url(app, ""))
        .bearer_auth(&app.admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    rest: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, streams_url(app, rest))
        .bearer_auth(&app.admin);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(code, status, "{body}");
    body
}

async fn actions(ts: &TestStore) -> Vec<String> {
    let entries = ts
        .store
        .audit_search(
            WS,
            &AuditFilter::default(),
            AuditOrder::LeafOrder(None),
            1000,
        )
        .await
        .unwrap();
    entries
        .iter()
        .map(|e| {
            serde_json::from_slice::<Value>(&e.canonical).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn admins_manage_streams_whose_secrets_are_write_only() {
    each_store(|ts| async move {
        let app = spawn(&ts).await;
        let hook = "http://127.0.0.1:9/hook";
        let created = json_of(
            create_stream(
                &app,
                json!({"kind": "https", "config": {"url": hook, "secret": SECRET}}),
            )
            .await,
            201,
        )
        .await;
        assert!(!created.to_string().contains(SECRET), "{created}");
        assert_eq!(created["kind"], "https");
        assert_eq!(created["config"], json!({"url": hook}));
        let status = &created["status"];
        assert_eq!(
            (
                status["state"].as_str(),
                status["cursor"].as_u64(),
                status["delivered"].as_u64()
            ),
            (Some("active"), Some(0), Some(0))
        );
        assert_eq!(status["lastError"], Value::Null);
        let id = created["id"].as_str().unwrap().to_string();
        let stored = ts.store.stream(WS, &id).await.unwrap().unwrap();
        assert!(
            !String::from_utf8_lossy(&stored.secrets).contains(SECRET),
            "sealed at rest"
        );

        let list = json_of(call(&app, reqwest::Method::GET, "", None).await, 200).await;
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert!(!list.to_string().contains(SECRET));
        let one = json_of(
            call(&app, reqwest::Method::GET, &format!("/{id}"), None).await,
            200,
        )
        .await;
        assert_eq!(one["id"], created["id"]);
        assert!(
            one["status"]["lagEvents"].as_u64().unwrap() >= 1,
            "stream.created itself waits: {one}"
        );

        let other = "http://127.0.0.1:10/other";
        let patched = json_of(
            call(
                &app,
                reqwest::Method::PATCH,
                &format!("/{id}"),
                Some(json!({"config": {"url": other}})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(patched["config"], json!({"url": other}));
        let stored = ts.store.stream(WS, &id).await.unwrap().unwrap();
        let config = test_config_with(ts._dir.path(), &[]);
        let settings =
            tally::streams::settings_of(&stored, &tally::streams::seal::key(&config).unwrap())
                .unwrap();
        assert_eq!(
            settings.secrets["secret"], SECRET,
            "a PATCH keeps secrets it does not name"
        );
        let error = error_of(
            call(
                &app,
                reqwest::Method::PATCH,
                &format!("/{id}"),
                Some(json!({"kind": "splunk"})),
            )
            .await,
            400,
        )
        .await;
        assert_eq!(error["field"], "kind");

        let paused = json_of(
            call(&app, reqwest::Method::POST, &format!("/{id}/pause"), None).await,
            200,
        )
        .await;
        assert_eq!(paused["status"]["state"], "paused");
        let resumed = json_of(
            call(&app, reqwest::Method::POST, &format!("/{id}/resume"), None).await,
            200,
        )
        .await;
        assert_eq!(resumed["status"]["state"], "active");
        let tested = json_of(
            call(&app, reqwest::Method::POST, &format!("/{id}/test"), None).await,
            200,
        )
        .await;
        assert_eq!(
            tested["delivered"], false,
            "nothing listens there: {tested}"
        );
        assert!(
            tested["error"].as_str().unwrap().contains("cannot reach"),
            "{tested}"
        );

        let now = json_of(
            create_stream(
                &app,
                json!({"kind": "https", "config": {"url": hook, "secret": "s"}, "startAt": "now"}),
            )
            .await,
            201,
        )
        .await;
        let size = ts.store.audit_tree_size(WS).await.unwrap();
        assert_eq!(
            now["status"]["cursor"].as_u64(),
            Some(size - 1),
            "starts at the size before its own stream.created"
        );

        assert_eq!(
            call(&app, reqwest::Method::DELETE, &format!("/{id}"), None)
                .await
                .status(),
            204
        );
        error_of(
            call(&app, reqwest::Method::GET, &format!("/{id}"), None).await,
            404,
        )
        .await;
        error_of(
            call(&app, reqwest::Method::DELETE, &format!("/{id}"), None).await,
            404,
        )
        .await;
        error_of(
            call(&app, reqwest::Method::POST, &format!("/{id}/pause"), None).await,
            404,
        )
        .await;
        let actions = actions(&ts).await;
        for action in [
            "stream.created",
            "stream.updated",
            "stream.paused",
            "stream.resumed",
            "stream.deleted",
        ] {
            assert!(
                actions.iter().any(|a| a == action),
                "{action} recorded on {}: {actions:?}",
                ts.backend()
            );
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_only_enterprise_admins_manage() {
    each_store(|ts| async move {
        let app = spawn(&ts).await;
        let cases = [
            (json!({"kind": "kafka", "config": {}}), "kind"),
            (json!({"config": {}}), "kind"),
            (json!({"kind": "https"}), "config"),
            (json!({"kind": "https", "config": []}), "config"),
            (json!({"kind": "https", "config": {"url": "http://siem.example.com/in", "secret": "s"}}), "config.url"),
            (json!({"kind": "https", "config": {"url": "https://siem.example.com/in"}}), "config.secret"),
            (json!({"kind": "https", "config": {"url": "https://siem.example.com/in", "secret": 5}}), "config.secret"),
            (json!({"kind": "datadog", "config": {"site": "datadoghq.com", "apiKey": "k", "colour": "red"}}), "config.colour"),
            (json!({"kind": "s3", "config": {"bucket": "b", "region": "r", "accessKeyId": "a", "secretAccessKey": "s"}}), "config.bucket"),
            (json!({"kind": "https", "config": {"url": "https://siem.example.com/in", "secret": "s"}, "startAt": "later"}), "startAt"),
            (json!({"kind": "https", "config": {"url": "https://siem.example.com/in", "secret": "s"}, "startAt": 1_000_000}), "startAt"),
            (json!({"kind": "https", "config": {"url": "https://siem.example.com/in", "secret": "s"}, "paused": true}), "paused"),
        ];
        for (body, field) in cases {
            let error = error_of(create_stream(&app, body.clone()).await, 400).await;
            assert_eq!(error["field"], field, "{body}");
        }
        let raw = app.client.post(streams_url(&app, "")).bearer_auth(&app.admin).body("{not json").send().await.unwrap();
        error_of(raw, 400).await;
        // Without the operator's allowance, private destinations are refused.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let strict = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(web::serve(listener, AppState::new(ts.store.clone(), test_config(ts._dir.path()))));
        let response = app
            .client
            .post(format!("{strict}/api/v1/w/{WS}/audit/streams"))
            .bearer_auth(&app.admin)
            .json(&json!({"kind": "https", "config": {"url": "https://127.0.0.1:8443/hook", "secret": "s"}}))
            .send()
            .await
            .unwrap();
        let error = error_of(response, 400).await;
        assert_eq!(error["field"], "config.url");
        assert!(error["message"].as_str().unwrap().contains("TALLY_STREAMS_ALLOW_PRIVATE"), "{error}");
        // Builders and other plans are refused.
        let listed = app.client.get(streams_url(&app, "")).bearer_auth(&app.builder).send().await.unwrap();
        error_of(listed, 403).await;
        create_workspace(&ts.store, "smallco", Plan::Pro).await;
        let small_admin = key(&ts.store, "smallco", Role::Admin, vec![]).await;
        let response = app.client.get(app.url("/api/v1/w/smallco/audit/streams")).bearer_auth(&small_admin).send().await.unwrap();
        let error = error_of(response, 403).await;
        assert!(error["message"].as_str().unwrap().contains("enterprise"), "{error}");
        let response = app.client.get(app.url("/api/v1/w/smallco/audit/streams")).bearer_auth(&app.admin).send().await.unwrap();
        error_of(response, 404).await;
        ts
    })
    .await;
}

/// The README's webhook verification example, run as written against tally's signatures.
#[tokio::test]
async fn the_readme_webhook_verification_example_accepts_tally_signatures() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("    import hashlib, hmac, time")
        .expect("the example");
    let end = start
        + readme[start..]
            .find("    # In the handler")
            .expect("its end");
    let example: String = readme[start..end]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let body = br#"{"records":[{"id":"e1","leafIndex":0,"workspaceId":"acme","event":{}}]}"#;
    let now = jiff::Timestamp::now().as_second();
    let cases = [
        (
            tally::streams::sign::signature(SECRET.as_bytes(), now, body),
            "True",
        ),
        (
            tally::streams::sign::signature(b"other", now, body),
            "False",
        ),
        (
            tally::streams::sign::signature(SECRET.as_bytes(), now - 600, body),
            "False",
        ),
    ];
    for (header, expected) in cases {
        let script = format!(
            "{example}\nimport sys\nprint(verify({secret:?}.encode(), {header:?}, sys.stdin.buffer.read()))\n",
            secret = SECRET
        );
        let mut child = std::process::Command::new("python3")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the example");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected,
            "{header}"
        );
    }
}
