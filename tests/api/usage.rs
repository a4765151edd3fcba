//! The usage export (Langdock-compatible) over HTTP: every data type against the analytics
//! engine's numbers, files and signed links, limits, access and the audit record.

use std::collections::HashMap;

use crate::analytics::fill;
use crate::support::*;
use serde_json::{Value, json};
use tally::model::{Role, Scope};

fn range(from: &str, to: &str, zone: &str) -> Value {
    json!({"from": {"date": from, "timezone": zone}, "to": {"date": to, "timezone": zone}})
}

/// The March range of the generated workspace, as whole local days in Paris.
fn march() -> Value {
    range(
        "2024-03-20T00:00:00.000Z",
        "2024-04-01T23:59:59.999Z",
        "Europe/Paris",
    )
}

async fn post(app: &TestApp, key: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/export/{path}")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn usage_key(ts: &TestStore) -> String {
    key(&ts.store, WS, Role::User, vec![Scope::UsageExport]).await
}

/// Inline rows of a data type.
async fn inline(app: &TestApp, key: &str, data: &str, body: &Value) -> Vec<Value> {
    let response = post(app, key, &format!("{data}/json"), body).await;
    assert_eq!(response.status(), 200, "{data}");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["success"], true);
    let rows = answer["data"].as_array().unwrap().clone();
    assert_eq!(answer["metadata"]["recordCount"], rows.len());
    rows
}

/// The analytics export's rows for the same days, by id.
async fn analytics(app: &TestApp, table: &str, id: &str) -> HashMap<String, Value> {
    let q = format!(
        "table={table}&startDate=2024-03-20&endDate=2024-04-01&timezone=Europe/Paris&format=json"
    );
    let rows: Vec<Value> = app.export(&app.builder, &q).await.json().await.unwrap();
    rows.into_iter()
        .map(|r| (r[id].as_str().unwrap().to_string(), r))
        .collect()
}

fn flat_error(body: &Value, kind: &str) {
    assert!(body["error"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["type"], kind, "{body}");
}

#[tokio::test]
async fn every_data_type_agrees_with_the_analytics_export() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let events = fill(&ts).await;
        let key = usage_key(&ts).await;

        let users = inline(&app, &key, "users", &march()).await;
        let expected = analytics(&app, "users", "userId").await;
        assert_eq!(users.len(), expected.len(), "every member is listed");
        for u in &users {
            let e = &expected[u["user_id"].as_str().unwrap()];
            assert_eq!(u["messages_total"], e["messageCount"], "{u}");
            assert_eq!(u["active_days"], e["activeDaysCount"], "{u}");
            let total = u["messages_total"].as_u64().unwrap();
            let parts = ["messages_chat", "messages_assistants", "messages_projects"]
                .map(|k| u[k].as_u64().unwrap());
            assert_eq!(
                parts.iter().sum::<u64>(),
                total,
                "every message counts once"
            );
            if total > 0 {
                let last = u["last_message_at"].as_str().unwrap();
                let last: jiff::Timestamp = last.parse().unwrap();
                let shown: jiff::Timestamp =
                    e["lastMessageSent"].as_str().unwrap().parse().unwrap();
                assert_eq!(last, shown);
                let sources: u64 = u["messages_by_source"]
                    .as_object()
                    .unwrap()
                    .values()
                    .map(|v| v.as_u64().unwrap())
                    .sum();
                assert_eq!(sources, total);
            }
        }
        let first = &users[0];
        assert_eq!(
            first["messages_total_rank"], 1,
            "sorted by messages, rank 1 first"
        );
        assert_eq!(
            users.last().unwrap()["period_start"],
            "2024-03-20T00:00:00.000+01:00"
        );
        assert_eq!(users[0]["period_end"], "2024-04-01T23:59:59.999+02:00");

        let agents = inline(&app, &key, "assistants", &march()).await;
        let expected = analytics(&app, "agents", "agentId").await;
        assert_eq!(agents.len(), expected.len());
        for a in &agents {
            let e = &expected[a["assistant_id"].as_str().unwrap()];
            assert_eq!(a["messages"], e["messages"], "{a}");
            assert_eq!(a["unique_users"], e["distinctUsersReached"], "{a}");
            assert_eq!(a["conversations"], e["distinctConversations"], "{a}");
        }
        let alias = inline(&app, &key, "agents", &march()).await;
        assert_eq!(alias, agents, "agents is an alias of assistants");

        // Models, projects and workflows against the raw events of the range.
        let tz = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        let start = jiff::civil::date(2024, 3, 20)
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp()
            .as_microsecond();
        let end = jiff::civil::date(2024, 4, 2)
            .to_zoned(tz)
            .unwrap()
            .timestamp()
            .as_microsecond();
        let inside = |t: i64| t >= start && t < end;
        let messages: Vec<_> = events
            .messages
            .iter()
            .filter(|m| inside(m.occurred_at))
            .collect();
        let models = inline(&app, &key, "models", &march()).await;
        let requests: u64 = models.iter().map(|m| m["requests"].as_u64().unwrap()).sum();
        assert_eq!(
            requests as usize,
            messages.iter().filter(|m| m.model_id.is_some()).count()
        );
        let cost: i64 = messages.iter().filter_map(|m| m.cost_micros).sum();
        let reported: f64 = models
            .iter()
            .map(|m| m["total_cost_usd"].as_f64().unwrap())
            .sum();
        assert!((reported - cost as f64 / 1e6).abs() < 1e-6);
        let projects = inline(&app, &key, "projects", &march()).await;
        let in_projects: u64 = projects
            .iter()
            .map(|p| p["messages"].as_u64().unwrap())
            .sum();
        assert_eq!(
            in_projects as usize,
            messages.iter().filter(|m| m.project_id.is_some()).count()
        );
        let workflows = inline(&app, &key, "workflows", &march()).await;
        let runs: u64 = workflows.iter().map(|w| w["runs"].as_u64().unwrap()).sum();
        let expected_runs = events
            .workflow_runs
            .iter()
            .filter(|r| inside(r.occurred_at))
            .count();
        assert_eq!(runs as usize, expected_runs);
        assert!(runs > 0, "the generated workspace has runs");
        ts
    })
    .await;
}

