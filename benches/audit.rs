//! The audit log: the append rate through `AuditLog::append` (entries, the Merkle tree's nodes
//! and a checkpoint signed every 1,000 events) on the embedded store and on PostgreSQL,
//! inclusion and consistency proof latency from the store, and offline verification of a
//! whole-log JSONL export of 1M events: produced by the export route of a served tally, then
//! checked by the `tally audit verify` command, timed as a whole process.
//!
//! `cargo bench --bench audit` (env: `TALLY_BENCH_APPEND`, default 200,000 events;
//! `TALLY_BENCH_BATCH`, default 1,000; `TALLY_BENCH_PROOFS`, default 1,000 of each kind;
//! `TALLY_BENCH_VERIFY_EVENTS`, default 1,000,000; `TALLY_TEST_POSTGRES_URL` for PostgreSQL).

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally::audit::demo::{Person, trail};
use tally::audit::event::{AuditRecord, validate_events};
use tally::audit::log::AuditLog;
use tally::audit::merkle::verify_inclusion;
use tally::audit::signing;
use tally::config::{Config, Layers};
use tally::model::{Plan, Privacy, Role, Scope, Workspace};
use tally::storage::SharedStore;

const WS: &str = "bench";
const APPEND_TARGET: f64 = 50_000.0;
const VERIFY_TARGET: Duration = Duration::from_secs(2);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Realistic audit events without end: the demo's trail of a year (logins, agent and tool
/// executions by people and by AI agents for them, key and settings changes, directory syncs),
/// drawn again with a new seed and fresh ids whenever it runs out. They arrive in time order,
/// as a busy workspace's would: two seconds apart from 2025-06-01.
struct Events {
    people: Vec<Person>,
    agents: Vec<(String, String)>,
    copy: u64,
    pending: VecDeque<Value>,
    now: i64,
    next_second: i64,
}

impl Events {
    fn new() -> Events {
        let people = (0..300)
            .map(|i| Person {
                id: format!("user_{i:05}"),
                email: format!("person{i}@example.com"),
                name: format!("Person {i}"),
                admin: i < 5,
            })
            .collect();
        let agents = (0..40)
            .map(|i| (format!("agent_{i:03}"), format!("Agent {i}")))
            .collect();
        Events {
            people,
            agents,
            copy: 0,
            pending: VecDeque::new(),
            now: jiff::Timestamp::now().as_microsecond(),
            next_second: 1_748_736_000,
        }
    }

    /// The next `n` events, validated as the ingest route does (not timed as appending).
    fn next_batch(&mut self, n: usize) -> Vec<AuditRecord> {
        while self.pending.len() < n {
            let end = 1_790_000_000;
            let copy = self.copy;
            self.copy += 1;
            let events = trail(&self.people, &self.agents, 365, end, copy + 1);
            self.pending
                .extend(events.into_iter().enumerate().map(|(i, mut e)| {
                    e["id"] = json!(format!("bench-{copy}-{i}"));
                    e
                }));
        }
        let mut items: Vec<Value> = self.pending.drain(..n).collect();
        for item in &mut items {
            let at = jiff::Timestamp::from_second(self.next_second).expect("a valid instant");
            item["occurredAt"] = json!(at.to_string());
            self.next_second += 2;
        }
        validate_events(&items, self.now).expect("the generated events are valid")
    }
}

