//! The analytics export over HTTP: tables, zones, streaming and errors.

use crate::support::*;
use serde_json::{Value, json};
use tally::analytics::{Query, Table, format, reference, rows};
use tally::generate::{GenerateOptions, Generator};
use tally::ingest::directory::{DirectoryKind, validate_records};
use tally::model::ActivityBatch;

impl TestApp {
    pub async fn export(&self, key: &str, query: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/api/v1/w/{WS}/analytics/export?{query}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }
}

/// Fills the workspace with a small generated one; answers every event.
pub async fn fill(ts: &TestStore) -> ActivityBatch {
    let end = "2024-04-02T12:00:00Z".parse().unwrap();
    let generator = Generator::new(GenerateOptions::new(5, 40, 20, end, "Europe/Paris"));
    let now = i64::MAX / 4;
    for (kind, items) in generator.directories() {
        let records = validate_records(kind, &items, now).unwrap();
        ts.store.upsert_directory(WS, kind, records).await.unwrap();
    }
    let mut all = ActivityBatch::default();
    for day in generator.days() {
        ts.store.ingest(WS, day.clone()).await.unwrap();
        all.append(&mut day.clone());
    }
    all
}

#[tokio::test]
async fn every_table_matches_the_reference_in_every_listed_zone() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let events = fill(&ts).await;
        let agents = ts.store.directory(WS, DirectoryKind::Agents).await.unwrap();
        let members = ts
            .store
            .directory(WS, DirectoryKind::Members)
            .await
            .unwrap();
        let zones = [
            "UTC",
            "Europe/Paris",
            "America/New_York",
            "Asia/Kolkata",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Pacific/Apia",
        ];
        for zone in zones {
            let tz = jiff::tz::TimeZone::get(zone).unwrap();
            let query = Query::new(
                tz.clone(),
                "2024-03-20".parse().unwrap(),
                "2024-04-01".parse().unwrap(),
            );
            let answers = reference::answers(&query, &events);
            for table in Table::ALL.iter().filter(|t| **t != Table::Messages) {
                let expected = rows::table_rows(*table, &answers, &agents, &members, &tz);
                let expected = format::csv(table.columns(), &expected);
                let q = format!(
                    "table={}&startDate=2024-03-20&endDate=2024-04-01&timezone={zone}",
                    table.name()
                );
                let response = app.export(&app.builder, &q).await;
                assert_eq!(response.status(), 200);
                assert_eq!(
                    response.headers()["content-type"],
                    "text/csv; charset=utf-8"
                );
                assert_eq!(
                    response.text().await.unwrap(),
                    expected,
                    "{} in {zone} on {}",
                    table.name(),
                    ts.backend()
                );
            }
        }
        ts
    })
    .await;
}

#[tokio::test]
async fn daily_tables_have_every_date_and_json_numbers() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        app.post_events(&json!([
            message("m1", "2026-03-01T10:00:00Z"),
            message("m2", "2026-03-03T10:00:00Z")
        ]))
        .await;
        let body: Value = app
            .export(
                &app.builder,
                "table=usage_metrics&startDate=2026-03-01&endDate=2026-03-04&format=json",
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            body,
            json!([
                {"date": "2026-03-01", "messages": 1, "conversations": 1, "activeUsers": 1},
                {"date": "2026-03-02", "messages": 0, "conversations": 0, "activeUsers": 0},
                {"date": "2026-03-03", "messages": 1, "conversations": 1, "activeUsers": 1},
                {"date": "2026-03-04", "messages": 0, "conversations": 0, "activeUsers": 0},
            ])
        );
        let csv = app
            .export(
                &app.builder,
                "table=active_users&startDate=2026-03-01&endDate=2026-03-02",
            )
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            csv,
            "date,dau,wau,mau\r\n2026-03-01,1,1,1\r\n2026-03-02,0,1,1\r\n"
        );
        app.post_events(&json!([
            message("m3", "2026-03-04T10:00:00Z"),
            message("m1", "2026-03-04T11:00:00Z")
        ]))
        .await;
        let body: Value = app
            .export(
                &app.builder,
                "table=usage_metrics&startDate=2026-03-04&endDate=2026-03-04&format=json",
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            body[0]["messages"], 1,
            "new events are counted, a repeated id is not"
        );
        let empty = app
            .export(
                &app.builder,
                "table=source&startDate=2026-01-01&endDate=2026-01-02",
            )
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(
            empty, "date,source,messageCount\r\n",
            "the header row always"
        );
        ts
    })
    .await;
}

