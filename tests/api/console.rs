//! The admin console over HTTP: login, sessions, CSRF, the failed-login limit, the dashboard's
//! CSVs and the monthly ZIP report.

use crate::support::*;
use serde_json::json;
use std::io::Read;
use tally::access::hash_password;
use tally::ingest::directory::{DirectoryKind, validate_records};
use tally::model::{Role, Scope};

pub const ADMIN: &str = "ada@acme.io";
pub const USER: &str = "bob@acme.io";
pub const PASSWORD: &str = "correct horse battery";

/// A browser: one cookie jar (the session cookie), no redirects followed.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            base: app.base.clone(),
            client,
            cookie: None,
        }
    }

    pub fn keep(&mut self, response: &reqwest::Response) {
        if let Some(v) = response.headers().get("set-cookie") {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap().to_string();
            let set = pair.split_once('=').is_some_and(|(_, v)| !v.is_empty());
            self.cookie = set.then_some(pair);
        }
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        let response = request.send().await.unwrap();
        self.keep(&response);
        response
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        let response = request.send().await.unwrap();
        self.keep(&response);
        response
    }

    /// The CSRF token of the page at `path`.
    pub async fn csrf(&mut self, path: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
        html[at..at + 64].to_string()
    }

    pub async fn login(&mut self, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/login").await;
        self.post(
            "/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }
}

/// Members (an admin and a user, both with passwords) and activity: today, 20 and 40 days ago.
pub async fn seed(ts: &TestStore, app: &TestApp) {
    let members = json!([
        {"userId": "u_ada", "email": ADMIN, "name": "Ada", "role": "admin", "status": "active", "joinedAt": "2026-01-02T09:00:00Z"},
        {"userId": "u_bob", "email": USER, "name": "=Bob", "role": "user", "status": "active", "joinedAt": "2026-01-02T09:00:00Z"},
        {"userId": "u_eve", "email": "eve@acme.io", "name": "Eve", "role": "user", "status": "revoked", "joinedAt": "2026-01-02T09:00:00Z"},
        {"userId": "u_mal", "email": "mal@acme.io", "name": "<script>alert(1)</script>", "role": "user", "status": "active", "joinedAt": "2026-01-02T09:00:00Z"}
    ]);
    let items = members.as_array().unwrap().clone();
    let records = validate_records(DirectoryKind::Members, &items, i64::MAX / 4).unwrap();
    ts.store
        .upsert_directory(WS, DirectoryKind::Members, records)
        .await
        .unwrap();
    let hash = hash_password(PASSWORD).unwrap();
    for email in [ADMIN, USER] {
        ts.store.set_password_hash(email, &hash, 0).await.unwrap();
    }
    let now = jiff::Timestamp::now();
    let ago = |days: i64| (now - jiff::SignedDuration::from_hours(24 * days)).to_string();
    let mut events = Vec::new();
    for (i, days) in [0, 20, 40].into_iter().enumerate() {
        let mut m = message(&format!("m{i}"), &ago(days));
        m["userId"] = json!("u_bob");
        m["source"] = json!(["web", "slack", "api"][i]);
        events.push(m);
        events.push(json!({"type": "tool_execution", "id": format!("t{i}"),
            "occurredAt": ago(days), "tool": "web_search", "userId": "u_bob"}));
    }
    // An hour ago may still be yesterday in UTC; one minute ago is today unless run at 00:00.
    events[0]["occurredAt"] = json!((now - jiff::SignedDuration::from_mins(1)).to_string());
    assert_eq!(app.post_events(&json!(events)).await.status(), 200);
}

#[tokio::test]
async fn an_admin_logs_in_and_a_wrong_password_is_refused_and_recorded() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        let form = b.get("/login").await;
        assert_eq!(form.status(), 200);
        let cookie = form.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let wrong = b.login(ADMIN, "nope").await;
        assert_eq!(wrong.status(), 401);
        assert!(
            wrong
                .text()
                .await
                .unwrap()
                .contains("Wrong email or password")
        );
        let anonymous = b.cookie.clone();
        let ok = b.login(ADMIN, PASSWORD).await;
        assert_eq!(ok.status(), 303);
        assert_eq!(ok.headers()["location"], "/w/acme/analytics");
        assert_ne!(b.cookie, anonymous, "login starts a fresh session");
        let page = b.get("/w/acme/analytics").await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        for id in [
            "overview",
            "activity",
            "sources",
            "tool_usage",
            "skill_usage",
            "top_users",
            "top_agents",
        ] {
            assert!(html.contains(&format!("id=\"{id}\"")), "section {id}");
        }
        assert!(
            html.contains("&#61;Bob") || html.contains("=Bob"),
            "names are shown"
        );
        assert!(!html.contains("<script>alert"), "user data is escaped");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        let reader = key(&ts.store, WS, Role::User, vec![Scope::AuditRead]).await;
        let found: serde_json::Value = app
            .client
            .get(app.url("/api/v1/w/acme/audit/events?q=login"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let actions: Vec<&str> = found["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert!(
            actions.contains(&"user.login") && actions.contains(&"user.login_failed"),
            "{actions:?}"
        );
        assert!(
            !found.to_string().contains(ADMIN),
            "no email in the audit event"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        b.get("/login").await;
        let forged = b
            .post(
                "/login",
                &[("email", ADMIN), ("password", PASSWORD), ("csrf", "x")],
            )
            .await;
        assert_eq!(forged.status(), 403);
        assert_eq!(b.login(ADMIN, PASSWORD).await.status(), 303);
        let settings = [
            ("timezone", "Europe/Paris"),
            ("privacy", "full"),
            ("csrf", "0"),
        ];
        assert_eq!(b.post("/w/acme/settings", &settings).await.status(), 403);
        assert_eq!(b.post("/logout", &[]).await.status(), 403);
        let csrf = b.csrf("/w/acme/settings").await;
        let saved = b
            .post(
                "/w/acme/settings",
                &[
                    ("timezone", "Europe/Paris"),
                    ("privacy", "full"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(saved.status(), 200);
        let ws = ts.store.workspace(WS).await.unwrap().unwrap();
        assert_eq!(ws.timezone, "Europe/Paris");
        let created = b
            .post(
                "/w/acme/settings/keys",
                &[
                    ("name", "ci"),
                    ("role", "builder"),
                    ("scope", "usage_export"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        let html = created.text().await.unwrap();
        assert!(
            html.contains("id=\"new-secret\">tally_"),
            "the secret is shown once"
        );
        assert!(
            !b.get("/w/acme/settings")
                .await
                .text()
                .await
                .unwrap()
                .contains("new-secret\">tally_")
        );
        assert_eq!(b.post("/logout", &[("csrf", &csrf)]).await.status(), 303);
        assert_eq!(b.get("/w/acme/analytics").await.status(), 303, "logged out");
        ts
    })
    .await;
}

#[tokio::test]
async fn a_member_who_is_not_an_admin_gets_403_and_no_analytics() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut anonymous = Browser::new(&app);
        let redirected = anonymous.get("/w/acme/analytics/overview.csv").await;
        assert_eq!(redirected.status(), 303);
        assert_eq!(redirected.headers()["location"], "/login");
        let mut b = Browser::new(&app);
        let refused = b.login(USER, PASSWORD).await;
        assert_eq!(refused.status(), 403);
        let text = refused.text().await.unwrap();
        assert!(text.contains("not an active admin"), "{text}");
        assert_eq!(b.get("/w/acme/analytics").await.status(), 303);
        ts
    })
    .await;
}

#[tokio::test]
async fn the_sixth_failed_login_in_a_window_gets_429() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        for _ in 0..5 {
            assert_eq!(b.login(ADMIN, "wrong").await.status(), 401);
        }
        let limited = b.login(ADMIN, PASSWORD).await;
        assert_eq!(limited.status(), 429);
        assert!(limited.headers().contains_key("retry-after"));
        assert!(
            limited
                .text()
                .await
                .unwrap()
                .contains("Too many failed logins")
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn every_section_csv_is_named_after_its_range_and_matches_the_export() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        b.login(ADMIN, PASSWORD).await;
        let sections = [
            ("overview", "members,activeUsers"),
            (
                "activity",
                "date,messages,conversations,activeUsers,dau,wau,mau",
            ),
            ("sources", "date,source,messageCount"),
            ("tool_usage", "date,toolName,executions,uniqueUsers"),
            ("skill_usage", "date,skillName,executions,uniqueUsers"),
            (
                "top_users",
                "userId,userName,userEmail,messageCount,distinctAgents",
            ),
            ("top_agents", "agentId,name,messages,distinctUsersReached"),
        ];
        for (section, header) in sections {
            let r = b
                .get(&format!("/w/acme/analytics/{section}.csv?days=7"))
                .await;
            assert_eq!(r.status(), 200, "{section}");
            assert_eq!(
                r.headers()["content-disposition"],
                format!("attachment; filename=\"tally_{section}_last_7_days.csv\"").as_str()
            );
            let body = r.text().await.unwrap();
            assert_eq!(body.lines().next().unwrap(), header, "{section}");
        }
        let overview = |days: u32| format!("/w/acme/analytics/overview.csv?days={days}");
        let week = b.get(&overview(7)).await.text().await.unwrap();
        assert_eq!(
            week, "members,activeUsers\r\n3,1\r\n",
            "revoked members are not counted"
        );
        let activity = b
            .get("/w/acme/analytics/activity.csv?days=30")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(activity.lines().count(), 31, "a row per day");
        let top = b
            .get("/w/acme/analytics/top_users.csv?days=30")
            .await
            .text()
            .await
            .unwrap();
        assert!(top.contains("u_bob,'=Bob,bob@acme.io,2,1"), "{top}");
        let sources = b
            .get("/w/acme/analytics/sources.csv?days=30")
            .await
            .text()
            .await
            .unwrap();
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let start = today.checked_sub(jiff::Span::new().days(29)).unwrap();
        let q = format!("table=source&startDate={start}&endDate={today}");
        let export = app.export(&app.builder, &q).await.text().await.unwrap();
        assert_eq!(sources, export);
        let tool = b
            .get("/w/acme/analytics/tool_usage.csv?days=30&tool=other")
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(tool.lines().count(), 1, "the drill-down filters the CSV");
        let reader = key(&ts.store, WS, Role::User, vec![Scope::AuditRead]).await;
        let recorded: serde_json::Value = app
            .client
            .get(app.url("/api/v1/w/acme/audit/events?action=analytics.exported"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sections: Vec<&str> = recorded["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["metadata"]["section"].as_str())
            .collect();
        assert!(
            sections.contains(&"top_users") && sections.len() >= 7,
            "{sections:?}"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn an_invalid_range_falls_back_to_thirty_days_with_a_notice() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        b.login(ADMIN, PASSWORD).await;
        let html = b
            .get("/w/acme/analytics?days=5")
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("id=\"notice\""), "a visible notice");
        assert!(html.contains("days=5 is not one of"));
        let week = b
            .get("/w/acme/analytics?days=7")
            .await
            .text()
            .await
            .unwrap();
        assert!(!week.contains("id=\"notice\""));
        assert!(week.contains("<strong>7 days</strong>"));
        let csv = b.get("/w/acme/analytics/activity.csv?days=abc").await;
        assert_eq!(
            csv.headers()["content-disposition"],
            "attachment; filename=\"tally_activity_last_30_days.csv\""
        );
        ts
    })
    .await;
}

pub fn zip_files(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().to_string(), text)
        })
        .collect()
}

#[tokio::test]
async fn the_monthly_report_is_a_zip_of_the_eight_tables_for_past_months() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        let mut b = Browser::new(&app);
        b.login(ADMIN, PASSWORD).await;
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let this_month = today.strftime("%Y-%m").to_string();
        let last = today
            .first_of_month()
            .checked_sub(jiff::Span::new().days(1))
            .unwrap();
        let last_month = last.strftime("%Y-%m").to_string();
        let html = b.get("/w/acme/analytics").await.text().await.unwrap();
        assert!(html.contains(&format!("report/{last_month}.zip")));
        assert!(
            !html.contains(&format!("report/{this_month}.zip")),
            "past months only"
        );
        let current = b
            .get(&format!("/w/acme/analytics/report/{this_month}.zip"))
            .await;
        assert_eq!(current.status(), 404);
        let before = b.get("/w/acme/analytics/report/2025-12.zip").await;
        assert_eq!(before.status(), 404, "before the workspace was created");
        let r = b
            .get(&format!("/w/acme/analytics/report/{last_month}.zip"))
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/zip");
        let files = zip_files(&r.bytes().await.unwrap());
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "active_users.csv",
                "agents.csv",
                "messages.csv",
                "skill_usage.csv",
                "source.csv",
                "tool_usage.csv",
                "usage_metrics.csv",
                "users.csv"
            ]
        );
        assert!(files["users.csv"].starts_with("userId,userName,"));
        let all = b
            .get(&format!(
                "/w/acme/analytics/report/{last_month}.zip?includeInactive=true"
            ))
            .await;
        let all = zip_files(&all.bytes().await.unwrap());
        assert!(
            all["users.csv"].contains("u_ada"),
            "inactive members included"
        );
        let active_users = files["users.csv"].contains("u_ada");
        assert!(
            !active_users,
            "without includeInactive, members without messages are left out"
        );
        assert_eq!(files["messages.csv"], all["messages.csv"]);
        let form = format!("/w/acme/analytics/report?month={last_month}&includeInactive=true");
        let redirect = b.get(&form).await;
        assert_eq!(redirect.status(), 303, "the form works without JavaScript");
        assert_eq!(
            redirect.headers()["location"],
            format!("/w/acme/analytics/report/{last_month}.zip?includeInactive=true").as_str()
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn an_admin_of_several_workspaces_picks_one_and_sees_no_other() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        seed(&ts, &app).await;
        for ws in ["beta", "gamma"] {
            create_workspace(&ts.store, ws, tally::model::Plan::Free).await;
        }
        let ada = json!([{"userId": "ada2", "email": ADMIN, "name": "Ada", "role": "admin",
            "status": "active", "joinedAt": "2026-01-02T09:00:00Z"}]);
        let records = validate_records(
            DirectoryKind::Members,
            ada.as_array().unwrap(),
            i64::MAX / 4,
        )
        .unwrap();
        ts.store
            .upsert_directory("beta", DirectoryKind::Members, records)
            .await
            .unwrap();
        let mut b = Browser::new(&app);
        let ok = b.login(ADMIN, PASSWORD).await;
        assert_eq!(ok.headers()["location"], "/workspaces");
        let picker = b.get("/workspaces").await.text().await.unwrap();
        assert!(picker.contains("/w/acme/analytics") && picker.contains("/w/beta/analytics"));
        assert!(
            !picker.contains("/w/gamma/"),
            "only workspaces where the person is admin"
        );
        assert_eq!(b.get("/w/beta/analytics").await.status(), 200);
        assert_eq!(b.get("/w/gamma/analytics").await.status(), 403);
        assert_eq!(b.get("/w/nowhere/settings").await.status(), 403);
        ts
    })
    .await;
}
