//! The workspace's privacy mode on every outward surface: the analytics export, the dashboard,
//! its CSVs, the monthly report and the usage export.

use crate::console::{ADMIN, Browser, PASSWORD, USER, seed, zip_files};
use crate::support::*;
use serde_json::Value;
use tally::model::Privacy;
use tally::privacy::Policy;
use tally::storage::WorkspacePatch;

async fn set_privacy(ts: &TestStore, privacy: Privacy) -> tally::model::Workspace {
    let patch = WorkspacePatch {
        privacy: Some(privacy),
        ..WorkspacePatch::default()
    };
    ts.store
        .update_workspace(WS, &patch)
        .await
        .unwrap()
        .unwrap()
}

/// The pseudonym the server gives `user` in the test workspace.
fn pseudonym_of(ts: &TestStore, ws: &tally::model::Workspace, user: &str) -> String {
    let config = test_config(ts._dir.path());
    Policy::of(ws, &config).unwrap().pseudonym(user)
}

async fn export(app: &TestApp, table: &str) -> reqwest::Response {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let start = today.checked_sub(jiff::Span::new().days(60)).unwrap();
    app.client
        .get(app.url(&format!(
            "/api/v1/w/{WS}/analytics/export?table={table}&startDate={start}&endDate={today}&format=json"
        )))
        .bearer_auth(&app.builder)
        .send()
        .await
        .unwrap()
}

async fn rows(app: &TestApp, table: &str) -> Vec<Value> {
    let response = export(app, table).await;
    assert_eq!(response.status(), 200, "{table}");
    response.json().await.unwrap()
}

/// An agent owned by the admin, and a key that may export usage.
async fn usage_setup(ts: &TestStore) -> String {
    let agents = serde_json::json!([{"agentId": "a1", "name": "Helper", "settings": "published",
        "authorEmails": [ADMIN]}]);
    let records = tally::ingest::directory::validate_records(
        tally::ingest::directory::DirectoryKind::Agents,
        agents.as_array().unwrap(),
        i64::MAX / 4,
    )
    .unwrap();
    ts.store
        .upsert_directory(WS, tally::ingest::directory::DirectoryKind::Agents, records)
        .await
        .unwrap();
    key(
        &ts.store,
        WS,
        tally::model::Role::User,
        vec![tally::model::Scope::UsageExport],
    )
    .await
}

async fn usage(app: &TestApp, key: &str, data: &str) -> reqwest::Response {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let start = today.checked_sub(jiff::Span::new().days(60)).unwrap();
    let body = serde_json::json!({"from": {"date": start.to_string(), "timezone": "UTC"},
        "to": {"date": today.to_string(), "timezone": "UTC"}});
    app.client
        .post(app.url(&format!("/api/v1/export/{data}/json")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn last_month() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let last = today
        .first_of_month()
        .checked_sub(jiff::Span::new().days(1))
        .unwrap();
    last.strftime("%Y-%m").to_string()
}

#[tokio::test]
async fn pseudonymized_replaces_people_by_one_stable_pseudonym_on_every_surface() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let ws = set_privacy(&ts, Privacy::Pseudonymized).await;
        let bob = pseudonym_of(&ts, &ws, "u_bob");
        assert!(bob.starts_with("u_") && bob.len() == 18 && bob != "u_bob");

        let users = rows(&app, "users").await;
        let row = users.iter().find(|r| r["userId"] == bob.as_str()).unwrap();
        assert_eq!(row["userName"], bob.as_str(), "the name is the pseudonym");
        assert_eq!(row["userEmail"], Value::Null);
        assert_eq!(row["groups"], Value::Null);
        assert_eq!(row["messageCount"], 3, "counts stay exact");
        let messages = rows(&app, "messages").await;
        assert!(messages.iter().all(|m| m["userId"] == bob.as_str()));
        assert!(messages.iter().all(|m| m["userEmail"].is_null()));

        let mut b = Browser::new(&app);
        b.login(ADMIN, PASSWORD).await;
        let top = b.get("/w/acme/analytics/top_users.csv?days=30").await;
        assert_eq!(top.status(), 200);
        let top = top.text().await.unwrap();
        assert!(top.contains(&format!("{bob},{bob},,")), "{top}");
        let html = b
            .get("/w/acme/analytics?days=30")
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains(&bob));
        assert!(
            !html.contains(USER) && !html.contains("u_bob"),
            "no identity on the page"
        );

        let zip = b
            .get(&format!(
                "/w/acme/analytics/report/{}.zip?includeInactive=true",
                last_month()
            ))
            .await;
        assert_eq!(zip.status(), 200);
        let files = zip_files(&zip.bytes().await.unwrap());
        for (name, text) in &files {
            assert!(!text.contains("@acme.io"), "no email in {name}");
            assert!(
                !text.contains("u_bob") && !text.contains("u_ada"),
                "no user id in {name}"
            );
        }
        assert!(
            files["users.csv"].contains(&bob),
            "the same pseudonym in the report"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn excluded_refuses_user_level_tables_and_empties_ids_elsewhere() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        set_privacy(&ts, Privacy::Excluded).await;

        let refused = error_of(export(&app, "users").await, 403).await;
        assert_eq!(refused["type"], "permission_error");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("privacy setting is excluded")
        );
        let messages = rows(&app, "messages").await;
        assert!(!messages.is_empty());
        assert!(
            messages
                .iter()
                .all(|m| m["userId"].is_null() && m["userEmail"].is_null())
        );
        assert!(
            !rows(&app, "usage_metrics").await.is_empty(),
            "aggregates still leave"
        );

        let mut b = Browser::new(&app);
        b.login(ADMIN, PASSWORD).await;
        let top = b.get("/w/acme/analytics/top_users.csv?days=30").await;
        assert_eq!(top.status(), 403);
        assert!(top.text().await.unwrap().contains("excluded"));
        let html = b
            .get("/w/acme/analytics?days=30")
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"withheld\""));
        assert!(!html.contains(USER) && !html.contains("u_bob"));
        assert_eq!(
            b.get("/w/acme/analytics/top_agents.csv?days=30")
                .await
                .status(),
            200
        );

        let zip = b
            .get(&format!(
                "/w/acme/analytics/report/{}.zip?includeInactive=true",
                last_month()
            ))
            .await;
        assert_eq!(zip.status(), 200);
        let files = zip_files(&zip.bytes().await.unwrap());
        assert!(!files.contains_key("users.csv"));
        assert!(files["PRIVACY.txt"].contains("excluded"));
        for (name, text) in &files {
            assert!(
                !text.contains("@acme.io") && !text.contains("u_bob"),
                "{name}"
            );
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn full_shows_people_as_they_are() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let users = rows(&app, "users").await;
        let bob = users.iter().find(|r| r["userId"] == "u_bob").unwrap();
        assert_eq!(bob["userEmail"], USER);
        let key = usage_setup(&ts).await;
        let answer: Value = usage(&app, &key, "users").await.json().await.unwrap();
        let rows = answer["data"].as_array().unwrap();
        let bob = rows.iter().find(|r| r["user_id"] == "u_bob").unwrap();
        assert_eq!(bob["email"], USER);
        let answer: Value = usage(&app, &key, "assistants").await.json().await.unwrap();
        assert_eq!(answer["data"][0]["assistant_owner_id"], "u_ada");
        assert_eq!(answer["data"][0]["assistant_owner_email"], ADMIN);
        ts
    })
    .await;
}
