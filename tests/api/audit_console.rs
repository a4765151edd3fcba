//! The console's audit log viewer over HTTP: search and filters, paging by cursor, the CSV
//! download, what it records, and who is refused.

use serde_json::{Value, json};
use tally::ingest::directory::{DirectoryKind, validate_records};
use tally::model::{Plan, Role, Scope};
use tally::storage::WorkspacePatch;

use crate::console::{ADMIN, Browser, PASSWORD, seed};
use crate::support::*;

/// Four events of different kinds, an hour apart from 2026-11-20 10:00 UTC.
fn events() -> Value {
    json!([
        {"id": "ev_space", "action": "space.deleted", "occurredAt": "2026-11-20T10:00:00Z",
         "actor": {"type": "user", "id": "u_cyd", "name": "Cyd", "email": "cyd@acme.io"},
         "targets": [{"type": "space", "id": "s1", "name": "Finance"}],
         "context": {"location": "203.0.113.7", "userAgent": "Mozilla/5.0"},
         "metadata": {"reason": "cleanup"}},
        {"id": "ev_agent", "action": "agent.executed", "occurredAt": "2026-11-20T11:00:00Z",
         "actor": {"type": "user", "id": "u_dee", "name": "Dee"},
         "targets": [{"type": "agent", "id": "a1", "name": "Helper"}],
         "context": {"location": "203.0.113.8"},
         "metadata": {"actor_type": "agent", "initiating_user_id": "u_dee"}},
        {"id": "ev_key", "action": "api_key.created", "occurredAt": "2026-11-20T12:00:00Z",
         "actor": {"type": "api_key", "id": "k1", "name": "ci"},
         "targets": [{"type": "api_key", "id": "k2"}],
         "context": {"location": "198.51.100.1"}, "metadata": {"role": "builder"}},
        {"id": "ev_sync", "action": "directory.synced", "occurredAt": "2026-11-20T13:00:00Z",
         "actor": {"type": "system", "id": "scim", "name": "<b>Directory</b> sync"},
         "targets": [{"type": "workspace", "id": "acme"}],
         "context": {"location": "internal"}, "metadata": {"members": 4}}
    ])
}

async fn post_audit(app: &TestApp, events: &Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/w/{WS}/audit/events")))
        .bearer_auth(&app.ingest)
        .json(events)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A logged-in admin in a workspace holding [`events`].
async fn admin_with_events(ts: &TestStore, app: &TestApp) -> Browser {
    seed(ts, app).await;
    post_audit(app, &events()).await;
    let mut b = Browser::new(app);
    assert_eq!(b.login(ADMIN, PASSWORD).await.status(), 303);
    b
}

/// The event ids of the result rows, in page order.
fn row_ids(html: &str) -> Vec<String> {
    html.split("data-id=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

/// Only the ids of [`events`] (the console's own actions are in the log too).
fn ours(html: &str) -> Vec<String> {
    row_ids(html)
        .into_iter()
        .filter(|id| id.starts_with("ev_"))
        .collect()
}

/// The `href` of the element with this id, unescaped.
fn href_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag = &html[html[..at].rfind('<')?..at + html[at..].find('>')?];
    let start = tag.find("href=\"")? + 6;
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].replace("&#38;", "&").replace("&amp;", "&"))
}

