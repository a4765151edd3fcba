//! What the benchmarks share: settings from the environment, the process's memory, and the
//! large generated workspace `bench` (kept in `TALLY_BENCH_DIR` between runs when set).

#![allow(dead_code)]

use std::time::Instant;

use tally::generate::{GenerateOptions, Generator};
use tally::model::{Plan, Privacy, Workspace};
use tally::storage::SharedStore;

/// A whole number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A memory figure of this process from /proc (`VmRSS:` now, `VmHWM:` peak), in MiB.
pub fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The last instant of the generated activity.
pub fn bench_end() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_790_000_000).unwrap()
}

/// Opens the embedded store in `dir`, generating the workspace `bench` there first when it is
/// missing (`TALLY_BENCH_MEMBERS`, default 10,000; `TALLY_BENCH_DAYS`, default 90).
pub async fn bench_store(dir: &std::path::Path) -> SharedStore {
    let members = env_or("TALLY_BENCH_MEMBERS", 10_000) as usize;
    let days = env_or("TALLY_BENCH_DAYS", 90) as u32;
    let store = tally::storage::open(None, dir).await.unwrap();
    let end = bench_end();
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
        for (kind, items) in generator.directories() {
            let records =
                tally::ingest::directory::validate_records(kind, &items, i64::MAX / 4).unwrap();
            store
                .upsert_directory("bench", kind, records)
                .await
                .unwrap();
        }
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
    store
}
