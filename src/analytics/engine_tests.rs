//! The rollup engine against the reference, for random events in random zones, with events
//! placed on local midnights and DST transitions, applied in random order and chunks.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::days::day_start;
use super::rollup::Rollup;
use super::{Query, Table, engine, reference, rows};
use crate::model::{ActivityBatch, Execution, ExecutionStatus, Message};

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Africa/Casablanca",
    "Asia/Tokyo",
];

/// SplitMix64: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Instants worth testing: local midnights and DST transitions (found by bisection), each
/// with its neighbours one microsecond away.
fn edges(tz: &TimeZone, first: Date, days: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut date = first;
    for _ in 0..days {
        let (start, end) = (day_start(tz, date), day_start(tz, date.tomorrow().unwrap()));
        out.extend([start - 1, start, start + 1]);
        let offset = |us: i64| {
            tz.to_offset(jiff::Timestamp::from_microsecond(us).unwrap())
                .seconds()
        };
        if end > start && offset(start) != offset(end - 1) {
            let (mut lo, mut hi) = (start, end - 1);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset(mid) == offset(start) {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            out.extend([hi - 1, hi, hi + 1]);
        }
        date = date.tomorrow().unwrap();
    }
    out
}

fn random_events(rng: &mut Rng, instants: &[i64], span: (i64, i64)) -> ActivityBatch {
    let users = [
        None,
        Some("u1"),
        Some("u2"),
        Some("u3"),
        Some("u4"),
        Some("u5"),
        Some("u6"),
    ];
    let at = |rng: &mut Rng| {
        if rng.below(2) == 0 {
            *rng.pick(instants)
        } else {
            span.0 + rng.below((span.1 - span.0) as u64) as i64
        }
    };
    let mut batch = ActivityBatch::default();
    for i in 0..rng.below(250) {
        batch.messages.push(Message {
            id: format!("m{i}"),
            occurred_at: at(rng),
            conversation_id: format!("c{}", rng.below(12)),
            parent_message_id: None,
            user_id: rng.pick(&users).map(str::to_string),
            agent_id: format!("a{}", rng.below(4)),
            source: rng.pick(&["web", "slack", "api"]).to_string(),
            model_id: None,
            provider_id: None,
            project_id: None,
            tokens_in: None,
            tokens_out: None,
            cost_micros: None,
        });
    }
    for (i, list) in [&mut batch.tool_executions, &mut batch.skill_executions]
        .into_iter()
        .enumerate()
    {
        for j in 0..rng.below(80) {
            list.push(Execution {
                id: format!("x{i}_{j}"),
                occurred_at: at(rng),
                name: rng.pick(&["search", "python", "=sum"]).to_string(),
                user_id: rng.pick(&users).map(str::to_string),
                agent_id: None,
                conversation_id: None,
                message_id: None,
                status: *rng.pick(&[ExecutionStatus::Succeeded, ExecutionStatus::Failed]),
            });
        }
    }
    batch
}

/// Applies `events` to a fresh rollup in a shuffled order and random chunks, answering
/// `query` now and then on the way, so that later events land in days already remembered.
fn rollup_of(rng: &mut Rng, events: &ActivityBatch, query: &Query) -> Rollup {
    let mut messages = events.messages.clone();
    for i in (1..messages.len()).rev() {
        messages.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut rollup = Rollup::default();
    let mut rest = messages.as_slice();
    while !rest.is_empty() {
        let n = (rng.below(40) as usize + 1).min(rest.len());
        rollup.apply(&ActivityBatch {
            messages: rest[..n].to_vec(),
            ..Default::default()
        });
        rest = &rest[n..];
        if rng.below(4) == 0 {
            engine::answers(&rollup, query);
        }
    }
    engine::answers(&rollup, query);
    rollup.apply(&ActivityBatch {
        tool_executions: events.tool_executions.clone(),
        skill_executions: events.skill_executions.clone(),
        ..Default::default()
    });
    rollup
}

#[test]
fn rollup_answers_equal_the_reference_in_random_zones() {
    let mut rng = Rng(20_261_122);
    for case in 0..300 {
        let zone = *rng.pick(ZONES);
        let tz = TimeZone::get(zone).unwrap();
        let start = Date::new(
            2001 + rng.below(25) as i16,
            1 + rng.below(12) as i8,
            1 + rng.below(28) as i8,
        )
        .unwrap();
        let days = 1 + rng.below(45) as i64;
        let end = start.checked_add(jiff::Span::new().days(days - 1)).unwrap();
        let query = Query::new(tz.clone(), start, end);
        let history_first = query.history_grid().first;
        let instants = edges(&tz, history_first, days + 30);
        let span = (
            day_start(&tz, history_first) - 86_400_000_000,
            query.grid().span().1 + 86_400_000_000,
        );
        let events = random_events(&mut rng, &instants, span);
        let rollup = rollup_of(&mut rng, &events, &query);
        let fast = engine::answers(&rollup, &query);
        let slow = reference::answers(&query, &events);
        assert_eq!(fast, slow, "case {case}: {zone} {start}..{end}");
        if case % 10 == 0 {
            for table in Table::ALL {
                let part = engine::answers_for(&rollup, &query, engine::Parts::for_table(*table));
                let rows = |a| rows::table_rows(*table, a, &[], &[], &tz);
                assert_eq!(
                    rows(&part),
                    rows(&slow),
                    "case {case}: {} alone",
                    table.name()
                );
            }
        }
    }
}

#[test]
fn the_zones_tested_have_the_edges_they_are_chosen_for() {
    let tz = TimeZone::get("Australia/Lord_Howe").unwrap();
    let found = edges(&tz, Date::new(2024, 4, 6).unwrap(), 2);
    assert_eq!(
        found.len(),
        9,
        "two midnights and one DST change: {found:?}"
    );
}
