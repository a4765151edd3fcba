//! The delivery worker `tally serve` runs. Every `poll` it claims the due streams (taking or
//! renewing their leases in the store, so one replica at a time delivers a stream) and runs one
//! task per stream it does not run yet. A task reads batches from the stream's cursor (records
//! in leaf order, each checkpoint after the record that completes it), sends them, and moves
//! the cursor only after the receiver accepted the batch: delivery is at least once, in
//! order, and survives crashes, outages and restarts. Failures are retried with backoff
//! (`failing`), a 413 halves the batch, and a permanent failure stops the stream with its
//! error (`stopped`) until an admin resumes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::batch::{self, Batch};
use super::record;
use super::retry::{Backoff, Verdict};
use super::sink::Sink;
use super::{Kind, State, config, settings_of};
use crate::storage::SharedStore;
use crate::storage::StoreError;
use crate::storage::audit::{AuditFilter, AuditOrder};
use crate::storage::streams::{Lease, StoredStream, StreamProgress};

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// This replica's name in leases.
    pub owner: String,
    /// How long a lease holds without renewal: a dead replica's streams are taken over after it.
    pub lease: Duration,
    /// How often leases are renewed and new records looked for (the batching window).
    pub poll: Duration,
    /// Most records per batch.
    pub batch: usize,
    /// How long an HTTP request may take before it counts as a timeout (retried).
    pub timeout: Duration,
    pub backoff: Backoff,
    pub allow_private: bool,
    /// The key stream secrets are sealed with.
    pub key: [u8; 32],
}

impl WorkerSettings {
    /// The defaults `serve` uses. `owner` must name this process among the live replicas;
    /// a restarted process with the same name takes its streams back at once instead of
    /// waiting for its old leases to expire.
    pub fn new(owner: String, key: [u8; 32], allow_private: bool) -> Self {
        WorkerSettings {
            owner,
            lease: Duration::from_secs(15),
            poll: Duration::from_millis(500),
            batch: 500,
            timeout: super::sink::REQUEST_TIMEOUT,
            backoff: Backoff::default(),
            allow_private,
            key,
        }
    }
}

/// This replica's name: its host and listening address, which no other live process shares.
pub fn replica_name(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tally".into());
    format!("{host}@{listen}")
}

/// One stream's figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauge {
    pub kind: String,
    pub state: String,
    pub delivered: u64,
    pub lag_events: u64,
    pub lag_seconds: u64,
}

/// The figures of the streams this replica delivers, by stream id.
pub type Gauges = Arc<Mutex<HashMap<String, Gauge>>>;

/// Runs the worker until the task is dropped.
pub async fn run(store: SharedStore, settings: WorkerSettings, gauges: Gauges) {
    let settings = Arc::new(settings);
    let client = match super::sink::http_client(settings.timeout, settings.allow_private) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "log streams cannot start their HTTP client");
            return;
        }
    };
    let mut running: HashMap<(String, String), tokio::task::JoinHandle<()>> = HashMap::new();
    let mut ticker = tokio::time::interval(settings.poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        running.retain(|_, task| !task.is_finished());
        let now = jiff::Timestamp::now().as_microsecond();
        let lease = Lease {
            owner: &settings.owner,
            now,
            until: now + settings.lease.as_micros() as i64,
        };
        let claimed = match store.stream_claim(lease, 256).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "log streams: cannot claim streams");
                continue;
            }
        };
        for stream in claimed {
            let key = (stream.workspace_id.clone(), stream.id.clone());
            if running.contains_key(&key) {
                continue;
            }
            let task = Delivery {
                store: store.clone(),
                settings: settings.clone(),
                client: client.clone(),
                gauges: gauges.clone(),
            };
            running.insert(key, tokio::spawn(task.run(stream)));
        }
    }
}

struct Delivery {
    store: SharedStore,
    settings: Arc<WorkerSettings>,
    client: reqwest::Client,
    gauges: Gauges,
}