/// Appends `events` in batches; answers the seconds spent in `append` and in validation.
async fn append(
    log: &AuditLog<'_>,
    source: &mut Events,
    events: usize,
    batch: usize,
) -> (f64, f64) {
    let (mut appending, mut validating) = (Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    while done < events {
        let n = batch.min(events - done);
        let started = Instant::now();
        let records = source.next_batch(n);
        validating += started.elapsed();
        let started = Instant::now();
        let outcome = log.append(None, records).await.expect("append");
        appending += started.elapsed();
        assert_eq!(outcome.accepted as usize, n, "every event is new");
        done += n;
    }
    (appending.as_secs_f64(), validating.as_secs_f64())
}

/// Median and 99th percentile.
fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// xorshift64*: random leaves and sizes, reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

struct ProofLatency {
    inclusion: (Duration, Duration),
    consistency: (Duration, Duration),
}

/// Times `n` inclusion proofs of random leaves and `n` consistency proofs from random sizes,
/// all to the latest checkpoint, read from the store; checks the inclusion proofs.
async fn proofs(log: &AuditLog<'_>, n: usize) -> ProofLatency {
    let checkpoint = log.sign_now().await.expect("sign a checkpoint");
    let size = checkpoint.tree_size;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut inclusion = Vec::with_capacity(n);
    for _ in 0..n {
        let leaf = rng.below(size);
        let started = Instant::now();
        let path = log.inclusion(leaf, size).await.expect("inclusion proof");
        inclusion.push(started.elapsed());
        let hash = log.leaf_hash(leaf).await.expect("leaf hash");
        verify_inclusion(&hash, leaf, size, &path, &checkpoint.root_hash)
            .expect("the proof verifies");
    }
    let mut consistency = Vec::with_capacity(n);
    for _ in 0..n {
        let first = 1 + rng.below(size - 1);
        let started = Instant::now();
        log.consistency(first, size)
            .await
            .expect("consistency proof");
        consistency.push(started.elapsed());
    }
    ProofLatency {
        inclusion: percentiles(inclusion),
        consistency: percentiles(consistency),
    }
}

fn config(dir: &std::path::Path) -> Config {
    Layers::defaults()
        .flags([
            ("listen", Some("127.0.0.1:0".to_string())),
            ("data_dir", Some(dir.display().to_string())),
            ("public_url", Some("https://tally.bench".to_string())),
        ])
        .resolve()
        .expect("configuration")
}

async fn create_workspace(store: &SharedStore) {
    let ws = Workspace {
        id: WS.into(),
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
}

fn open_log<'a>(store: &'a SharedStore, config: &Config) -> AuditLog<'a> {
    let seed = signing::seed(config).expect("the signing key");
    let signer = signing::signer(config, seed, WS).expect("a signer");
    AuditLog::new(store.as_ref(), WS, signer)
}

/// One store's figures.
struct StoreRun {
    appended: usize,
    append_rate: f64,
    validate_rate: f64,
    proofs: ProofLatency,
}

async fn run_store(
    store: &SharedStore,
    config: &Config,
    source: &mut Events,
    events: usize,
    batch: usize,
    n_proofs: usize,
) -> StoreRun {
    create_workspace(store).await;
    let log = open_log(store, config);
    let (appending, validating) = append(&log, source, events, batch).await;
    StoreRun {
        appended: events,
        append_rate: events as f64 / appending,
        validate_rate: events as f64 / validating,
        proofs: proofs(&log, n_proofs).await,
    }
}

fn print_store(name: &str, run: &StoreRun, batch: usize) {
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    println!(
        "{name}: {} events in batches of {batch}: append {:.0} events/s (validation beside it: {:.0} events/s)",
        run.appended, run.append_rate, run.validate_rate
    );
    println!(
        "{name}: inclusion proof median {:.3} ms, p99 {:.3} ms; consistency proof median {:.3} ms, p99 {:.3} ms",
        ms(run.proofs.inclusion.0),
        ms(run.proofs.inclusion.1),
        ms(run.proofs.consistency.0),
        ms(run.proofs.consistency.1)
    );
}