async fn page(b: &mut Browser, query: &str) -> String {
    let response = b.get(&format!("/w/acme/audit{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response.text().await.unwrap()
}

/// The admin's actions of this kind in the log, newest first, through the API (whose own
/// searches record views by their key).
async fn recorded(ts: &TestStore, app: &TestApp, action: &str) -> Vec<Value> {
    let reader = key(&ts.store, WS, Role::User, vec![Scope::AuditRead]).await;
    let found: Value = app
        .client
        .get(app.url(&format!("/api/v1/w/{WS}/audit/events?action={action}")))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_admin = |e: &&Value| e["actor"]["id"] == "u_ada";
    found["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(by_admin)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_admin_sees_the_events_newest_first_and_opening_is_recorded() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut b = admin_with_events(&ts, &app).await;
        let dashboard = b.get("/w/acme/analytics").await.text().await.unwrap();
        assert!(dashboard.contains("href=\"/w/acme/audit\" id=\"nav-audit\""));
        let html = page(&mut b, "").await;
        for id in ["audit-search", "audit-results", "audit-export"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert_eq!(ours(&html), ["ev_sync", "ev_key", "ev_agent", "ev_space"]);
        assert!(
            html.contains("2026-11-20 10:00:00 +00:00"),
            "times in the zone"
        );
        assert!(html.contains("space s1 (Finance)") && html.contains("203.0.113.7"));
        assert!(html.contains("Mozilla/5.0") && html.contains("cleanup"));
        assert!(
            html.contains("user · agent"),
            "an AI agent's action is marked"
        );
        assert!(!html.contains("<b>Directory</b>"), "event data is escaped");
        assert!(html.contains("&#60;b&#62;Directory&#60;/b&#62; sync"));
        assert!(row_ids(&html).contains(&"ev_space".to_string()));
        assert!(href_of(&html, "audit-next").is_none(), "one page");
        let viewed = recorded(&ts, &app, "audit_log.viewed").await;
        assert_eq!(viewed.len(), 1, "{viewed:?}");
        let event = &viewed[0];
        assert_eq!(event["actor"], json!({"type": "user", "id": "u_ada"}));
        assert_eq!(event["metadata"]["page"], "first");
        assert_eq!(event["targets"][0]["id"], "acme");
        page(&mut b, "?q=finance").await;
        let viewed = recorded(&ts, &app, "audit_log.viewed").await;
        assert_eq!(viewed.len(), 2, "every page load is recorded");
        assert_eq!(viewed[0]["metadata"]["query"], "q=finance");
        ts
    })
    .await;
}

#[tokio::test]
async fn full_text_search_and_each_filter_narrow_the_results() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut b = admin_with_events(&ts, &app).await;
        let patch = WorkspacePatch {
            timezone: Some("Asia/Kathmandu".into()),
            ..WorkspacePatch::default()
        };
        ts.store.update_workspace(WS, &patch).await.unwrap();
        let cases: &[(&str, &[&str])] = &[
            ("q=FINANCE", &["ev_space"]),
            ("q=cleanup+203.0.113.7", &["ev_space"]),
            ("q=helper", &["ev_agent"]),
            ("action=api_key.created", &["ev_key"]),
            ("actor=dee", &["ev_agent"]),
            ("actor=cyd%40acme.io", &["ev_space"]),
            ("actorType=agent", &["ev_agent"]),
            ("actorType=system", &["ev_sync"]),
            ("actorType=api_key", &["ev_key"]),
            ("target=finance", &["ev_space"]),
            ("target=k2", &["ev_key"]),
            // Kathmandu is UTC+05:45: 16:45 local is 11:00 UTC; `to` is excluded.
            (
                "from=2026-11-20T16:45&to=2026-11-20T18:45",
                &["ev_key", "ev_agent"],
            ),
            (
                "from=2026-11-20T11:00:00Z&to=2026-11-20T13:00:00Z",
                &["ev_key", "ev_agent"],
            ),
            (
                "from=2026-11-20&to=2026-11-21",
                &["ev_sync", "ev_key", "ev_agent", "ev_space"],
            ),
            ("to=2026-11-20", &[]),
            ("q=cleanup&actorType=agent", &[]),
            (
                "q=&action=&actor=&actorType=&target=&from=&to=&limit=50",
                &["ev_sync", "ev_key", "ev_agent", "ev_space"],
            ),
        ];
        for (query, expected) in cases {
            let html = page(&mut b, &format!("?{query}")).await;
            assert_eq!(ours(&html), *expected, "{query}");
        }
        let html = page(&mut b, "?from=2026-11-20T11:00:00Z&actorType=agent").await;
        assert!(
            html.contains("name=\"from\" value=\"2026-11-20T16:45:00\""),
            "the form shows the time in the workspace's zone"
        );
        assert!(html.contains("<option value=\"agent\" selected>"));
        let export = href_of(&html, "audit-export").unwrap();
        assert_eq!(
            export,
            "/w/acme/audit/export.csv?from=2026-11-20T11%3A00%3A00Z&actorType=agent"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn paging_follows_the_cursor_without_overlap() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut b = admin_with_events(&ts, &app).await;
        let many: Vec<Value> = (0..7)
            .map(|i| {
                json!({"id": format!("ev_page_{i}"), "action": "thing.paged",
                    "occurredAt": format!("2026-11-21T0{i}:00:00Z"),
                    "actor": {"type": "system", "id": "pager"}, "targets": [],
                    "context": {"location": "internal"}})
            })
            .collect();
        post_audit(&app, &json!(many)).await;
        let mut seen = Vec::new();
        let mut html = page(&mut b, "?action=thing.paged&limit=3").await;
        assert!(href_of(&html, "audit-newest").is_none(), "the first page");
        let mut pages = 1;
        loop {
            let ids = ours(&html);
            assert!(!ids.is_empty() && ids.len() <= 3, "{ids:?}");
            seen.extend(ids);
            let Some(next) = href_of(&html, "audit-next") else {
                break;
            };
            assert!(next.contains("action=thing.paged") && next.contains("limit=3"));
            assert!(next.contains("cursor="), "{next}");
            let response = b.get(&next).await;
            assert_eq!(response.status(), 200);
            html = response.text().await.unwrap();
            assert!(href_of(&html, "audit-newest").is_some());
            pages += 1;
        }
        assert_eq!(pages, 3);
        let expected: Vec<String> = (0..7).rev().map(|i| format!("ev_page_{i}")).collect();
        assert_eq!(seen, expected, "newest first, each once");
        let viewed = recorded(&ts, &app, "audit_log.viewed").await;
        assert_eq!(viewed.len(), 3, "paging is recorded too");
        assert_eq!(viewed[0]["metadata"]["page"], "next");
        ts
    })
    .await;
}

