//! Log stream delivery throughput per kind: a log of `TALLY_BENCH_STREAM_EVENTS` (default
//! 100,000) realistic audit events (with a checkpoint every 1,000) on the embedded store is
//! delivered from leaf 0 by the real worker, with its default batch of 500 records
//! (`TALLY_BENCH_STREAM_BATCH`), to local receivers implementing the webhook, Splunk HEC and
//! Datadog intake contracts, and to moto (S3) and gcp-storage-emulator (GCS) when installed.
//! Prints records/s per kind, timed from the stream's creation until its cursor reaches the
//! log's size.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use serde_json::{Value, json};
use tally::audit::event::validate_events;
use tally::audit::log::AuditLog;
use tally::audit::signing;
use tally::config::{Config, Layers};
use tally::model::{Plan, Privacy, Workspace};
use tally::storage::SharedStore;
use tally::storage::streams::StoredStream;
use tally::streams::seal::seal_map;
use tally::streams::worker::{Gauges, WorkerSettings, run};

const WS: &str = "bench";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(dir: &std::path::Path) -> Config {
    Layers::defaults()
        .flags([
            ("listen", Some("127.0.0.1:0".to_string())),
            ("data_dir", Some(dir.display().to_string())),
        ])
        .resolve()
        .expect("configuration")
}

const ACTIONS: [&str; 4] = [
    "document.viewed",
    "agent.executed",
    "tool.executed",
    "member.invited",
];

/// A batch of audit events about as large as real ones (about 500 bytes each).
fn events(from: usize, n: usize) -> Vec<Value> {
    (from..from + n)
        .map(|i| {
            json!({"id": format!("evt_{i:09}"), "action": ACTIONS[i % 4],
                   "occurredAt": jiff::Timestamp::from_second(1_780_000_000 + i as i64).unwrap().to_string(),
                   "actor": {"type": "user", "id": format!("user_{:05}", i % 300), "name": format!("Person {}", i % 300), "email": format!("person{}@example.com", i % 300)},
                   "targets": [{"type": "document", "id": format!("doc_{:06}", i % 5000), "name": "Quarterly planning notes"}, {"type": "space", "id": "space_eng", "name": "Engineering"}],
                   "context": {"location": format!("203.0.113.{}", i % 250), "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0"},
                   "metadata": {"conversation_id": format!("conv_{:07}", i / 7), "agent_name": "Research assistant", "initiating_user_id": format!("user_{:05}", i % 300)}})
        })
        .collect()
}

async fn fill(store: &SharedStore, config: &Config, n: usize) {
    let ws = Workspace {
        id: WS.into(),
        name: "Bench".into(),
        plan: Plan::Enterprise,
        timezone: "UTC".into(),
        privacy: Privacy::Full,
        created_at: jiff::Timestamp::now(),
    };
    store.create_workspace(&ws).await.expect("workspace");
    let seed = signing::seed(config).expect("signing key");
    let log = AuditLog::new(
        store.as_ref(),
        WS,
        signing::signer(config, seed, WS).expect("signer"),
    );
    let now = jiff::Timestamp::now().as_microsecond();
    for from in (0..n).step_by(1_000) {
        let records =
            validate_events(&events(from, 1_000.min(n - from)), now).expect("valid events");
        log.append(None, records).await.expect("append");
    }
}

