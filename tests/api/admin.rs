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