#[tokio::test]
async fn the_csv_download_has_the_export_columns_and_is_recorded() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut b = admin_with_events(&ts, &app).await;
        let response = b.get("/w/acme/audit/export.csv?target=finance").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-disposition"],
            "attachment; filename=\"tally_audit_log.csv\""
        );
        assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = response.text().await.unwrap();
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines[0],
            "id,leafIndex,occurredAt,action,actorType,actorId,actorName,targets,location,userAgent,metadata"
        );
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(
            lines[1].starts_with("ev_space,0,2026-11-20T10:00:00Z,space.deleted,user,u_cyd,Cyd,"),
            "{}",
            lines[1]
        );
        let reader = key(&ts.store, WS, Role::User, vec![Scope::AuditRead]).await;
        let api = app
            .client
            .get(app.url("/api/v1/w/acme/audit/export?format=csv&target=finance"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(csv, api, "the same rows as the API's export");
        let all = b.get("/w/acme/audit/export.csv").await.text().await.unwrap();
        assert!(all.contains("ev_sync") && all.contains("user.login"));
        let by_admin = recorded(&ts, &app, "audit_log.exported").await;
        assert_eq!(by_admin.len(), 2, "{by_admin:?}");
        assert_eq!(by_admin[1]["metadata"]["query"], "target=finance");
        assert_eq!(by_admin[1]["metadata"]["format"], "csv");
        ts
    })
    .await;
}