async fn postgres() -> Option<(SharedStore, String, tokio_postgres::Client)> {
    let base = std::env::var("TALLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let connect = tokio_postgres::connect(&base, tokio_postgres::NoTls);
    let (client, conn) = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .ok()?
        .ok()?;
    tokio::spawn(conn);
    let schema = format!("tally_bench_audit_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .ok()?;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = tally::storage::open(Some(&url), std::path::Path::new("/nonexistent"))
        .await
        .ok()?;
    Some((store, schema, client))
}

/// A served tally over `store`: its base URL and an `audit_read` key.
async fn serve(store: &SharedStore, config: &Config) -> (String, String) {
    let minted = tally::access::mint_key(WS, "bench", Role::User, vec![Scope::AuditRead], None, 0)
        .expect("a key");
    store
        .create_key(&minted.key, &minted.secret_hash)
        .await
        .expect("store the key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = tally::web::AppState::new(store.clone(), config.clone());
    tokio::spawn(tally::web::serve(listener, state));
    (base, minted.secret)
}

/// Downloads the whole log's JSONL export to `path`; answers the seconds it took.
async fn export_to(base: &str, secret: &str, path: &std::path::Path) -> f64 {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut response = client
        .get(format!("{base}/api/v1/w/{WS}/audit/export?format=jsonl"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("the export answers");
    assert_eq!(response.status(), 200);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    while let Some(chunk) = response.chunk().await.expect("the export streams") {
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
    started.elapsed().as_secs_f64()
}

/// The log's verifier key, as `GET …/audit/keys` lists it.
async fn vkey(base: &str, secret: &str) -> String {
    let keys: Value = reqwest::Client::new()
        .get(format!("{base}/api/v1/w/{WS}/audit/keys"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    keys["data"][0]["vkey"].as_str().unwrap().to_string()
}

/// Runs `tally audit verify EXPORT --key VKEY`; answers its wall time and its report.
fn verify(path: &std::path::Path, vkey: &str) -> (Duration, String) {
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["audit", "verify"])
        .arg(path)
        .args(["--key", vkey])
        .output()
        .expect("run tally audit verify");
    let elapsed = started.elapsed();
    let report = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(output.status.success(), "verification failed: {report}");
    (elapsed, report)
}

fn row(what: &str, measured: String, target: &str, met: Option<bool>) {
    let met = match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    };
    println!("| {what:<44} | {measured:>21} | {target:>16} | {met:>4} |");
}

#[tokio::main]
async fn main() {
    let events = env_or("TALLY_BENCH_APPEND", 200_000);
    let batch = env_or("TALLY_BENCH_BATCH", 1_000);
    let n_proofs = env_or("TALLY_BENCH_PROOFS", 1_000);
    let verify_events = env_or("TALLY_BENCH_VERIFY_EVENTS", 1_000_000).max(events);
    println!("audit benchmark: 2 cores shared with the benchmark's own client work");

    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let sqlite = tally::storage::open(None, dir.path())
        .await
        .expect("open the embedded store");
    let mut lite_events = Events::new();
    let lite = run_store(&sqlite, &config, &mut lite_events, events, batch, n_proofs).await;
    print_store("embedded SQLite", &lite, batch);

    let pg = match postgres().await {
        Some((store, schema, client)) => {
            let mut source = Events::new();
            let run = run_store(&store, &config, &mut source, events, batch, n_proofs).await;
            print_store("PostgreSQL", &run, batch);
            drop(store);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await;
            Some(run)
        }
        None => {
            println!("PostgreSQL unreachable: its figures were not measured");
            None
        }
    };

    let log = open_log(&sqlite, &config);
    let more = verify_events - events;
    let (appending, _) = append(&log, &mut lite_events, more, batch).await;
    let growth_rate = more as f64 / appending;
    println!(
        "embedded SQLite: grown to {verify_events} events (the next {more} appended at {growth_rate:.0} events/s)"
    );
    let (base, secret) = serve(&sqlite, &config).await;
    let export = dir.path().join("audit.jsonl");
    let seconds = export_to(&base, &secret, &export).await;
    let bytes = std::fs::metadata(&export).map_or(0, |m| m.len());
    println!(
        "JSONL export of the whole log through the export route: {:.1} s ({:.0} events/s, {:.0} MiB)",
        seconds,
        verify_events as f64 / seconds,
        bytes as f64 / 1_048_576.0
    );
    let vkey = vkey(&base, &secret).await;
    let runs: Vec<(Duration, String)> = (0..3).map(|_| verify(&export, &vkey)).collect();
    let mut times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    times.sort();
    let verify_time = times[1];
    println!("tally audit verify: {}", runs[0].1);
    println!(
        "tally audit verify of the {verify_events}-event export: {:.2} s (median of 3 runs: {})",
        verify_time.as_secs_f64(),
        runs.iter()
            .map(|r| format!("{:.2} s", r.0.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1_000.0);
    println!();
    println!(
        "| {:<44} | {:>21} | {:>16} | {:>4} |",
        "what", "measured", "target", "met"
    );
    println!("|{:-<46}|{:-<23}|{:-<18}|{:-<6}|", "", "", "", "");
    row(
        "append, Merkle tree maintained, SQLite",
        format!("{:.0} events/s", lite.append_rate),
        ">= 50,000/s",
        Some(lite.append_rate >= APPEND_TARGET),
    );
    row(
        &format!("append, SQLite, from {events} to {verify_events}"),
        format!("{growth_rate:.0} events/s"),
        "reported",
        None,
    );
    if let Some(pg) = &pg {
        row(
            "append, Merkle tree maintained, PostgreSQL",
            format!("{:.0} events/s", pg.append_rate),
            "reported",
            None,
        );
    }
    for (name, run) in [("SQLite", Some(&lite)), ("PostgreSQL", pg.as_ref())] {
        let Some(run) = run else { continue };
        let (median, p99) = run.proofs.inclusion;
        row(
            &format!("inclusion proof, {name}, median / p99"),
            format!("{} / {}", ms(median), ms(p99)),
            "reported",
            None,
        );
        let (median, p99) = run.proofs.consistency;
        row(
            &format!("consistency proof, {name}, median / p99"),
            format!("{} / {}", ms(median), ms(p99)),
            "reported",
            None,
        );
    }
    row(
        &format!("verify a {verify_events}-event export offline"),
        format!("{:.2} s", verify_time.as_secs_f64()),
        "<= 2 s",
        Some(verify_time <= VERIFY_TARGET),
    );
}