#[tokio::test]
async fn a_csv_export_is_a_file_behind_a_signed_expiring_link() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        fill(&ts).await;
        let key = usage_key(&ts).await;
        for path in ["assistants", "assistants/csv"] {
            let response = post(&app, &key, path, &march()).await;
            assert_eq!(response.status(), 200);
            let answer: Value = response.json().await.unwrap();
            let data = &answer["data"];
            assert_eq!(data["dataType"], "assistants");
            let file = data["filePath"].as_str().unwrap();
            let (dir, name) = file.rsplit_once('/').unwrap();
            assert_eq!(dir, "assistants-usage/acme");
            let random = name
                .strip_prefix("assistants-usage-2024-03-20-2024-04-01-")
                .and_then(|r| r.strip_suffix(".csv"))
                .unwrap();
            assert!(random.len() == 8 && random.bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(data["dateRange"], json!({"from": "2024-03-20T00:00:00.000+01:00", "to": "2024-04-01T23:59:59.999+02:00"}));
            let url = data["downloadUrl"].as_str().unwrap();
            let csv = reqwest::get(url).await.unwrap();
            assert_eq!(csv.status(), 200);
            assert!(csv.headers()["content-disposition"].to_str().unwrap().contains(name));
            let text = csv.text().await.unwrap();
            assert!(text.starts_with("period_start,period_end,org_id,assistant_id,assistant_name,messages,unique_users,"));
            assert_eq!(text.lines().count() as u64, data["recordCount"].as_u64().unwrap() + 1);

            // Tampered links are refused; the link serves only its own file.
            let tampered = [
                url.replace("expires=", "expires=9"),
                url.replace(random, "AAAAAAAA"),
                format!("{}0", url.trim_end_matches(char::is_alphanumeric)),
                url.replace("path=assistants-usage", "path=users-usage"),
            ];
            for bad in tampered {
                let refused = reqwest::get(&bad).await.unwrap();
                assert_eq!(refused.status(), 403, "{bad}");
            }
        }
        // An expired link (signed with the server's own key, so only the expiry is wrong).
        let files = tally::usage::files::ExportFiles::from_config(&test_config(ts._dir.path())).unwrap();
        let past = jiff::Timestamp::now().as_second() - 1;
        let listing = std::fs::read_dir(ts._dir.path().join("exports/assistants-usage/acme")).unwrap();
        let name = listing.flatten().next().unwrap().file_name().into_string().unwrap();
        let path = format!("assistants-usage/acme/{name}");
        let expired = app.url(&format!("/api/v1/export/file?{}", files.link_query(&path, past)));
        let answer = reqwest::get(&expired).await.unwrap();
        let error = error_of(answer, 403).await;
        assert!(error["message"].as_str().unwrap().contains("expired"));
        let fresh = app.url(&format!("/api/v1/export/file?{}", files.link_query(&path, past + 60)));
        assert_eq!(reqwest::get(&fresh).await.unwrap().status(), 200);
        ts
    })
    .await;
}

