//! Operational endpoints, the OpenAPI document, and answers for unknown routes and methods.

use crate::support::*;
use serde_json::Value;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let health: Value = app
            .client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok");
        let ready: Value = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["store"], ts.backend());
        app.post_events(&serde_json::json!([message("m1", "2026-03-01T10:00:00Z")]))
            .await;
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("tally_ingest_events_accepted_total 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("route=\"/api/v1/w/{wId}/events\",status=\"200\"} 1"),
            "{metrics}"
        );
        assert!(!metrics.contains("acme"), "no workspace in labels");
        ts
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let ts = sqlite_store().await;
    let app = TestApp::spawn(&ts).await;
    let error = error_of(
        app.client
            .get(app.url("/api/v1/nope"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert_eq!(error["type"], "not_found");
    let error = error_of(
        app.client
            .delete(app.url("/api/v1/w/acme/events"))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("DELETE"));
    ts.cleanup().await;
}

/// Every documented route is served (a request reaches a handler, not the fallbacks), and the
/// committed copy of the document is the one the code generates.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let ts = sqlite_store().await;
    let app = TestApp::spawn(&ts).await;
    let served: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&served, tally::web::openapi_document());
    let routes = tally::web::api().routes;
    assert!(routes.len() >= 14);
    for route in &routes {
        let path = route
            .path
            .replace("{wId}", "acme")
            .replace("{keyId}", "key_x");
        let response = app
            .client
            .request(route.method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let fallback = status == 405
            || (status == 404
                && body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("openapi.json")));
        assert!(
            !fallback,
            "{} {} is documented but not served ({status} {body})",
            route.method, route.path
        );
        let doc = &served["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        assert!(
            doc["summary"].is_string(),
            "{} {} is served but not documented",
            route.method,
            route.path
        );
    }
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    let committed: Value = serde_json::from_str(&committed).unwrap();
    assert!(
        committed == served,
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
    );
    ts.cleanup().await;
}