#[tokio::test]
async fn members_who_are_not_admins_and_other_plans_are_refused() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut anonymous = Browser::new(&app);
        let redirected = anonymous.get("/w/acme/audit").await;
        assert_eq!(redirected.status(), 303);
        assert_eq!(redirected.headers()["location"], "/login");
        let mut b = admin_with_events(&ts, &app).await;
        for plan in [Plan::Pro, Plan::Free] {
            let patch = WorkspacePatch {
                plan: Some(plan),
                ..WorkspacePatch::default()
            };
            ts.store.update_workspace(WS, &patch).await.unwrap();
            for path in ["/w/acme/audit", "/w/acme/audit/export.csv"] {
                let refused = b.get(path).await;
                assert_eq!(refused.status(), 403, "{path}");
                let text = refused.text().await.unwrap();
                assert!(
                    text.contains("Audit logs need the enterprise plan"),
                    "{text}"
                );
                assert!(!text.contains("ev_space"));
            }
            let dashboard = b.get("/w/acme/analytics").await.text().await.unwrap();
            assert!(!dashboard.contains("nav-audit"), "no link below enterprise");
        }
        let patch = WorkspacePatch {
            plan: Some(Plan::Enterprise),
            ..WorkspacePatch::default()
        };
        ts.store.update_workspace(WS, &patch).await.unwrap();
        assert_eq!(b.get("/w/acme/audit").await.status(), 200);
        let demoted = json!([{"userId": "u_ada", "role": "user"}]);
        let records = validate_records(
            DirectoryKind::Members,
            demoted.as_array().unwrap(),
            i64::MAX / 4,
        )
        .unwrap();
        ts.store
            .upsert_directory(WS, DirectoryKind::Members, records)
            .await
            .unwrap();
        for path in ["/w/acme/audit", "/w/acme/audit/export.csv"] {
            let refused = b.get(path).await;
            assert_eq!(refused.status(), 403, "{path}");
            assert!(refused.text().await.unwrap().contains("Only active admins"));
        }
        let viewed = recorded(&ts, &app, "audit_log.viewed").await;
        assert_eq!(viewed.len(), 1, "only the allowed view is recorded");
        ts
    })
    .await;
}

#[tokio::test]
async fn bad_parameters_get_a_notice_not_an_error() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut b = admin_with_events(&ts, &app).await;
        let cases = [
            ("from=yesterday&q=finance", "from: must be a date"),
            ("to=2026-13-01", "to: must be a date"),
            (
                "actorType=robot",
                "actorType: must be one of user|api_key|system|agent",
            ),
            ("limit=5000", "limit: must be a whole number from 1 to 1000"),
            ("limit=0", "limit: must be a whole number"),
            ("cursor=%21%21", "cursor: is not a cursor"),
            ("sort=asc", "sort: unknown parameter"),
            ("from=2026-11-21&to=2026-11-20", "to: must be after from"),
        ];
        for (query, problem) in cases {
            let response = b.get(&format!("/w/acme/audit?{query}")).await;
            assert_eq!(response.status(), 400, "{query}");
            let html = response.text().await.unwrap();
            assert!(html.contains("id=\"notice\""), "{query}");
            assert!(html.contains(problem), "{query}: {html}");
            assert!(html.contains("id=\"audit-search\""), "the form stays");
            assert!(!html.contains("id=\"audit-results\""), "{query}");
        }
        let kept = b.get("/w/acme/audit?from=yesterday&q=finance").await;
        assert!(
            kept.text()
                .await
                .unwrap()
                .contains("name=\"q\" value=\"finance\"")
        );
        let export = b.get("/w/acme/audit/export.csv?from=yesterday").await;
        assert_eq!(export.status(), 400);
        assert!(
            export
                .text()
                .await
                .unwrap()
                .contains("from: must be a date")
        );
        assert!(recorded(&ts, &app, "audit_log.viewed").await.is_empty());
        assert!(recorded(&ts, &app, "audit_log.exported").await.is_empty());
        ts
    })
    .await;
}