#[tokio::test]
async fn the_messages_table_streams_every_row_in_order_with_actions() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let mut events: Vec<Value> = (0..12_345)
            .map(|i| message(&format!("m{:05}", 12_345 - i), &format!("2026-03-01T{:02}:{:02}:00Z", (i / 60) % 24, i % 60)))
            .collect();
        events.push(json!({"type": "tool_execution", "id": "t1", "occurredAt": "2026-03-01T00:00:01Z", "tool": "web_search", "messageId": "m12345"}));
        events.push(json!({"type": "tool_execution", "id": "t2", "occurredAt": "2026-03-01T00:00:02Z", "tool": "calculator", "messageId": "m12345"}));
        events.push(json!({"type": "tool_execution", "id": "t3", "occurredAt": "2026-03-01T00:00:03Z", "tool": "web_search", "messageId": "m12345"}));
        for chunk in events.chunks(5_000) {
            assert_eq!(app.post_events(&Value::Array(chunk.to_vec())).await.status(), 200);
        }
        let csv = app.export(&app.builder, "table=messages&startDate=2026-03-01&endDate=2026-03-01&timezone=Asia/Kathmandu").await.text().await.unwrap();
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert_eq!(lines[0], Table::Messages.columns().join(","));
        // Times repeat every 1,440 messages; from 18:15Z on they belong to March 2 in Kathmandu.
        let in_day = (0..12_345).filter(|i| i % 1_440 < 18 * 60 + 15).count();
        assert_eq!(lines.len() - 1, in_day);
        assert_eq!(lines[1], "m00825,2026-03-01 05:45:00,a1,,c1,,u1,,web,,,,,12,34,0.0021");
        let m12345 = lines.iter().find(|l| l.starts_with("m12345,")).unwrap();
        assert_eq!(*m12345, "m12345,2026-03-01 05:45:00,a1,,c1,,u1,,web,\"calculator,web_search\",,,,12,34,0.0021");
        let json: Value = app.export(&app.builder, "table=messages&startDate=2026-02-28&endDate=2026-03-02&format=json").await.json().await.unwrap();
        let rows = json.as_array().unwrap();
        assert_eq!(rows.len(), 12_345);
        let m12345 = rows.iter().find(|r| r["messageId"] == "m12345").unwrap();
        assert_eq!(m12345["toolsUsed"], json!(["calculator", "web_search"]));
        assert_eq!(rows[0]["cost"], json!(0.0021));
        let times: Vec<&str> = rows.iter().map(|r| r["createdAt"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted by createdAt");
        let empty = "table=messages&startDate=2025-03-01&endDate=2025-03-02";
        let none: Value = app.export(&app.builder, &format!("{empty}&format=json")).await.json().await.unwrap();
        assert_eq!(none, json!([]));
        let header = app.export(&app.builder, empty).await.text().await.unwrap();
        assert_eq!(header, format!("{}\r\n", Table::Messages.columns().join(",")));
        ts
    })
    .await;
}

#[tokio::test]
async fn actions_find_their_message_whichever_arrives_first() {
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        let tool = |id: &str, at: &str, name: &str, message: &str| {
            json!({"type": "tool_execution", "id": id, "occurredAt": at, "tool": name, "messageId": message})
        };
        let skill = |id: &str, at: &str, name: &str, message: &str| {
            json!({"type": "skill_execution", "id": id, "occurredAt": at, "skill": name, "messageId": message})
        };
        // Before their messages, one of them days away from its message's time.
        let early = json!([
            tool("t1", "2026-03-01T09:00:00Z", "web_search", "late"),
            skill("s1", "2026-02-20T09:00:00Z", "Summarize", "late"),
            tool("t2", "2026-03-09T09:00:00Z", "calculator", "on_time"),
        ]);
        assert_eq!(app.post_events(&early).await.status(), 200);
        let messages = json!([message("late", "2026-03-01T10:00:00Z"), message("on_time", "2026-03-01T11:00:00Z")]);
        assert_eq!(app.post_events(&messages).await.status(), 200);
        // After their messages; a repeated message with another time changes nothing.
        let after = json!([
            tool("t3", "2026-03-05T00:00:00Z", "python", "on_time"),
            skill("s2", "2026-03-01T11:00:01Z", "Translate", "on_time"),
            message("late", "2026-03-03T10:00:00Z"),
            tool("t4", "2026-03-01T10:00:01Z", "python", "nobody"),
        ]);
        assert_eq!(app.post_events(&after).await.status(), 200);
        let rows: Value = app
            .export(&app.builder, "table=messages&startDate=2026-02-01&endDate=2026-03-31&format=json")
            .await
            .json()
            .await
            .unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0]["messageId"], "late");
        assert_eq!(rows[0]["toolsUsed"], json!(["web_search"]));
        assert_eq!(rows[0]["skillsUsed"], json!(["Summarize"]));
        assert_eq!(rows[1]["messageId"], "on_time");
        assert_eq!(rows[1]["toolsUsed"], json!(["calculator", "python"]));
        assert_eq!(rows[1]["skillsUsed"], json!(["Translate"]));
        ts
    })
    .await;
}

