//! Local receivers that implement the contracts log streams deliver to: an HMAC-signed
//! webhook, Splunk HEC (`/services/collector/event`, `Authorization: Splunk <token>`) and the
//! Datadog logs intake (`/api/v2/logs`, `DD-API-KEY`, gzip). Each can fail on purpose: answer
//! a status, 429 with Retry-After, 413 over a batch size, answer slowly, drop connections, or
//! be down altogether (stopped, then started again on the same port).

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

pub const SECRET: &str = "whsec_test";
pub const TOKEN: &str = "hec-token";
pub const API_KEY: &str = "dd-key";

/// How the receiver misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    None,
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    RetryAfter(u64),
    /// 413 when a request carries more than this many records.
    TooLarge(usize),
    /// Answers after this long.
    Slow(Duration),
    /// Closes the connection without answering.
    Drop,
}

#[derive(Default)]
struct Shared {
    /// Every record accepted, in arrival order (checkpoints and tests included).
    received: Mutex<Vec<Value>>,
    failure: Mutex<Option<Failure>>,
    requests: AtomicU64,
    /// Records per accepted request.
    batch_sizes: Mutex<Vec<usize>>,
    bad_signatures: AtomicU64,
    /// Splunk indexer acknowledgement, when enabled.
    acks: Mutex<Option<Acks>>,
}

/// Batches HEC accepted but has not confirmed as indexed: by ack id, the records and how often
/// the id was asked about. A batch is confirmed (and counts as received) on the second ask.
#[derive(Default)]
struct Acks {
    next: u64,
    pending: std::collections::HashMap<u64, (Vec<Value>, u32)>,
    polls: u64,
}

/// A running receiver.
pub struct Receiver {
    pub base: String,
    port: u16,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = Receiver {
            base: format!("http://127.0.0.1:{port}"),
            port,
            shared: Arc::default(),
            stop: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .route("/hook", post(webhook))
            .route("/services/collector/event", post(splunk))
            .route("/services/collector/ack", post(splunk_ack))
            .route("/api/v2/logs", post(datadog))
            .with_state(self.shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
    }

    /// Stops listening: connections are refused until [`Receiver::restart`].
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return self.serve(listener),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen again on {}: {e}", self.port),
            }
        }
    }

    pub fn fail(&self, failure: Failure) {
        *self.shared.failure.lock().unwrap() = Some(failure);
    }

    pub fn received(&self) -> Vec<Value> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The leaf indexes of the records received, in arrival order.
    pub fn leaves(&self) -> Vec<u64> {
        self.received()
            .iter()
            .filter_map(|r| r["leafIndex"].as_u64())
            .collect()
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn batch_sizes(&self) -> Vec<usize> {
        self.shared.batch_sizes.lock().unwrap().clone()
    }

    /// Makes the Splunk endpoint acknowledge indexing by id, as HEC does when enabled.
    pub fn enable_acks(&self) {
        *self.shared.acks.lock().unwrap() = Some(Acks::default());
    }

    /// How often the acknowledgement endpoint was asked.
    pub fn ack_polls(&self) -> u64 {
        self.shared
            .acks
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |a| a.polls)
    }

    pub fn bad_signatures(&self) -> u64 {
        self.shared.bad_signatures.load(Ordering::SeqCst)
    }
}

/// Applies the failure mode before a request's records are read; `Some` answers instead.
async fn misbehave(shared: &Shared, records: usize) -> Option<Response> {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let failure = shared
        .failure
        .lock()
        .unwrap()
        .clone()
        .unwrap_or(Failure::None);
    match failure {
        Failure::None => None,
        Failure::Status(s) => Some(StatusCode::from_u16(s).unwrap().into_response()),
        Failure::RetryAfter(secs) => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
            )
                .into_response(),
        ),
        Failure::TooLarge(max) if records > max => {
            Some(StatusCode::PAYLOAD_TOO_LARGE.into_response())
        }
        Failure::TooLarge(_) => None,
        Failure::Slow(d) => {
            tokio::time::sleep(d).await;
            None
        }
        // A panic ends the connection's task: the client sees the connection closed.
        Failure::Drop => panic!("receiver dropping the connection on purpose"),
    }
}

