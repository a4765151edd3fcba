//! Log streams managed in the console's settings: create, change, pause, resume, send a test
//! event and delete, each recorded as the member's action; secrets never shown.

use crate::console::{ADMIN, Browser, PASSWORD, seed};
use crate::support::*;
use serde_json::Value;

const SECRET: &str = "whsec-console-0123456789";

/// The id of the only stream the settings page lists.
fn stream_id(html: &str) -> String {
    let at = html.find("id=\"stream-ls_").expect("a stream row") + 11;
    html[at..at + 19].to_string()
}

#[tokio::test]
async fn an_admin_manages_log_streams_in_the_settings() {
    each_store(|ts| async move {
        let config = test_config_with(ts._dir.path(), &[("TALLY_STREAMS_ALLOW_PRIVATE", "true")]);
        let app = TestApp::spawn_with(&ts, config).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        b.login(ADMIN, PASSWORD).await;
        let csrf = b.csrf("/w/acme/settings").await;
        let hook = format!("{{\"url\": \"http://127.0.0.1:9/hook\", \"secret\": \"{SECRET}\"}}");

        let refused = b
            .post(
                "/w/acme/settings/streams",
                &[
                    ("csrf", &csrf),
                    ("kind", "https"),
                    ("config", "{\"url\": 3}"),
                ],
            )
            .await;
        assert_eq!(refused.status(), 400);
        assert!(refused.text().await.unwrap().contains("Stream not saved"));
        let not_json = b
            .post(
                "/w/acme/settings/streams",
                &[("csrf", &csrf), ("kind", "https"), ("config", "url=x")],
            )
            .await;
        assert!(
            not_json
                .text()
                .await
                .unwrap()
                .contains("Config must be a JSON object")
        );
        let forged = b
            .post(
                "/w/acme/settings/streams",
                &[("csrf", "0"), ("kind", "https"), ("config", &hook)],
            )
            .await;
        assert_eq!(forged.status(), 403, "CSRF token required");

        let created = b
            .post(
                "/w/acme/settings/streams",
                &[
                    ("csrf", &csrf),
                    ("kind", "https"),
                    ("config", &hook),
                    ("start", "now"),
                ],
            )
            .await;
        assert_eq!(created.status(), 200);
        let html = created.text().await.unwrap();
        assert!(html.contains("created"), "{html}");
        assert!(!html.contains(SECRET), "the secret is never shown");
        let id = stream_id(&html);
        let path = format!("/w/acme/settings/streams/{id}");

        let paused = b
            .post(&path, &[("csrf", &csrf), ("action", "pause")])
            .await
            .text()
            .await
            .unwrap();
        assert!(paused.contains(&format!("class=\"stream-paused\" id=\"stream-{id}\"")));
        let resumed = b
            .post(&path, &[("csrf", &csrf), ("action", "resume")])
            .await
            .text()
            .await
            .unwrap();
        assert!(resumed.contains(&format!("class=\"stream-active\" id=\"stream-{id}\"")));
        let tested = b
            .post(&path, &[("csrf", &csrf), ("action", "test")])
            .await
            .text()
            .await
            .unwrap();
        assert!(
            tested.contains("test event through log stream") && tested.contains("failed"),
            "nothing listens on port 9"
        );
        let moved = "{\"url\": \"http://127.0.0.1:10/hook\"}";
        let updated = b
            .post(
                &path,
                &[("csrf", &csrf), ("action", "update"), ("config", moved)],
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(updated.contains("127.0.0.1:10/hook") && updated.contains("saved"));

        // The secret was kept: the API shows the stream without it, and it still signs.
        let api: Value = app
            .client
            .get(app.url(&format!("/api/v1/w/{WS}/audit/streams/{id}")))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(api["config"]["url"], "http://127.0.0.1:10/hook");
        assert!(!api.to_string().contains(SECRET));

        let deleted = b
            .post(&path, &[("csrf", &csrf), ("action", "delete")])
            .await
            .text()
            .await
            .unwrap();
        assert!(deleted.contains("deleted") && deleted.contains("No log streams."));
        let gone = b.post(&path, &[("csrf", &csrf), ("action", "pause")]).await;
        assert_eq!(gone.status(), 400);

        let reader = key(
            &ts.store,
            WS,
            tally::model::Role::User,
            vec![tally::model::Scope::AuditRead],
        )
        .await;
        let log: Value = app
            .client
            .get(app.url(&format!("/api/v1/w/{WS}/audit/events?q=stream&limit=100")))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let actions: Vec<&str> = log["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"].as_str().unwrap().starts_with("stream."))
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "stream.deleted",
                "stream.updated",
                "stream.resumed",
                "stream.paused",
                "stream.created"
            ]
        );
        let created = log["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "stream.created")
            .unwrap();
        assert_eq!(created["actor"]["type"], "user");
        assert_eq!(created["actor"]["id"], "u_ada");
        ts
    })
    .await;
}