#[tokio::test]
async fn each_error_says_what_is_wrong() {
    let ts = sqlite_store().await;
    let app = TestApp::spawn(&ts).await;
    let ok = "table=users&startDate=2026-03-01&endDate=2026-03-02";
    for (query, field) in [
        ("startDate=2026-03-01&endDate=2026-03-02", "table"),
        (
            "table=sessions&startDate=2026-03-01&endDate=2026-03-02",
            "table",
        ),
        (
            "table=users&startDate=2026-02-30&endDate=2026-03-02",
            "startDate",
        ),
        (
            "table=users&startDate=March&endDate=2026-03-02",
            "startDate",
        ),
        (
            "table=users&startDate=2026-03-03&endDate=2026-03-02",
            "startDate",
        ),
        (
            "table=users&startDate=2026-03-01&endDate=2026-03-02&timezone=Mars/Base",
            "timezone",
        ),
        (
            "table=users&startDate=2026-03-01&endDate=2026-03-02&format=xml",
            "format",
        ),
        (
            "table=users&startDate=2026-03-01&endDate=2026-03-02&tz=UTC",
            "tz",
        ),
    ] {
        let error = error_of(app.export(&app.builder, query).await, 400).await;
        assert_eq!(error["field"], field, "{query}: {error}");
        assert_eq!(error["type"], "invalid_request_error");
    }
    error_of(
        app.client
            .get(app.url(&format!("/api/v1/w/acme/analytics/export?{ok}")))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let error = error_of(app.export(&app.user, ok).await, 403).await;
    assert!(error["message"].as_str().unwrap().contains("builder"));
    assert_eq!(
        app.export(&app.admin, ok).await.status(),
        200,
        "admins read too"
    );
    let missing = app
        .client
        .get(app.url(&format!("/api/v1/w/nope/analytics/export?{ok}")))
        .bearer_auth(&app.builder)
        .send()
        .await
        .unwrap();
    error_of(missing, 404).await;
    let post = app
        .client
        .post(app.url(&format!("/api/v1/w/acme/analytics/export?{ok}")))
        .bearer_auth(&app.builder)
        .send()
        .await
        .unwrap();
    error_of(post, 405).await;
    ts.cleanup().await;
}

#[tokio::test]
async fn a_rebuild_gives_byte_identical_exports() {
    use sha2::Digest;
    each_store(|ts| async move {
        let app = TestApp::spawn(&ts).await;
        fill(&ts).await;
        let range = "startDate=2024-03-20&endDate=2024-04-01&timezone=Europe/Paris";
        let tables: Vec<Table> = Table::ALL
            .iter()
            .copied()
            .filter(|t| *t != Table::Messages)
            .collect();
        let mut before = Vec::new();
        for table in &tables {
            let q = format!("table={}&{range}", table.name());
            before.push(app.export(&app.builder, &q).await.text().await.unwrap());
        }
        let refused = app
            .client
            .post(app.url(&format!("/api/v1/w/{WS}/analytics/rebuild")))
            .bearer_auth(&app.builder)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "admins only");
        let rebuilt: Value = app
            .client
            .post(app.url(&format!("/api/v1/w/{WS}/analytics/rebuild")))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(rebuilt["ingestSeq"].as_i64().unwrap() > 0);
        for (table, earlier) in tables.iter().zip(&before) {
            let q = format!("table={}&{range}", table.name());
            let after = app.export(&app.builder, &q).await.text().await.unwrap();
            assert_eq!(&after, earlier, "{} after the rebuild", table.name());
        }
        // The command line rebuilds offline and prints the same bytes' digests.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args([
                "--data-dir",
                &ts._dir.path().display().to_string(),
                "--database-url",
                &ts.url,
            ])
            .args([
                "rebuild",
                "--workspace",
                WS,
                "--start",
                "2024-03-20",
                "--end",
                "2024-04-01",
                "--timezone",
                "Europe/Paris",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8(out.stdout).unwrap();
        for (table, csv) in tables.iter().zip(&before) {
            let digest = hex::encode(sha2::Sha256::digest(csv.as_bytes()));
            let line = printed
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{} ", table.name())))
                .unwrap();
            assert!(line.ends_with(&digest), "{line} vs {digest}");
        }
        ts
    })
    .await;
}
