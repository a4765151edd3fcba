//! Case tables for the zones peers get wrong, checked on the reference numbers and rows.

use super::rows::{Cell, table_rows};
use super::*;
use crate::model::{ActivityBatch, ExecutionStatus, Message};
use jiff::civil::date;

fn message(id: &str, at: &str, user: Option<&str>, conversation: &str) -> Message {
    Message {
        id: id.into(),
        occurred_at: at.parse::<jiff::Timestamp>().unwrap().as_microsecond(),
        conversation_id: conversation.into(),
        parent_message_id: None,
        user_id: user.map(Into::into),
        agent_id: "a1".into(),
        source: "web".into(),
        model_id: None,
        provider_id: None,
        project_id: None,
        tokens_in: None,
        tokens_out: None,
        cost_micros: None,
    }
}

fn query(tz: &str, start: Date, end: Date) -> Query {
    Query::new(TimeZone::get(tz).unwrap(), start, end)
}

fn counts(answers: &Answers) -> Vec<(String, u64)> {
    answers
        .daily
        .iter()
        .map(|d| (d.date.to_string(), d.messages))
        .collect()
}

#[test]
fn paris_dst_days_keep_their_edges() {
    let events = ActivityBatch {
        messages: vec![
            message("m1", "2024-03-30T23:59:59+01:00", Some("u1"), "c1"),
            message("m2", "2024-03-31T00:00:00+01:00", Some("u1"), "c1"),
            message("m3", "2024-03-31T23:59:59+02:00", Some("u2"), "c2"),
            message("m4", "2024-04-01T00:00:00+02:00", None, "c3"),
        ],
        ..Default::default()
    };
    let answers = reference::answers(
        &query("Europe/Paris", date(2024, 3, 30), date(2024, 4, 1)),
        &events,
    );
    assert_eq!(
        counts(&answers),
        vec![
            ("2024-03-30".into(), 1),
            ("2024-03-31".into(), 2),
            ("2024-04-01".into(), 1)
        ]
    );
    let d = &answers.daily;
    assert_eq!((d[1].dau, d[1].conversations), (2, 2));
    assert_eq!(
        (d[2].dau, d[2].wau, d[2].mau),
        (0, 2, 2),
        "programmatic messages have no user"
    );
}

#[test]
fn quarter_hour_offsets_split_days_exactly() {
    let events = ActivityBatch {
        messages: vec![
            message("m1", "2024-01-01T18:14:59.999999Z", Some("u1"), "c1"),
            message("m2", "2024-01-01T18:15:00Z", Some("u1"), "c1"),
            message("m3", "2024-01-01T18:29:59Z", Some("u2"), "c2"),
            message("m4", "2024-01-01T18:30:00Z", Some("u2"), "c2"),
        ],
        ..Default::default()
    };
    let kathmandu = reference::answers(
        &query("Asia/Kathmandu", date(2024, 1, 1), date(2024, 1, 2)),
        &events,
    );
    assert_eq!(
        counts(&kathmandu),
        vec![("2024-01-01".into(), 1), ("2024-01-02".into(), 3)]
    );
    let kolkata = reference::answers(
        &query("Asia/Kolkata", date(2024, 1, 1), date(2024, 1, 2)),
        &events,
    );
    assert_eq!(
        counts(&kolkata),
        vec![("2024-01-01".into(), 3), ("2024-01-02".into(), 1)]
    );
    assert_eq!(kolkata.daily[0].conversations, 2);
    assert_eq!(kolkata.daily[1].dau, 1);
}

#[test]
fn lord_howe_half_hour_shift_and_apia_skipped_day() {
    let events = ActivityBatch {
        messages: vec![
            // 2024-04-07 in Lord Howe lasts 24.5 hours: 01:30 +11 and 23:59 +10:30 are both in it.
            message("m1", "2024-04-07T01:30:00+11:00", Some("u1"), "c1"),
            message("m2", "2024-04-07T23:59:00+10:30", Some("u1"), "c1"),
        ],
        ..Default::default()
    };
    let lh = reference::answers(
        &query("Australia/Lord_Howe", date(2024, 4, 7), date(2024, 4, 7)),
        &events,
    );
    assert_eq!(counts(&lh), vec![("2024-04-07".into(), 2)]);
    let events = ActivityBatch {
        messages: vec![
            message("m1", "2011-12-29T23:00:00-10:00", Some("u1"), "c1"),
            message("m2", "2011-12-31T00:30:00+14:00", Some("u2"), "c2"),
        ],
        ..Default::default()
    };
    let apia = reference::answers(
        &query("Pacific/Apia", date(2011, 12, 29), date(2011, 12, 31)),
        &events,
    );
    assert_eq!(
        counts(&apia),
        vec![
            ("2011-12-29".into(), 1),
            ("2011-12-30".into(), 0),
            ("2011-12-31".into(), 1)
        ],
        "the skipped date keeps its row, with zeros"
    );
    assert_eq!((apia.daily[2].wau, apia.daily[1].wau), (2, 1));
}

