//! Analytics on a large generated workspace, on the embedded store and on PostgreSQL: the
//! messages export (rows/s and peak memory), the time to load the rollups, then each table of
//! the last 90 days from them, first computed and remembered, next to DuckDB and ClickHouse.
//!
//! `cargo bench --bench analytics` (env: `TALLY_BENCH_MEMBERS`, default 10,000;
//! `TALLY_BENCH_DAYS`, default 90; `TALLY_BENCH_DIR` to keep and reuse the generated store;
//! `TALLY_TEST_POSTGRES_URL` for PostgreSQL, where the workspace is copied into the schema
//! `tally_bench_analytics` and kept). Each store is measured in a process of its own, so that
//! each peak memory figure is that store's alone.

mod common;

use common::{bench_end, bench_store, env_or, rss_mib};
use std::time::Instant;
use tally::analytics::format::{csv_record, csv_rows};
use tally::analytics::rollup::{Memo, Rollup};
use tally::analytics::service::{self, MessagePages};
use tally::analytics::{Query, Table, engine};
use tally::storage::{SharedStore, Window};

const PG_SCHEMA: &str = "tally_bench_analytics";

#[tokio::main]
async fn main() {
    match std::env::var("TALLY_BENCH_MEASURE") {
        Ok(backend) => measure(&backend).await,
        Err(_) => prepare_and_run().await,
    }
}

/// Makes the workspace on each store, then measures each in a child process.
async fn prepare_and_run() {
    let keep = std::env::var("TALLY_BENCH_DIR").ok();
    let temp = tempfile::tempdir().unwrap();
    let dir = keep.map_or_else(|| temp.path().to_path_buf(), std::path::PathBuf::from);
    let store = bench_store(&dir).await;
    if !dir.join("executions.csv").exists() {
        write_peer_files(store.as_ref(), &dir).await;
    }
    let postgres = copy_to_postgres(&store).await;
    drop(store);
    let mut backends = vec!["sqlite"];
    match &postgres {
        Some(_) => backends.push("postgres"),
        None => println!("\nPostgreSQL not reachable: measured on the embedded store only"),
    }
    for backend in backends {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .env("TALLY_BENCH_MEASURE", backend)
            .env("TALLY_BENCH_DIR", &dir)
            .env("TALLY_BENCH_PG", postgres.as_deref().unwrap_or_default())
            .status()
            .unwrap();
        assert!(status.success(), "the {backend} measurement failed");
    }
}