#[tokio::test]
async fn dates_are_local_wall_times_and_mistakes_are_named() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        fill(&ts).await;
        let key = usage_key(&ts).await;
        // The same wall times with and without Z mean the same range.
        let with_z = inline(&app, &key, "models", &march()).await;
        let without = inline(
            &app,
            &key,
            "models",
            &range(
                "2024-03-20T00:00:00.000",
                "2024-04-01T23:59:59.999",
                "Europe/Paris",
            ),
        )
        .await;
        assert_eq!(with_z, without);
        let dates = inline(
            &app,
            &key,
            "models",
            &range("2024-03-20", "2024-04-01", "Europe/Paris"),
        )
        .await;
        assert_eq!(dates, with_z, "a date alone covers its whole day");
        // Another explicit offset is refused, naming the field.
        let response = post(
            &app,
            &key,
            "users",
            &range("2024-03-20T00:00:00+01:00", "2024-04-01", "Europe/Paris"),
        )
        .await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        flat_error(&body, "invalid_request_error");
        assert_eq!(body["field"], "from.date");
        assert!(body["message"].as_str().unwrap().contains("+01:00"));
        let bad_zone = post(
            &app,
            &key,
            "users",
            &range("2024-03-20", "2024-04-01", "Europe/Pariss"),
        )
        .await;
        let body: Value = bad_zone.json().await.unwrap();
        assert_eq!(body["field"], "from.timezone");
        let garbled = app
            .client
            .post(app.url("/api/v1/export/users"))
            .bearer_auth(&key)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(garbled.status(), 400);
        let unknown = post(&app, &key, "spaces", &march()).await;
        assert_eq!(unknown.status(), 404);
        flat_error(&unknown.json().await.unwrap(), "not_found");
        // Different zones for from and to.
        let mixed = json!({"from": {"date": "2024-03-20", "timezone": "Asia/Kathmandu"},
            "to": {"date": "2024-04-01", "timezone": "America/New_York"}});
        let answer: Value = post(&app, &key, "users/csv", &mixed)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            answer["data"]["dateRange"],
            json!({"from": "2024-03-20T00:00:00.000+05:45", "to": "2024-04-01T23:59:59.999-04:00"})
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn no_data_is_404_and_too_many_rows_400_in_langdocks_words() {
    each_store(|ts| async move {
        let config = test_config_with(ts._dir.path(), &[("TALLY_EXPORT_MAX_ROWS", "3")]);
        let app = TestApp::spawn_with(&ts, config).await;
        fill(&ts).await;
        let key = usage_key(&ts).await;
        let empty = post(&app, &key, "users", &range("2023-01-01", "2023-01-31", "UTC")).await;
        assert_eq!(empty.status(), 404);
        let body: Value = empty.json().await.unwrap();
        assert_eq!(body, json!({"error": "No data found", "message": "No usage data found for the selected period", "type": "not_found"}));
        let big = post(&app, &key, "users", &march()).await;
        assert_eq!(big.status(), 400);
        let body: Value = big.json().await.unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("Export too large: ") && message.ends_with(" rows exceeds limit of 3. Please narrow the date range."), "{message}");
        assert!(!ts._dir.path().join("exports/users-usage").exists(), "nothing written");
        ts
    })
    .await;
}