#[test]
fn rolling_windows_count_seven_and_twenty_eight_dates() {
    let mut messages = Vec::new();
    // u1 active on Jan 1, u2 on Jan 5, u3 on Jan 20.
    for (i, (day, user)) in [(1, "u1"), (5, "u2"), (20, "u3")].into_iter().enumerate() {
        messages.push(message(
            &format!("m{i}"),
            &format!("2024-01-{day:02}T12:00:00Z"),
            Some(user),
            "c",
        ));
    }
    let events = ActivityBatch {
        messages,
        ..Default::default()
    };
    let answers = reference::answers(&query("UTC", date(2024, 1, 1), date(2024, 1, 31)), &events);
    let wau = |day: usize| answers.daily[day - 1].wau;
    let mau = |day: usize| answers.daily[day - 1].mau;
    assert_eq!(
        (wau(1), wau(5), wau(7), wau(8), wau(11), wau(12)),
        (1, 2, 2, 1, 1, 0)
    );
    assert_eq!((mau(20), mau(28), mau(29), mau(31)), (3, 3, 2, 2));
}

#[test]
fn entity_stats_and_rows_include_the_inactive() {
    let mut events = ActivityBatch {
        messages: vec![
            message("m1", "2024-01-01T10:00:00Z", Some("u1"), "c1"),
            message("m2", "2024-01-02T10:00:00Z", Some("u1"), "c2"),
            message("m3", "2024-01-02T11:00:00Z", Some("ghost"), "c2"),
        ],
        ..Default::default()
    };
    events.tool_executions.push(crate::model::Execution {
        id: "t1".into(),
        occurred_at: events.messages[0].occurred_at,
        name: "=web_search".into(),
        user_id: Some("u1".into()),
        agent_id: None,
        conversation_id: None,
        message_id: Some("m1".into()),
        status: ExecutionStatus::Failed,
    });
    let q = query("UTC", date(2024, 1, 1), date(2024, 1, 2));
    let answers = reference::answers(&q, &events);
    let u1 = &answers.users["u1"];
    assert_eq!((u1.messages, u1.active_days, u1.distinct_agents), (2, 2, 1));
    assert_eq!(answers.agents["a1"].distinct_users, 2);
    assert_eq!(answers.agents["a1"].distinct_conversations, 2);
    let members = crate::ingest::directory::validate_records(
        crate::ingest::directory::DirectoryKind::Members,
        &[serde_json::json!({"userId": "idle", "email": "idle@x.io", "name": "Idle", "role": "user", "status": "active", "joinedAt": "2023-01-01T00:00:00Z"})],
        i64::MAX / 2,
    )
    .unwrap();
    let rows = table_rows(Table::Users, &answers, &[], &members, &q.tz);
    let ids: Vec<&Cell> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        ids,
        vec![
            &Cell::Plain("u1".into()),
            &Cell::Plain("ghost".into()),
            &Cell::Plain("idle".into())
        ]
    );
    assert_eq!(rows[2][5], Cell::Int(0));
    assert_eq!(rows[0][6], Cell::Plain("2024-01-02T10:00:00+00:00".into()));
    let tools = table_rows(Table::ToolUsage, &answers, &[], &[], &q.tz);
    let csv = format::csv(Table::ToolUsage.columns(), &tools);
    assert_eq!(
        csv,
        "date,toolName,executions,uniqueUsers\r\n2024-01-01,'=web_search,1,1\r\n"
    );
}

#[test]
fn local_times_are_written_as_jiff_formats_them() {
    for zone in ["UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Apia"] {
        let tz = TimeZone::get(zone).unwrap();
        // From 2000 to 2100 in odd steps, so every field takes many values.
        let mut us = 946_684_800_000_000i64;
        while us < 4_102_444_800_000_000 {
            let want = crate::model::from_micros(us)
                .to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string();
            assert_eq!(super::rows::local_time(us, &tz), want, "{zone} {us}");
            us += 77_777_777_777;
        }
    }
}
