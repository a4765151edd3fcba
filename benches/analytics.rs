//! Analytics on a large generated workspace: time to load the rollups, then each table of the
//! last 90 days from them, and the process's memory.
//!
//! `cargo bench --bench analytics` (env: `TALLY_BENCH_MEMBERS`, default 10,000;
//! `TALLY_BENCH_DAYS`, default 90; `TALLY_BENCH_DIR` to keep and reuse the generated store).

mod common;

use common::{bench_end, bench_store, env_or, rss_mib};
use std::time::Instant;
use tally::analytics::rollup::Rollup;
use tally::analytics::{Query, engine, service};

#[tokio::main]
async fn main() {
    let members = env_or("TALLY_BENCH_MEMBERS", 10_000) as usize;
    let keep = std::env::var("TALLY_BENCH_DIR").ok();
    let temp = tempfile::tempdir().unwrap();
    let dir = keep.map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let store = bench_store(&dir).await;
    let end = bench_end();
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
    let first = last.checked_sub(jiff::Span::new().days(89)).unwrap();
    write_peer_files(store.as_ref(), &dir).await;
    for zone in ["UTC", "Asia/Kathmandu"] {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let query = Query::new(tz, first, last);
        let mut best = f64::MAX;
        let mut answers = None;
        for _ in 0..5 {
            let started = Instant::now();
            answers = Some(engine::answers(&rollup, &query));
            best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "\n{zone}, {first}..{last}: tally computes all seven tables in {best:.1} ms (best of 5)"
        );
        for table in tally::analytics::Table::ALL {
            let parts = engine::Parts::for_table(*table);
            let mut best = f64::MAX;
            for _ in 0..3 {
                let started = Instant::now();
                std::hint::black_box(engine::answers_for(&rollup, &query, parts));
                best = best.min(started.elapsed().as_secs_f64() * 1000.0);
            }
            println!(
                "  tally {:<14} {best:>9.1} ms (that table's parts alone, best of 3)",
                table.name()
            );
        }
        compare_with_peers(&dir, zone, &query, &answers.unwrap(), best);
    }
}

/// Raw events as CSV for the peers (`\N` for a missing user).
async fn write_peer_files(store: &dyn tally::storage::Store, dir: &std::path::Path) {
    use std::io::Write;
    let create =
        |name: &str| std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
    let (mut messages, mut executions) = (create("messages.csv"), create("executions.csv"));
    writeln!(messages, "ts_us,conversation_id,user_id,agent_id,source").unwrap();
    writeln!(executions, "kind,ts_us,name,user_id").unwrap();
    let user = |u: &Option<String>| u.clone().unwrap_or_else(|| "\\N".into());
    let current = store.ingest_seq("bench").await.unwrap();
    let mut seq = 0;
    while seq < current {
        let upto = (seq + 16).min(current);
        let window = tally::storage::Window::Seq(seq, upto);
        let batch = store.activity("bench", window).await.unwrap();
        for m in &batch.messages {
            let user = user(&m.user_id);
            let line = format!(
                "{},{},{user},{},{}",
                m.occurred_at, m.conversation_id, m.agent_id, m.source
            );
            writeln!(messages, "{line}").unwrap();
        }
        for (kind, list) in [
            ("tool", &batch.tool_executions),
            ("skill", &batch.skill_executions),
        ] {
            for e in list {
                let name = e.name.replace('"', "\"\"");
                writeln!(
                    executions,
                    "{kind},{},\"{name}\",{}",
                    e.occurred_at,
                    user(&e.user_id)
                )
                .unwrap();
            }
        }
        seq = upto;
    }
    messages.flush().unwrap();
    executions.flush().unwrap();
}

type Rows = Vec<Vec<String>>;

fn row(cells: &[&dyn ToString]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// tally's answers shaped like the peers' rows (days without activity left out, as SQL does).
fn expected(a: &tally::analytics::Answers) -> Vec<(&'static str, Rows)> {
    let daily = &a.daily;
    vec![
        (
            "usage_metrics",
            daily
                .iter()
                .filter(|d| d.messages > 0)
                .map(|d| row(&[&d.date, &d.messages, &d.conversations, &d.dau]))
                .collect(),
        ),
        (
            "active_users",
            daily
                .iter()
                .filter(|d| d.mau > 0)
                .map(|d| row(&[&d.date, &d.dau, &d.wau, &d.mau]))
                .collect(),
        ),
        (
            "source",
            a.sources
                .iter()
                .map(|c| row(&[&c.date, &c.source, &c.messages]))
                .collect(),
        ),
        (
            "tool_usage",
            a.tools
                .iter()
                .map(|c| row(&[&c.date, &c.name, &c.executions, &c.unique_users]))
                .collect(),
        ),
        (
            "skill_usage",
            a.skills
                .iter()
                .map(|c| row(&[&c.date, &c.name, &c.executions, &c.unique_users]))
                .collect(),
        ),
        (
            "agents",
            a.agents
                .iter()
                .map(|(id, s)| {
                    row(&[
                        id,
                        &s.messages,
                        &s.distinct_users,
                        &s.distinct_conversations,
                    ])
                })
                .collect(),
        ),
        (
            "users",
            a.users
                .iter()
                .map(|(id, u)| {
                    row(&[
                        id,
                        &u.messages,
                        &u.last_message_at.unwrap_or_default(),
                        &u.active_days,
                        &u.distinct_agents,
                    ])
                })
                .collect(),
        ),
    ]
}

/// Runs the peers on the same events and prints their times, whether they agree, and ratios.
fn compare_with_peers(
    dir: &std::path::Path,
    zone: &str,
    query: &Query,
    answers: &tally::analytics::Answers,
    tally_ms: f64,
) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers.py");
    let (start, end) = (query.start.to_string(), query.end.to_string());
    let output = std::process::Command::new("python3")
        .args([script, dir.to_str().unwrap(), zone, &start, &end])
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => return println!("  peers failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => return println!("  peers not run ({e}): pip install duckdb chdb"),
    };
    let peers: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut totals = std::collections::BTreeMap::new();
    println!(
        "  {:<14} {:>16} {:>16}",
        "table", "duckdb ms", "clickhouse ms"
    );
    for (table, rows) in expected(answers) {
        let mut line = format!("  {table:<14}");
        for engine in ["duckdb", "clickhouse"] {
            let result = &peers[engine][table];
            if let Some(error) = result["error"].as_str() {
                line.push_str(&format!(" {:>16}", "error"));
                println!("  {engine} {table}: {error}");
                continue;
            }
            let theirs: Rows = serde_json::from_value(result["rows"].clone()).unwrap();
            let ms = result["ms"].as_f64().unwrap();
            *totals.entry(engine).or_insert(0.0) += ms;
            let agree = if theirs == rows { "same" } else { "DIFFERS" };
            line.push_str(&format!(" {ms:>9.1} {agree:>6}"));
            if theirs != rows {
                let first = rows.iter().zip(&theirs).find(|(a, b)| a != b);
                println!(
                    "  {engine} {table}: {} rows vs tally's {}; first difference {first:?}",
                    theirs.len(),
                    rows.len()
                );
            }
        }
        println!("{line}");
    }
    for (engine, ms) in &totals {
        println!("  {engine}: {ms:.1} ms for the seven tables");
    }
    let faster = totals.values().cloned().fold(f64::MAX, f64::min);
    println!(
        "  tally: {tally_ms:.1} ms: {:.1}x faster than the faster peer (target 20x)",
        faster / tally_ms
    );
}