#[tokio::test]
async fn access_needs_the_scope_from_a_server_within_the_rate() {
    each_store(|ts| async move {
        let config = test_config_with(
            ts._dir.path(),
            &[("TALLY_USAGE_EXPORT_RATE_PER_MINUTE", "3")],
        );
        let app = TestApp::spawn_with(&ts, config).await;
        fill(&ts).await;
        let key = usage_key(&ts).await;
        let anonymous = app
            .client
            .post(app.url("/api/v1/export/users"))
            .json(&march())
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401);
        flat_error(&anonymous.json().await.unwrap(), "authentication_error");
        let admin = post(&app, &app.admin, "users", &march()).await;
        assert_eq!(admin.status(), 403, "a role is not the scope");
        let body: Value = admin.json().await.unwrap();
        flat_error(&body, "permission_error");
        assert!(body["message"].as_str().unwrap().contains("usage_export"));
        let browser = app
            .client
            .post(app.url("/api/v1/export/users"))
            .bearer_auth(&key)
            .header("origin", "https://evil.example")
            .json(&march())
            .send()
            .await
            .unwrap();
        assert_eq!(browser.status(), 403);
        assert!(browser.text().await.unwrap().contains("browser origin"));
        for _ in 0..3 {
            assert_eq!(
                post(&app, &key, "models/json", &march()).await.status(),
                200
            );
        }
        let limited = post(&app, &key, "models/json", &march()).await;
        assert_eq!(limited.status(), 429);
        let wait: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=20).contains(&wait), "{wait}");
        flat_error(&limited.json().await.unwrap(), "rate_limit_error");
        let other = usage_key(&ts).await;
        assert_eq!(
            post(&app, &other, "models/json", &march()).await.status(),
            200,
            "per key"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn each_export_is_recorded_in_the_audit_log() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        fill(&ts).await;
        let key = usage_key(&ts).await;
        let file: Value = post(&app, &key, "projects/csv", &march())
            .await
            .json()
            .await
            .unwrap();
        inline(&app, &key, "workflows", &march()).await;
        let reader = tally_reader(&ts).await;
        let found: Value = app
            .client
            .get(app.url(&format!(
                "/api/v1/w/{WS}/audit/events?action=usage.exported"
            )))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let events = found["data"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        let json_export = &events[0]["metadata"];
        assert_eq!(json_export["data_type"], "workflows");
        assert_eq!(json_export["file_path"], "");
        let csv_export = &events[1]["metadata"];
        assert_eq!(csv_export["data_type"], "projects");
        assert_eq!(csv_export["file_path"], file["data"]["filePath"]);
        assert_eq!(csv_export["record_count"], file["data"]["recordCount"]);
        assert_eq!(csv_export["from"], "2024-03-20T00:00:00.000+01:00");
        assert_eq!(csv_export["to"], "2024-04-01T23:59:59.999+02:00");
        ts
    })
    .await;
}

async fn tally_reader(ts: &TestStore) -> String {
    key(&ts.store, WS, Role::User, vec![Scope::AuditRead]).await
}

#[tokio::test]
async fn exports_go_to_an_s3_bucket_with_presigned_links() {
    let Some(moto) = crate::emulators::moto().await else {
        return;
    };
    crate::emulators::create_bucket(&moto.endpoint, "exports").await;
    let endpoint = moto.endpoint.clone();
    each_store(|ts| {
        let endpoint = endpoint.clone();
        async move {
            let config = test_config_with(
                ts._dir.path(),
                &[
                    ("TALLY_EXPORT_S3_BUCKET", "exports"),
                    ("TALLY_EXPORT_S3_PREFIX", "tally"),
                    ("TALLY_EXPORT_S3_ENDPOINT", &endpoint),
                    ("TALLY_EXPORT_S3_ACCESS_KEY_ID", "testing"),
                    ("TALLY_EXPORT_S3_SECRET_ACCESS_KEY", "testing"),
                    ("TALLY_EXPORT_LINK_TTL_SECONDS", "120"),
                ],
            );
            let app = TestApp::spawn_with(&ts, config).await;
            fill(&ts).await;
            let key = usage_key(&ts).await;
            let answer: Value = post(&app, &key, "models/csv", &march())
                .await
                .json()
                .await
                .unwrap();
            let data = &answer["data"];
            let file = data["filePath"].as_str().unwrap();
            assert!(file.starts_with("models-usage/acme/models-usage-2024-03-20-2024-04-01-"));
            let url = data["downloadUrl"].as_str().unwrap();
            assert!(
                url.starts_with(&format!("{endpoint}/exports/tally/{file}?")),
                "{url}"
            );
            assert!(
                url.contains("X-Amz-Expires=120") && url.contains("X-Amz-Signature="),
                "{url}"
            );
            let csv = reqwest::get(url).await.unwrap();
            assert_eq!(csv.status(), 200);
            let text = csv.text().await.unwrap();
            assert!(text.starts_with("period_start,period_end,org_id,name,provider,requests,"));
            assert_eq!(
                text.lines().count() as u64,
                data["recordCount"].as_u64().unwrap() + 1
            );
            assert!(
                !ts._dir.path().join("exports").exists(),
                "nothing in the local directory"
            );
            ts
        }
    })
    .await;
    drop(moto);
}
