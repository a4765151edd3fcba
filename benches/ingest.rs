//! Ingest throughput through HTTP: NDJSON batches posted to a release-built `tally serve` on
//! the embedded store and on PostgreSQL, next to the peer it is measured against in the same
//! run: SQLite's own batched insert of the same rows into the same schema, with no HTTP, JSON
//! or validation in the way.
//!
//! `cargo bench --bench ingest` (env: `TALLY_BENCH_EVENTS`, default 1,000,000;
//! `TALLY_BENCH_BATCH`, default 5,000; `TALLY_BENCH_CLIENTS`, default 4;
//! `TALLY_TEST_POSTGRES_URL` for PostgreSQL).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::generate::{GenerateOptions, Generator, batch_to_wire};
use tally::model::{ActivityBatch, Plan, Privacy, Role, Scope, Workspace};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Generated activity, cut into NDJSON bodies of `batch` events.
fn workload(events: usize, batch: usize) -> (Vec<ActivityBatch>, Vec<String>) {
    let end = jiff::Timestamp::from_second(1_790_000_000).unwrap();
    let members = (events / 1_000).clamp(50, 10_000);
    let days = 90u32;
    let generator = Generator::new(GenerateOptions::new(7, members, days, end, "Europe/Paris"));
    let mut batches = Vec::new();
    let mut lines = Vec::new();
    for day in generator.days() {
        for event in batch_to_wire(&day) {
            lines.push(event.to_string());
        }
        batches.push(day);
        if lines.len() >= events {
            break;
        }
    }
    lines.truncate(events);
    let bodies = lines.chunks(batch).map(|c| c.join("\n") + "\n").collect();
    (batches, bodies)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn prepare(url: Option<&str>, dir: &std::path::Path) -> String {
    let store = tally::storage::open(url, dir)
        .await
        .expect("open the store");
    let ws = Workspace {
        id: "bench".into(),
        name: "Bench".into(),
        plan: Plan::Enterprise,
        timezone: "UTC".into(),
        privacy: Privacy::Full,
        created_at: jiff::Timestamp::now(),
    };
    store
        .create_workspace(&ws)
        .await
        .expect("create the workspace");
    let minted =
        tally::access::mint_key("bench", "bench", Role::User, vec![Scope::Ingest], None, 0)
            .unwrap();
    store
        .create_key(&minted.key, &minted.secret_hash)
        .await
        .unwrap();
    minted.secret
}

fn start(url: &str, port: u16, dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("--data-dir")
        .arg(dir)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
        ])
        .env("TALLY_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tally serve")
}

/// Posts every body with `clients` concurrent connections; answers events/s.
async fn post_all(
    base: &str,
    secret: &str,
    bodies: Arc<Vec<String>>,
    clients: usize,
    events: usize,
) -> f64 {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, bodies, next) = (client.clone(), bodies.clone(), next.clone());
        let (url, secret) = (format!("{base}/api/v1/w/bench/events"), secret.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return };
                let response = client
                    .post(&url)
                    .bearer_auth(&secret)
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("post a batch");
                assert_eq!(
                    response.status(),
                    200,
                    "{}",
                    response.text().await.unwrap_or_default()
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    events as f64 / started.elapsed().as_secs_f64()
}

/// The peer: the same rows inserted by SQLite directly, in transactions of `batch` events.
fn sqlite_direct(batches: &[ActivityBatch], events: usize, batch: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("peer.sqlite")).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .unwrap();
    conn.execute_batch(include_str!("../migrations/sqlite/0001_foundation.sql"))
        .unwrap();
    let messages: Vec<_> = batches
        .iter()
        .flat_map(|b| b.messages.iter())
        .take(events)
        .collect();
    let started = Instant::now();
    for chunk in messages.chunks(batch) {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO messages (workspace_id, occurred_at, id, conversation_id, parent_message_id, user_id, agent_id, source, model_id, provider_id, project_id, tokens_in, tokens_out, cost_micros) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT DO NOTHING").unwrap();
            for m in chunk {
                stmt.execute(rusqlite::params![
                    "bench",
                    m.occurred_at,
                    m.id,
                    m.conversation_id,
                    m.parent_message_id,
                    m.user_id,
                    m.agent_id,
                    m.source,
                    m.model_id,
                    m.provider_id,
                    m.project_id,
                    m.tokens_in,
                    m.tokens_out,
                    m.cost_micros
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    messages.len() as f64 / started.elapsed().as_secs_f64()
}

async fn postgres_url() -> Option<(String, String)> {
    let base = std::env::var("TALLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(conn);
    let schema = format!("tally_bench_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .ok()?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        schema,
    ))
}

#[tokio::main]
async fn main() {
    let events = env_or("TALLY_BENCH_EVENTS", 1_000_000);
    let batch = env_or("TALLY_BENCH_BATCH", 5_000);
    let clients = env_or("TALLY_BENCH_CLIENTS", 4);
    eprintln!("generating {events} events ...");
    let (batches, bodies) = workload(events, batch);
    let bytes: usize = bodies.iter().map(String::len).sum();
    let bodies = Arc::new(bodies);
    println!(
        "ingest benchmark: {events} events, {} batches of {batch} (NDJSON, {:.0} MiB), {clients} clients, 2 cores shared with the client",
        bodies.len(),
        bytes as f64 / 1_048_576.0
    );

    let peer = sqlite_direct(&batches, events, batch);
    println!(
        "{:<44} {:>12.0} events/s",
        "peer: SQLite batched insert (no HTTP)", peer
    );

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tally.sqlite").display());
    let secret = prepare(Some(&url), dir.path()).await;
    let port = free_port();
    let mut child = start(&url, port, dir.path());
    let rate = post_all(
        &format!("http://127.0.0.1:{port}"),
        &secret,
        bodies.clone(),
        clients,
        events,
    )
    .await;
    let rss = peak_rss_mib(child.id());
    child.kill().ok();
    child.wait().ok();
    println!(
        "{:<44} {:>12.0} events/s   peak RSS {:>6.0} MiB   {:.2}x the peer",
        "tally HTTP ingest, embedded SQLite",
        rate,
        rss,
        rate / peer
    );

    match postgres_url().await {
        Some((url, _schema)) => {
            let secret = prepare(Some(&url), dir.path()).await;
            let port = free_port();
            let mut child = start(&url, port, dir.path());
            let rate = post_all(
                &format!("http://127.0.0.1:{port}"),
                &secret,
                bodies.clone(),
                clients,
                events,
            )
            .await;
            let rss = peak_rss_mib(child.id());
            child.kill().ok();
            child.wait().ok();
            println!(
                "{:<44} {:>12.0} events/s   peak RSS {:>6.0} MiB   {:.2}x the peer",
                "tally HTTP ingest, PostgreSQL",
                rate,
                rss,
                rate / peer
            );
        }
        None => println!("PostgreSQL unreachable: its figures were not measured"),
    }
}
