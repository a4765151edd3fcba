//! Analytics on a large generated workspace: time to load the rollups, then each table of the
//! last 90 days from them, and the process's memory.
//!
//! `cargo bench --bench analytics` (env: `TALLY_BENCH_MEMBERS`, default 10,000;
//! `TALLY_BENCH_DAYS`, default 90; `TALLY_BENCH_DIR` to keep and reuse the generated store).

use std::time::Instant;
use tally::analytics::rollup::Rollup;
use tally::analytics::{Query, engine, service};
use tally::generate::{GenerateOptions, Generator};
use tally::model::{Plan, Privacy, Workspace};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let members = env_or("TALLY_BENCH_MEMBERS", 10_000) as usize;
    let days = env_or("TALLY_BENCH_DAYS", 90) as u32;
    let keep = std::env::var("TALLY_BENCH_DIR").ok();
    let temp = tempfile::tempdir().unwrap();
    let dir = keep.map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let store = tally::storage::open(None, &dir).await.unwrap();
    let end = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    if store.workspace("bench").await.unwrap().is_none() {
        let ws = Workspace {
            id: "bench".into(),
            name: "Bench".into(),
            plan: Plan::Enterprise,
            timezone: "UTC".into(),
            privacy: Privacy::Full,
            created_at: end,
        };
        store.create_workspace(&ws).await.unwrap();
        let started = Instant::now();
        let generator = Generator::new(GenerateOptions::new(1, members, days, end, "Europe/Paris"));
        let mut total = 0;
        for day in generator.days() {
            for chunk in tally::cli::split_batch(day, 10_000) {
                total += chunk.len();
                store.ingest("bench", chunk).await.unwrap();
            }
        }
        println!(
            "generated and stored {total} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let counts = store.event_counts("bench").await.unwrap();
    println!(
        "workspace: {} messages, {} tool and {} skill executions, {members} members",
        counts.messages, counts.tool_executions, counts.skill_executions
    );
    let before = rss_mib("VmRSS:");
    let started = Instant::now();
    let mut rollup = Rollup::default();
    service::catch_up(store.as_ref(), "bench", &mut rollup)
        .await
        .unwrap();
    println!(
        "rollups loaded in {:.1} s; RSS {:.0} MiB -> {:.0} MiB (peak {:.0} MiB)",
        started.elapsed().as_secs_f64(),
        before,
        rss_mib("VmRSS:"),
        rss_mib("VmHWM:")
    );
    let last = end.to_zoned(jiff::tz::TimeZone::UTC).date();
    for zone in ["UTC", "Asia/Kathmandu"] {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let query = Query::new(
            tz,
            last.checked_sub(jiff::Span::new().days(89)).unwrap(),
            last,
        );
        let mut best = f64::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            let answers = engine::answers(&rollup, &query);
            std::hint::black_box(&answers);
            best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        println!("all tables, last 90 days, {zone}: {best:.1} ms (best of 5)");
    }
}
