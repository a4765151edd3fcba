//! Durability: the server is killed with SIGKILL during sustained ingest; every event it
//! acknowledged is in the store afterwards.

use crate::support::*;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(ts: &TestStore, port: u16) -> Child {
    start_server_with(ts, port, &[])
}

/// Starts the real binary over `ts` on `port` with `TALLY_*` variables.
pub fn start_server_with(ts: &TestStore, port: u16, vars: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .envs(vars.iter().copied())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &ts.url])
        .arg("--data-dir")
        .arg(ts._dir.path())
        .env("TALLY_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server at {base} did not become ready");
}

/// Posts batches of fresh events from 4 writers until the server stops answering; the ids of
/// acknowledged events are collected.
fn sustained_ingest(
    base: &str,
    secret: &str,
) -> (Arc<Mutex<Vec<String>>>, Vec<tokio::task::JoinHandle<()>>) {
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let (acked, secret, base) = (acked.clone(), secret.to_string(), base.to_string());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for b in 0.. {
                let ids: Vec<String> = (0..200).map(|i| format!("w{w}_b{b}_m{i}")).collect();
                let body: String = ids
                    .iter()
                    .map(|id| format!("{}\n", message(id, "2026-03-01T10:00:00Z")))
                    .collect();
                let sent = client
                    .post(format!("{base}/api/v1/w/{WS}/events"))
                    .bearer_auth(&secret)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(ids),
                    _ => return,
                }
            }
        }));
    }
    (acked, writers)
}

/// Stops the server the way `stop` says during sustained ingest, restarts it, and checks that
/// every acknowledged event is stored. Answers the stopped server's exit status.
async fn stop_during_ingest(
    ts: &TestStore,
    stop: impl FnOnce(&mut Child),
) -> std::process::ExitStatus {
    create_workspace(&ts.store, WS, tally::model::Plan::Free).await;
    let secret = key(
        &ts.store,
        WS,
        tally::model::Role::User,
        vec![tally::model::Scope::Ingest],
    )
    .await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start_server(ts, port);
    wait_ready(&base).await;
    let (acked, writers) = sustained_ingest(&base, &secret);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop(&mut child);
    let status = child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 1_000,
        "ingest was sustained before the stop ({} acked)",
        acked.len()
    );
    let mut child = start_server(ts, port);
    wait_ready(&base).await;
    let stored: HashSet<String> = ts
        .store
        .activity_between(WS, 0, i64::MAX)
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.id)
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost on {}, e.g. {:?}",
        lost.len(),
        ts.backend(),
        lost.first()
    );
    child.kill().unwrap();
    child.wait().unwrap();
    status
}

#[tokio::test]
async fn acknowledged_events_survive_sigkill() {
    each_store(|ts| async move {
        stop_during_ingest(&ts, |child| child.kill().unwrap()).await; // SIGKILL
        ts
    })
    .await;
}

#[tokio::test]
async fn sigterm_drains_requests_and_exits_cleanly() {
    each_store(|ts| async move {
        let status = stop_during_ingest(&ts, |child| {
            let sent = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        })
        .await;
        assert!(
            status.success(),
            "a SIGTERM'd server exits 0 ({status}) on {}",
            ts.backend()
        );
        ts
    })
    .await;
}