impl Delivery {
    fn lease(&self) -> Lease<'_> {
        let now = jiff::Timestamp::now().as_microsecond();
        Lease {
            owner: &self.settings.owner,
            now,
            until: now + self.settings.lease.as_micros() as i64,
        }
    }

    /// Delivers until the stream is caught up, stopped, paused, deleted or taken over.
    async fn run(self, stream: StoredStream) {
        let (ws, id) = (stream.workspace_id.clone(), stream.id.clone());
        if let Err(e) = self.deliver(stream).await {
            tracing::warn!(workspace = %ws, stream = %id, error = %e, "log stream delivery interrupted by the store");
        }
    }

    async fn deliver(&self, stream: StoredStream) -> Result<(), StoreError> {
        let (ws, id) = (stream.workspace_id.as_str(), stream.id.as_str());
        let sink = match self.sink(&stream) {
            Ok(sink) => sink,
            Err(reason) => {
                let progress = failed(&stream, State::Stopped, reason);
                self.store
                    .stream_progress(ws, id, self.lease(), &progress)
                    .await?;
                return Ok(());
            }
        };
        let mut limit = self.settings.batch;
        let mut attempt = 0u32;
        loop {
            let Some(current) = self.store.stream(ws, id).await? else {
                return Ok(());
            };
            if !matches!(current.state.as_str(), "active" | "failing") {
                return Ok(());
            }
            let batch = self.next_batch(&current, limit).await?;
            self.gauge(&current, batch.as_ref()).await?;
            let Some(batch) = batch else {
                return Ok(());
            };
            let name = record::object_name(
                sink.prefix(),
                ws,
                &batch.items,
                current.cursor,
                jiff::Timestamp::now(),
            );
            let sent = sink.send(&self.client, &name, &batch.items).await;
            let reason = sent.reason.unwrap_or_default();
            let (progress, wait) = match sent.verdict {
                Verdict::Delivered => {
                    attempt = 0;
                    (delivered(&batch), None)
                }
                Verdict::Split if batch.items.len() > 1 => {
                    limit = (batch.items.len() / 2).max(1);
                    continue;
                }
                Verdict::Split | Verdict::Permanent => {
                    (failed(&current, State::Stopped, reason), None)
                }
                Verdict::Retry { after } => {
                    let wait = self.settings.backoff.wait(attempt, after);
                    attempt = attempt.saturating_add(1);
                    (failed(&current, State::Failing, reason), Some(wait))
                }
            };
            let stopped = progress.state == State::Stopped.as_str();
            if !self
                .store
                .stream_progress(ws, id, self.lease(), &progress)
                .await?
                || stopped
            {
                return Ok(());
            }
            // The claim loop keeps renewing the lease of a failing stream meanwhile, so even a
            // long Retry-After is waited out in full.
            if let Some(wait) = wait {
                tokio::time::sleep(wait).await;
            }
        }
    }

    fn sink(&self, stream: &StoredStream) -> Result<Sink, String> {
        let kind: Kind = stream.kind.parse()?;
        let stored = settings_of(stream, &self.settings.key).map_err(|e| e.to_string())?;
        // Checked again at delivery: the operator may have stopped allowing private addresses.
        let settings = config::check(kind, &stored.merged(), self.settings.allow_private).map_err(
            |errors| {
                let named: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.reason))
                    .collect();
                format!("the stream's settings are refused: {}", named.join("; "))
            },
        )?;
        Sink::new(kind, &settings)
    }

    /// Up to `limit` records from the cursor, with the checkpoints they complete.
    async fn next_batch(
        &self,
        s: &StoredStream,
        limit: usize,
    ) -> Result<Option<Batch>, StoreError> {
        let ws = s.workspace_id.as_str();
        let order = AuditOrder::LeafOrder(s.cursor.checked_sub(1));
        let entries = self
            .store
            .audit_search(ws, &AuditFilter::default(), order, limit)
            .await?;
        let checkpoints = self.store.audit_checkpoints(ws).await?;
        batch::assemble(ws, s.cursor, s.checkpoint_cursor, &entries, &checkpoints)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn gauge(&self, s: &StoredStream, batch: Option<&Batch>) -> Result<(), StoreError> {
        let tree_size = self.store.audit_tree_size(&s.workspace_id).await?;
        let oldest = batch
            .and_then(|b| b.items.iter().find(|i| i.leaf.is_some()))
            .map(|i| i.at);
        let lag = super::status::lag(
            s.cursor,
            tree_size,
            oldest,
            jiff::Timestamp::now().as_microsecond(),
        );
        let gauge = Gauge {
            kind: s.kind.clone(),
            state: s.state.clone(),
            delivered: s.delivered,
            lag_events: lag.events,
            lag_seconds: lag.seconds,
        };
        self.gauges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.id.clone(), gauge);
        Ok(())
    }
}

fn delivered(batch: &Batch) -> StreamProgress {
    StreamProgress {
        cursor: batch.cursor,
        checkpoint_cursor: batch.checkpoint_cursor,
        delivered: batch.records,
        state: State::Active.as_str().into(),
        last_success_at: Some(jiff::Timestamp::now().as_microsecond()),
        last_error: None,
    }
}

fn failed(s: &StoredStream, state: State, reason: String) -> StreamProgress {
    StreamProgress {
        cursor: s.cursor,
        checkpoint_cursor: s.checkpoint_cursor,
        delivered: 0,
        state: state.as_str().into(),
        last_success_at: None,
        last_error: Some(reason),
    }
}
