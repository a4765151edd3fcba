//! Settings and keys over HTTP, and who may use them.

use crate::support::*;
use serde_json::{Value, json};

#[tokio::test]
async fn settings_are_read_and_patched_by_admins_only() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let url = app.url("/api/v1/w/acme/settings");
        let settings: Value = app
            .client
            .get(&url)
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(settings["timezone"], "UTC");
        assert_eq!(settings["privacy"], "full");
        assert_eq!(settings["plan"], "enterprise");
        error_of(
            app.client
                .get(&url)
                .bearer_auth(&app.builder)
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;
        let error = error_of(
            app.client
                .get(&url)
                .bearer_auth(&app.user)
                .send()
                .await
                .unwrap(),
            403,
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().contains("role admin"),
            "{error}"
        );
        let patched: Value = app
            .client
            .patch(&url)
            .bearer_auth(&app.admin)
            .json(&json!({"timezone": "Australia/Lord_Howe", "privacy": "pseudonymized"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(patched["timezone"], "Australia/Lord_Howe");
        assert_eq!(patched["privacy"], "pseudonymized");
        let error = error_of(
            app.client
                .patch(&url)
                .bearer_auth(&app.admin)
                .json(&json!({"timezone": "Mars/Base", "plan": "free"}))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        let fields: Vec<&str> = error["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["plan", "timezone"]);
        assert_eq!(error["field"], "plan");
        let error = error_of(
            app.client
                .patch(&url)
                .bearer_auth(&app.admin)
                .body("nope")
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("not valid JSON")
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn keys_are_created_once_listed_without_secrets_and_revoked() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let url = app.url("/api/v1/w/acme/keys");
        let response = app.client.post(&url).bearer_auth(&app.admin)
            .json(&json!({"name": "exporter", "role": "builder", "scopes": ["usage_export"]})).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        let secret = created["secret"].as_str().unwrap().to_string();
        assert_eq!(created["role"], "builder");
        assert_eq!(created["scopes"], json!(["usage_export"]));
        for field in ["id", "name", "createdAt", "expiresAt"] {
            assert!(created.get(field).is_some(), "{field}");
        }
        let settings = app.client.get(app.url("/api/v1/w/acme/settings")).bearer_auth(&secret).send().await.unwrap();
        assert_eq!(settings.status(), 403, "a builder is not an admin");
        let listing = app.client.get(&url).bearer_auth(&app.admin).send().await.unwrap().text().await.unwrap();
        assert!(!listing.contains(&secret), "listings never show secrets");
        let listing: Value = serde_json::from_str(&listing).unwrap();
        assert_eq!(listing["data"].as_array().unwrap().len(), 5);
        assert!(listing["data"][0].get("lastUsedAt").is_some());
        let id = created["id"].as_str().unwrap();
        let revoked = app.client.delete(app.url(&format!("/api/v1/w/acme/keys/{id}"))).bearer_auth(&app.admin).send().await.unwrap();
        assert_eq!(revoked.status(), 204);
        let after = app.client.get(app.url("/api/v1/w/acme/keys")).bearer_auth(&secret).send().await.unwrap();
        let error = error_of(after, 401).await;
        assert!(error["message"].as_str().unwrap().contains("revoked"));
        error_of(app.client.delete(app.url(&format!("/api/v1/w/acme/keys/{id}"))).bearer_auth(&app.admin).send().await.unwrap(), 404).await;
        let error = error_of(app.client.post(&url).bearer_auth(&app.admin)
            .json(&json!({"name": "x", "role": "owner", "scopes": ["everything"], "expiresAt": "2001-01-01T00:00:00Z"})).send().await.unwrap(), 400).await;
        let fields: Vec<&str> = error["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["role", "scopes[0]", "expiresAt"]);
        ts
    })
    .await;
}

#[tokio::test]
async fn keys_of_one_workspace_never_reach_another() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        create_workspace(&ts.store, "other", tally::model::Plan::Enterprise).await;
        for path in ["/api/v1/w/other/settings", "/api/v1/w/other/keys"] {
            let error = error_of(
                app.client
                    .get(app.url(path))
                    .bearer_auth(&app.admin)
                    .send()
                    .await
                    .unwrap(),
                404,
            )
            .await;
            assert_eq!(error["message"], "workspace not found");
        }
        let response = app
            .client
            .patch(app.url("/api/v1/w/other/settings"))
            .bearer_auth(&app.admin)
            .json(&json!({"name": "pwned"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(
            ts.store.workspace("other").await.unwrap().unwrap().name,
            "other Inc"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn the_legacy_endpoint_is_gone_and_names_its_successor() {
    let ts = sqlite_store().await;
    let app = TestApp::spawn(&ts).await;
    let response = app
        .client
        .get(app.url("/api/v1/w/acme/workspace-usage"))
        .bearer_auth(&app.builder)
        .send()
        .await
        .unwrap();
    let error = error_of(response, 410).await;
    assert_eq!(error["type"], "endpoint_removed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("analytics/export")
    );
    ts.cleanup().await;
}

#[tokio::test]
async fn tallys_own_actions_are_in_the_audit_log() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let reader = key(&ts.store, WS, tally::model::Role::User, vec![tally::model::Scope::AuditRead]).await;
        let settings = app.url("/api/v1/w/acme/settings");
        let patched = app.client.patch(&settings).bearer_auth(&app.admin).json(&json!({"timezone": "Asia/Kolkata"})).send().await.unwrap();
        assert_eq!(patched.status(), 200);
        let created: Value = app.client.post(app.url("/api/v1/w/acme/keys")).bearer_auth(&app.admin)
            .json(&json!({"name": "exporter", "role": "builder"})).send().await.unwrap().json().await.unwrap();
        let id = created["id"].as_str().unwrap();
        let revoked = app.client.delete(app.url(&format!("/api/v1/w/acme/keys/{id}"))).bearer_auth(&app.admin).send().await.unwrap();
        assert_eq!(revoked.status(), 204);
        let export = app.client.get(app.url("/api/v1/w/acme/analytics/export?table=users&startDate=2026-03-01&endDate=2026-03-02"))
            .bearer_auth(&app.builder).send().await.unwrap();
        assert_eq!(export.status(), 200);
        let search = |q: &'static str| app.client.get(app.url(&format!("/api/v1/w/acme/audit/events?{q}"))).bearer_auth(&reader).send();
        let found: Value = search("limit=100").await.unwrap().json().await.unwrap();
        let actions: Vec<&str> = found["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for action in ["settings.updated", "api_key.created", "api_key.revoked", "analytics.exported", "audit_log.viewed"] {
            assert!(actions.contains(&action), "{action} missing from {actions:?} on {}", ts.backend());
        }
        let created_event = found["data"].as_array().unwrap().iter().find(|e| e["action"] == "api_key.created").unwrap();
        assert_eq!(created_event["actor"]["type"], "api_key");
        assert_eq!(created_event["context"]["location"], "127.0.0.1");
        assert_eq!(created_event["targets"][0]["id"], id);
        assert_eq!(created_event["metadata"]["role"], "builder");
        search("limit=1").await.unwrap();
        let again: Value = search("action=audit_log.viewed").await.unwrap().json().await.unwrap();
        assert_eq!(again["data"].as_array().unwrap().len(), 1, "viewed at most once an hour per key");
        ts
    })
    .await;
}