/// The PostgreSQL server the bench uses.
fn postgres_base() -> String {
    std::env::var("TALLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The URL of the bench schema on that server.
fn postgres_url() -> String {
    let base = postgres_base();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{PG_SCHEMA}")
}

/// Copies the workspace into PostgreSQL unless it is there already; answers the store's URL.
async fn copy_to_postgres(from: &SharedStore) -> Option<String> {
    let base = postgres_base();
    let connect = tokio_postgres::connect(&base, tokio_postgres::NoTls);
    let (client, conn) = tokio::time::timeout(std::time::Duration::from_secs(5), connect)
        .await
        .ok()?
        .ok()?;
    tokio::spawn(conn);
    let want = from.event_counts("bench").await.unwrap();
    let url = postgres_url();
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
        .await
        .ok()?;
    let store = tally::storage::open(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .ok()?;
    if store.workspace("bench").await.unwrap().is_some() {
        let have = store.event_counts("bench").await.unwrap();
        if have.messages == want.messages && have.tool_executions == want.tool_executions {
            return Some(url);
        }
    }
    drop(store);
    client
        .batch_execute(&format!(
            "DROP SCHEMA {PG_SCHEMA} CASCADE; CREATE SCHEMA {PG_SCHEMA}"
        ))
        .await
        .ok()?;
    let store = tally::storage::open(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .ok()?;
    let started = Instant::now();
    store
        .create_workspace(&from.workspace("bench").await.unwrap().unwrap())
        .await
        .unwrap();
    for kind in tally::ingest::directory::DirectoryKind::ALL {
        let records = from.directory("bench", *kind).await.unwrap();
        store
            .upsert_directory("bench", *kind, records)
            .await
            .unwrap();
    }
    let current = from.ingest_seq("bench").await.unwrap();
    let mut seq = 0;
    let mut copied = 0;
    while seq < current {
        let upto = (seq + 16).min(current);
        let batch = from
            .activity("bench", Window::Seq(seq, upto))
            .await
            .unwrap();
        for chunk in tally::cli::split_batch(batch, 10_000) {
            copied += chunk.len();
            store.ingest("bench", chunk).await.unwrap();
        }
        seq = upto;
    }
    println!(
        "copied {copied} events into PostgreSQL (schema {PG_SCHEMA}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Some(url)
}

/// Measures one store: the messages export first (so the peak memory is the export's), then
/// the rollups and the tables.
async fn measure(backend: &str) {
    let dir = std::path::PathBuf::from(std::env::var("TALLY_BENCH_DIR").unwrap());
    let store = match backend {
        "postgres" => {
            let url = std::env::var("TALLY_BENCH_PG").unwrap();
            tally::storage::open(Some(&url), std::path::Path::new("/nonexistent"))
                .await
                .unwrap()
        }
        _ => bench_store(&dir).await,
    };
    let members = env_or("TALLY_BENCH_MEMBERS", 10_000) as usize;
    let counts = store.event_counts("bench").await.unwrap();
    println!(
        "\n== {backend}: {} messages, {} tool and {} skill executions, {members} members ==",
        counts.messages, counts.tool_executions, counts.skill_executions
    );
    messages_export(&store).await;
    let before = rss_mib("VmRSS:");
    let started = Instant::now();
    let mut rollup = Rollup::default();
    service::catch_up(store.as_ref(), "bench", &mut rollup)
        .await
        .unwrap();
    println!(
        "rollups loaded in {:.1} s; RSS {:.0} MiB -> {:.0} MiB",
        started.elapsed().as_secs_f64(),
        before,
        rss_mib("VmRSS:"),
    );
    let end = bench_end();
    let last = end.to_zoned(jiff::tz::TimeZone::UTC).date();
    let first = last.checked_sub(jiff::Span::new().days(89)).unwrap();
    for zone in ["UTC", "Asia/Kathmandu"] {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let query = Query::new(tz, first, last);
        let times = time_tables(&mut rollup, &query);
        if backend == "sqlite" {
            compare_with_peers(
                &dir,
                zone,
                &query,
                &engine::answers(&rollup, &query),
                &times,
            );
        }
    }
}

/// Times of the seven tables together: computed from the rollups with nothing remembered,
/// remembered, and after one new event today.
struct Times {
    first: f64,
    remembered: f64,
    after_event: f64,
}

fn ms_of(f: impl FnOnce()) -> f64 {
    let started = Instant::now();
    f();
    started.elapsed().as_secs_f64() * 1000.0
}

fn time_tables(rollup: &mut Rollup, query: &Query) -> Times {
    let grid = query.grid();
    println!(
        "\n{}, {}..{}: each table alone (ms)",
        query.tz.iana_name().unwrap_or("?"),
        query.start,
        query.end
    );
    println!("  {:<14} {:>12} {:>12}", "table", "first", "remembered");
    for table in tally::analytics::Table::ALL {
        let parts = engine::Parts::for_table(*table);
        rollup.memo = Memo::default();
        let first = ms_of(|| {
            drop(std::hint::black_box(engine::answers_for(
                rollup, query, parts,
            )))
        });
        let mut best = f64::MAX;
        for _ in 0..3 {
            best = best.min(ms_of(|| {
                drop(std::hint::black_box(engine::answers_for(
                    rollup, query, parts,
                )))
            }));
        }
        println!("  {:<14} {first:>12.1} {best:>12.1}", table.name());
    }
    rollup.memo = Memo::default();
    let first = ms_of(|| drop(std::hint::black_box(engine::answers(rollup, query))));
    let mut remembered = f64::MAX;
    for _ in 0..5 {
        remembered = remembered.min(ms_of(|| {
            drop(std::hint::black_box(engine::answers(rollup, query)))
        }));
    }
    // A message arriving now: what the memo held for its local day and UTC day is computed
    // again.
    let (_, end) = grid.span();
    rollup.forget(std::iter::once(end - 60_000_000));
    let after_event = ms_of(|| drop(std::hint::black_box(engine::answers(rollup, query))));
    println!(
        "  all seven tables: {first:.1} ms first, {remembered:.1} ms remembered (best of 5), {after_event:.1} ms after a new event today"
    );
    Times {
        first,
        remembered,
        after_event,
    }
}

/// The messages table of every stored day as CSV through the export's own pages and CSV writer
/// (two tasks taking alternate hours, as the route does), into a sink.
async fn messages_export(store: &SharedStore) {
    let dirs = service::directories(store.as_ref(), "bench").await.unwrap();
    let policy = tally::privacy::Policy::new(tally::model::Privacy::Full, &[0; 32], "bench");
    let to = bench_end().as_microsecond() + 86_400_000_000;
    let pages = MessagePages::new("bench", (0, to), &dirs, jiff::tz::TimeZone::UTC, policy);
    let before = rss_mib("VmRSS:");
    let started = Instant::now();
    let mut chunks = pages.text(store.clone(), 2, csv_rows);
    let mut out = String::new();
    csv_record(&mut out, Table::Messages.columns().iter().copied());
    let (mut rows, mut bytes) = (0usize, out.len());
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.unwrap();
        rows += chunk.rows;
        bytes += chunk.text.len();
        std::hint::black_box(&chunk.text);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "messages export: {rows} rows ({:.0} MiB of CSV) in {seconds:.1} s: {:.0} rows/s; RSS before {before:.0} MiB, process peak {:.0} MiB",
        bytes as f64 / 1_048_576.0,
        rows as f64 / seconds,
        rss_mib("VmHWM:")
    );
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
        let window = Window::Seq(seq, upto);
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
    tally: &Times,
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
    for (what, ms) in [
        ("first computed", tally.first),
        ("remembered", tally.remembered),
        ("after a new event today", tally.after_event),
    ] {
        println!(
            "  tally, {what}: {ms:.1} ms, {:.1}x faster than the faster peer (target 20x)",
            faster / ms
        );
    }
}
