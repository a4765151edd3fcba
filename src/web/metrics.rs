//! Prometheus metrics, rendered in the text exposition format. Labels are route templates and
//! status codes only: no workspace, user or key ever becomes a label.

use axum::http::Method;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Requests and seconds by (method, route template, status).
type RequestTable = BTreeMap<(String, String, u16), (u64, f64)>;

/// Reads one figure of a stream's gauge.
type GaugeValue = fn(&crate::streams::worker::Gauge) -> u64;

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestTable>,
    pub events_accepted: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub batches_refused: AtomicU64,
    pub directory_records: AtomicU64,
    /// The log streams this replica delivers.
    pub streams: crate::streams::worker::Gauges,
}

impl Metrics {
    pub fn record_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        if let Ok(mut map) = self.requests.lock() {
            let entry = map
                .entry((method.to_string(), route.to_string(), status))
                .or_default();
            entry.0 += 1;
            entry.1 += elapsed.as_secs_f64();
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP tally_http_requests_total HTTP requests answered.\n# TYPE tally_http_requests_total counter\n");
        let requests = self.requests.lock().map(|m| m.clone()).unwrap_or_default();
        for ((method, route, status), (count, _)) in &requests {
            let _ = writeln!(
                out,
                "tally_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP tally_http_request_seconds_total Time spent answering HTTP requests.\n# TYPE tally_http_request_seconds_total counter\n");
        for ((method, route, status), (_, seconds)) in &requests {
            let _ = writeln!(
                out,
                "tally_http_request_seconds_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {seconds}"
            );
        }
        for (name, help, counter) in [
            (
                "tally_ingest_events_accepted_total",
                "Activity events stored.",
                &self.events_accepted,
            ),
            (
                "tally_ingest_events_duplicate_total",
                "Activity events already stored.",
                &self.events_duplicate,
            ),
            (
                "tally_ingest_batches_refused_total",
                "Batches refused for invalid events.",
                &self.batches_refused,
            ),
            (
                "tally_directory_records_total",
                "Directory records upserted.",
                &self.directory_records,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        self.render_streams(&mut out);
        out
    }

    /// Per stream (labelled by its generated id and kind, never by workspace data): records
    /// delivered, lag in events and seconds, and state.
    fn render_streams(&self, out: &mut String) {
        let gauges: BTreeMap<String, crate::streams::worker::Gauge> = self
            .streams
            .lock()
            .map(|g| g.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let families: [(&str, &str, &str, GaugeValue); 3] = [
            (
                "tally_stream_delivered_total",
                "counter",
                "Audit log records delivered by a log stream.",
                |g| g.delivered,
            ),
            (
                "tally_stream_lag_events",
                "gauge",
                "Audit log records a log stream has yet to deliver.",
                |g| g.lag_events,
            ),
            (
                "tally_stream_lag_seconds",
                "gauge",
                "Age of the oldest record a log stream has yet to deliver.",
                |g| g.lag_seconds,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (id, g) in &gauges {
                let _ = writeln!(
                    out,
                    "{name}{{stream=\"{id}\",kind=\"{}\"}} {}",
                    g.kind,
                    value(g)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP tally_stream_state A log stream's state (1 for the current one).\n# TYPE tally_stream_state gauge"
        );
        for (id, g) in &gauges {
            for state in ["active", "paused", "failing", "stopped"] {
                let on = u8::from(g.state == state);
                let _ = writeln!(
                    out,
                    "tally_stream_state{{stream=\"{id}\",kind=\"{}\",state=\"{state}\"}} {on}",
                    g.kind
                );
            }
        }
    }
}