/// One local server for the three HTTP contracts: it reads each body and answers 200.
async fn http_receiver(bytes: Arc<AtomicU64>) -> String {
    let count = move |body: Bytes| {
        let bytes = bytes.clone();
        async move {
            bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            "{}"
        }
    };
    let app = axum::Router::new()
        .route("/hook", post(count.clone()))
        .route("/services/collector/event", post(count.clone()))
        .route("/api/v2/logs", post(count));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A Python emulator on a free port, when installed; killed on drop.
struct Emulator(std::process::Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn emulator(program: &str, args: &[&str], port: u16) -> Option<Emulator> {
    let child = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let emulator = Emulator(child, format!("http://127.0.0.1:{port}"));
    for _ in 0..200 {
        if reqwest::get(&emulator.1).await.is_ok() {
            return Some(emulator);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a port")
}

/// Delivers the whole log through a new stream of `kind`; answers records/s.
async fn deliver(
    store: &SharedStore,
    cfg: &Config,
    kind: &str,
    config: Value,
    batch: usize,
) -> f64 {
    let key = tally::streams::seal::key(cfg).expect("stream key");
    let settings = tally::streams::config::check(
        kind.parse().expect("a kind"),
        config.as_object().expect("an object"),
        true,
    )
    .expect("valid settings");
    let id = format!("ls_bench_{kind}");
    let now = jiff::Timestamp::now().as_microsecond();
    let stream = StoredStream {
        workspace_id: WS.into(),
        id: id.clone(),
        kind: kind.into(),
        config: Value::Object(settings.public.clone()).to_string(),
        secrets: seal_map(&key, WS, &id, &settings.secrets).expect("sealed"),
        state: "active".into(),
        cursor: 0,
        checkpoint_cursor: 0,
        delivered: 0,
        last_success_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    let size = store.audit_tree_size(WS).await.expect("size");
    let mut worker = WorkerSettings::new(format!("bench-{kind}"), key, true);
    worker.batch = batch;
    worker.poll = Duration::from_millis(100);
    let started = Instant::now();
    store.stream_create(&stream).await.expect("stream");
    let task = tokio::spawn(run(store.clone(), worker, Gauges::default()));
    loop {
        let s = store
            .stream(WS, &id)
            .await
            .expect("read")
            .expect("the stream");
        if s.cursor >= size {
            break;
        }
        assert!(s.state != "stopped", "{kind} stopped: {:?}", s.last_error);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    task.abort();
    size as f64 / seconds
}

#[tokio::main]
async fn main() {
    let n = env_or("TALLY_BENCH_STREAM_EVENTS", 100_000);
    let batch = env_or("TALLY_BENCH_STREAM_BATCH", 500);
    let dir = tempfile::tempdir().expect("a directory");
    let cfg = config(dir.path());
    let store = tally::storage::open(None, dir.path()).await.expect("store");
    let started = Instant::now();
    fill(&store, &cfg, n).await;
    println!(
        "appended {n} audit events in {:.1} s; delivering in batches of {batch}",
        started.elapsed().as_secs_f64()
    );
    let bytes = Arc::new(AtomicU64::new(0));
    let base = http_receiver(bytes.clone()).await;
    let mut runs = vec![
        (
            "https",
            json!({"url": format!("{base}/hook"), "secret": "whsec_bench"}),
        ),
        ("splunk", json!({"url": base, "token": "hec"})),
        (
            "datadog",
            json!({"site": "datadoghq.com", "url": base, "apiKey": "dd"}),
        ),
    ];
    let s3_port = free_port();
    let moto = emulator(
        "python3",
        &[
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &s3_port.to_string(),
        ],
        s3_port,
    )
    .await;
    if let Some(moto) = &moto {
        reqwest::Client::new()
            .put(format!("{}/bench", moto.1))
            .send()
            .await
            .expect("bucket");
        runs.push(("s3", json!({"bucket": "bench", "region": "us-east-1", "endpoint": moto.1, "accessKeyId": "a", "secretAccessKey": "s"})));
    } else {
        println!("s3: skipped (pip install 'moto[server]')");
    }
    let gcs_port = free_port();
    let gcs = emulator(
        "gcp-storage-emulator",
        &[
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            &gcs_port.to_string(),
            "--in-memory",
        ],
        gcs_port,
    )
    .await;
    if let Some(gcs) = &gcs {
        reqwest::Client::new()
            .post(format!("{}/storage/v1/b", gcs.1))
            .json(&json!({"name": "bench"}))
            .send()
            .await
            .expect("bucket");
        runs.push(("gcs", json!({"bucket": "bench", "endpoint": gcs.1})));
    } else {
        println!("gcs: skipped (pip install gcp-storage-emulator)");
    }
    println!("| kind | records/s | bytes received |\n|---|---|---|");
    for (kind, config) in runs {
        bytes.store(0, Ordering::Relaxed);
        let rate = deliver(&store, &cfg, kind, config, batch).await;
        let received = bytes.load(Ordering::Relaxed);
        let shown = if received > 0 {
            format!("{:.1} MB", received as f64 / 1e6)
        } else {
            "(object store)".into()
        };
        println!("| {kind} | {rate:.0} | {shown} |");
    }
}
