//! Two `tally serve` replicas on one PostgreSQL: each stream is delivered by one of them at a
//! time (no record twice while both live), and when the holder is killed the other takes the
//! stream over within the lease time and continues from the cursor without a gap. Also with
//! the real server: deliveries go through the proxy the environment names.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tally::model::{Plan, Role, Scope};

use crate::crash::{free_port, start_server_with, wait_ready};
use crate::receivers::*;
use crate::stream_delivery::audit_events;
use crate::support::*;

/// The lease time `serve` uses.
const LEASE: Duration = Duration::from_secs(15);

async fn lease_owner(ts: &TestStore) -> Option<String> {
    let (client, conn) = tokio_postgres::connect(&ts.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT lease_owner FROM log_streams", &[])
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn one_replica_delivers_a_stream_and_another_takes_over_when_it_dies() {
    let Some(ts) = postgres_store().await else {
        return;
    };
    create_workspace(&ts.store, WS, Plan::Enterprise).await;
    let admin = key(&ts.store, WS, Role::Admin, vec![]).await;
    let ingest = key(&ts.store, WS, Role::User, vec![Scope::Ingest]).await;
    let receiver = Receiver::start().await;
    let vars = [("TALLY_STREAMS_ALLOW_PRIVATE", "true")];
    let ports = [free_port(), free_port()];
    let mut replicas: Vec<_> = ports
        .iter()
        .map(|&p| start_server_with(&ts, p, &vars))
        .collect();
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    for base in &bases {
        wait_ready(base).await;
    }
    let client = reqwest::Client::new();
    let body = json!({"kind": "https", "config": {"url": format!("{}/hook", receiver.base), "secret": SECRET}});
    let created = client
        .post(format!("{}/api/v1/w/{WS}/audit/streams", bases[0]))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let post = |base: String, prefix: String| {
        let (client, ingest) = (client.clone(), ingest.clone());
        async move {
            let events = audit_events(&prefix, 50);
            let r = client
                .post(format!("{base}/api/v1/w/{WS}/audit/events"))
                .bearer_auth(&ingest)
                .json(&events)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    // Both replicas live and polling: every round is delivered exactly once.
    for round in 0..6 {
        post(bases[round % 2].clone(), format!("r{round}")).await;
        let n = ts.store.audit_tree_size(WS).await.unwrap();
        eventually(Duration::from_secs(20), "the round", || {
            receiver.leaves().len() as u64 >= n
        })
        .await;
    }
    let n = ts.store.audit_tree_size(WS).await.unwrap();
    assert_eq!(
        receiver.leaves(),
        (0..n).collect::<Vec<_>>(),
        "no record twice while both replicas live"
    );

    let owner = lease_owner(&ts).await.expect("a replica holds the stream");
    let holder = ports
        .iter()
        .position(|p| owner.ends_with(&format!(":{p}")))
        .expect("the owner names a replica");
    replicas[holder].kill().unwrap(); // SIGKILL
    replicas[holder].wait().unwrap();
    let killed = Instant::now();
    let survivor = 1 - holder;
    post(bases[survivor].clone(), "after".into()).await;
    let n = ts.store.audit_tree_size(WS).await.unwrap();
    eventually(LEASE + Duration::from_secs(10), "the takeover", || {
        receiver.leaves().iter().max().is_some_and(|&m| m + 1 >= n)
    })
    .await;
    assert!(
        killed.elapsed() >= LEASE - Duration::from_secs(1),
        "taken over only once the lease expired"
    );
    assert_in_order_without_gaps(&receiver.leaves(), n);
    let owner = lease_owner(&ts).await.unwrap();
    assert!(owner.ends_with(&format!(":{}", ports[survivor])), "{owner}");
    let status: Value = client
        .get(format!("{}/api/v1/w/{WS}/audit/streams", bases[survivor]))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["data"][0]["status"]["lagEvents"], 0, "{status}");
    replicas[survivor].kill().unwrap();
    replicas[survivor].wait().unwrap();
    ts.cleanup().await;
}

/// Deliveries go through the proxy the environment names, as an operator's fixed egress would.
#[tokio::test]
async fn deliveries_go_through_the_configured_proxy() {
    let Some(ts) = postgres_store().await else {
        return;
    };
    create_workspace(&ts.store, WS, Plan::Enterprise).await;
    let admin = key(&ts.store, WS, Role::Admin, vec![]).await;
    // The receiver answers proxy requests (absolute-form URIs) by their path.
    let proxy = Receiver::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let proxy_vars = [
        ("TALLY_STREAMS_ALLOW_PRIVATE", "true"),
        ("HTTP_PROXY", proxy.base.as_str()),
        ("NO_PROXY", ""),
    ];
    let mut child = start_server_with(&ts, port, &proxy_vars);
    wait_ready(&base).await;
    // Nothing listens at the stream's own address: only the proxy can deliver.
    let body =
        json!({"kind": "https", "config": {"url": "http://127.0.0.1:9/hook", "secret": SECRET}});
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let created = client
        .post(format!("{base}/api/v1/w/{WS}/audit/streams"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    eventually(
        Duration::from_secs(20),
        "delivery through the proxy",
        || proxy.leaves() == [0],
    )
    .await;
    assert_eq!(proxy.received()[0]["event"]["action"], "stream.created");
    child.kill().unwrap();
    child.wait().unwrap();
    ts.cleanup().await;
}