fn accept(shared: &Shared, records: Vec<Value>) -> Response {
    shared.batch_sizes.lock().unwrap().push(records.len());
    shared.received.lock().unwrap().extend(records);
    StatusCode::OK.into_response()
}

async fn webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers
        .get("tally-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = jiff::Timestamp::now().as_second();
    if !tally::streams::sign::verify(SECRET.as_bytes(), signature, &body, now) {
        shared.requests.fetch_add(1, Ordering::SeqCst);
        shared.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let value: Value = serde_json::from_slice(&body).unwrap();
    let records = value["records"].as_array().unwrap().clone();
    if let Some(answer) = misbehave(&shared, records.len()).await {
        return answer;
    }
    accept(&shared, records)
}

async fn splunk(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Splunk {TOKEN}"))
    {
        shared.requests.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"text":"Invalid token","code":4}"#,
        )
            .into_response();
    }
    let events: Vec<Value> = serde_json::Deserializer::from_slice(&body)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    if let Some(answer) = misbehave(&shared, events.len()).await {
        return answer;
    }
    for e in &events {
        assert_eq!(e["source"], "tally");
        assert_eq!(e["sourcetype"], "tally:audit");
        assert!(e["time"].is_number());
    }
    let records: Vec<Value> = events.into_iter().map(|e| e["event"].clone()).collect();
    let mut acks = shared.acks.lock().unwrap();
    let Some(acks) = acks.as_mut() else {
        drop(acks);
        return accept(&shared, records);
    };
    if headers.get("x-splunk-request-channel").is_none() {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"text":"Data channel is missing","code":10}"#,
        )
            .into_response();
    }
    let id = acks.next;
    acks.next += 1;
    acks.pending.insert(id, (records, 0));
    axum::Json(serde_json::json!({"text": "Success", "code": 0, "ackId": id})).into_response()
}

async fn splunk_ack(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let asked: Value = serde_json::from_slice(&body).unwrap();
    let mut answer = serde_json::Map::new();
    let mut confirmed = Vec::new();
    {
        let mut acks = shared.acks.lock().unwrap();
        let acks = acks.as_mut().expect("acknowledgement enabled");
        acks.polls += 1;
        for id in asked["acks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
        {
            let done = match acks.pending.get_mut(&id) {
                Some((_, polls)) => {
                    *polls += 1;
                    *polls >= 2
                }
                None => false,
            };
            if done {
                confirmed.push(acks.pending.remove(&id).unwrap().0);
            }
            answer.insert(id.to_string(), Value::Bool(done));
        }
    }
    for records in confirmed {
        accept(&shared, records);
    }
    axum::Json(serde_json::json!({"acks": answer})).into_response()
}

async fn datadog(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("dd-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        shared.requests.fetch_add(1, Ordering::SeqCst);
        return StatusCode::FORBIDDEN.into_response();
    }
    assert_eq!(headers.get("content-encoding").unwrap(), "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(entries.len() <= 1000 && text.len() <= 5_000_000);
    if let Some(answer) = misbehave(&shared, entries.len()).await {
        return answer;
    }
    let mut records = Vec::new();
    for e in entries {
        assert_eq!(
            (e["ddsource"].as_str(), e["service"].as_str()),
            (Some("tally"), Some("tally"))
        );
        records.push(serde_json::from_str(e["message"].as_str().unwrap()).unwrap());
    }
    accept(&shared, records)
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Checks that `leaves`, in arrival order, deliver `0..n` in order without a gap: each leaf is
/// the next one, or a redelivery of one already seen (at least once).
pub fn assert_in_order_without_gaps(leaves: &[u64], n: u64) {
    let mut next = 0u64;
    for (i, &leaf) in leaves.iter().enumerate() {
        assert!(
            leaf <= next,
            "leaf {leaf} arrived at position {i} before leaf {next}: a gap"
        );
        if leaf == next {
            next += 1;
        }
    }
    assert_eq!(next, n, "every leaf up to {n} arrived");
}
