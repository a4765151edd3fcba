//! The usage export on a large generated workspace: for each data type over the last 90 days,
//! the time to scan and count, the rows, the time to write the CSV file, and the process's
//! memory. Each data type runs in a process of its own so its peak memory is its own.
//!
//! `cargo bench --bench usage` (env as for `benches/analytics.rs`: `TALLY_BENCH_MEMBERS`,
//! `TALLY_BENCH_DAYS`, `TALLY_BENCH_DIR` to keep and reuse the generated store; a run with a
//! fresh directory generates it first).

mod common;

use common::{bench_end, bench_store, rss_mib};
use std::time::Instant;
use tally::usage::{DataType, range, service, store::Exports};

#[tokio::main]
async fn main() {
    let keep = std::env::var("TALLY_BENCH_DIR").ok();
    let temp = tempfile::tempdir().unwrap();
    let dir = keep.map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let only = std::env::var("TALLY_BENCH_USAGE_ONE").ok();
    let store = bench_store(&dir).await;
    let Some(only) = only else {
        // One child process per data type, on the same directory.
        let counts = store.event_counts("bench").await.unwrap();
        println!(
            "workspace: {} messages, {} tool and {} skill executions, {} workflow runs",
            counts.messages, counts.tool_executions, counts.skill_executions, counts.workflow_runs
        );
        drop(store);
        let me = std::env::current_exe().unwrap();
        for data in DataType::ALL {
            let status = std::process::Command::new(&me)
                .env("TALLY_BENCH_DIR", &dir)
                .env("TALLY_BENCH_USAGE_ONE", data.name())
                .arg("--bench")
                .status()
                .unwrap();
            assert!(status.success());
        }
        return;
    };
    let data = DataType::from_path(&only).unwrap();
    let last = bench_end().to_zoned(jiff::tz::TimeZone::UTC).date();
    let first = last.checked_sub(jiff::Span::new().days(89)).unwrap();
    let body = serde_json::json!({"from": {"date": first.to_string(), "timezone": "UTC"},
        "to": {"date": last.to_string(), "timezone": "UTC"}});
    let range = range::parse(&body).unwrap();
    let before = rss_mib("VmRSS:");
    let started = Instant::now();
    let rows = service::export(store.as_ref(), "bench", &range, data)
        .await
        .unwrap()
        .rows
        .unwrap_or_default();
    let counted = started.elapsed().as_secs_f64();
    let config = tally::config::Layers::defaults()
        .flags([("data_dir", Some(dir.display().to_string()))])
        .resolve()
        .unwrap();
    let exports = Exports::from_config(&config).unwrap();
    let path = format!("{0}-usage/bench/{0}-usage-bench.csv", data.name());
    let n = rows.len();
    let written = Instant::now();
    exports.write(&path, data.columns(), rows).await.unwrap();
    let size = std::fs::metadata(dir.join("exports").join(&path))
        .unwrap()
        .len();
    println!(
        "{:<10} {n:>7} rows: counted in {counted:>6.2} s, CSV ({:.1} MiB) written in {:>5.3} s; total {:>6.2} s; RSS {before:.0} MiB before, peak {:.0} MiB",
        data.name(),
        size as f64 / 1_048_576.0,
        written.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
        rss_mib("VmHWM:"),
    );
}
