//! Log streams: every audit log record of a workspace delivered, in leaf order and at least
//! once, to a SIEM (Datadog logs intake, Splunk HEC), an object store (S3, GCS) or an
//! HMAC-signed HTTPS webhook. Pure: `config` (validation of a stream's settings and its
//! destination), `seal` (secrets at rest), `batch` (records and checkpoints in order), `record` (the delivered record and each kind's
//! request body or object), `sign` (webhook signatures), `retry` (which outcomes are retried,
//! split or permanent, and the backoff), `status` (lag). Shells: `sink` (one request or object
//! per batch), `splunk` (HEC with indexer acknowledgement), `resolve` (names to public
//! addresses only), `probe` (the test record) and `worker` (leases, cursors and status in
//! the store).

pub mod batch;
pub mod config;
pub mod probe;
pub mod record;
pub mod resolve;
pub mod retry;
pub mod seal;
pub mod sign;
pub mod sink;
pub mod splunk;
pub mod status;
pub mod worker;

use std::fmt;
use std::str::FromStr;

/// Where a stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Datadog,
    Splunk,
    S3,
    Gcs,
    Https,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[
        Kind::Datadog,
        Kind::Splunk,
        Kind::S3,
        Kind::Gcs,
        Kind::Https,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Datadog => "datadog",
            Kind::Splunk => "splunk",
            Kind::S3 => "s3",
            Kind::Gcs => "gcs",
            Kind::Https => "https",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| "must be one of datadog, splunk, s3, gcs, https".to_string())
    }
}

/// A stream's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Delivering, or caught up.
    Active,
    /// Paused by an admin: nothing is delivered until resumed.
    Paused,
    /// The last attempt failed and is being retried.
    Failing,
    /// A permanent failure (bad credentials, a refused request): nothing is delivered until
    /// an admin resumes the stream; the records wait at the cursor.
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Paused => "paused",
            State::Failing => "failing",
            State::Stopped => "stopped",
        }
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [State::Active, State::Paused, State::Failing, State::Stopped]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown stream state {s:?}"))
    }
}

/// Why a stored stream cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error("the stored stream settings are not a JSON object")]
    Malformed,
}

fn object_of(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, StoredError> {
    match serde_json::from_slice(bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(StoredError::Malformed),
    }
}

/// A stored stream's public settings.
///
/// # Errors
/// When the stored text is not a JSON object.
pub fn public_of(
    stream: &crate::storage::streams::StoredStream,
) -> Result<serde_json::Map<String, serde_json::Value>, StoredError> {
    object_of(stream.config.as_bytes())
}

/// A stored stream's settings, secrets opened with `key`.
///
/// # Errors
/// When the secrets do not open or the stored text is not JSON.
pub fn settings_of(
    stream: &crate::storage::streams::StoredStream,
    key: &[u8; 32],
) -> Result<config::Settings, StoredError> {
    let plain = seal::open(key, &stream.workspace_id, &stream.id, &stream.secrets)?;
    Ok(config::Settings {
        public: public_of(stream)?,
        secrets: object_of(&plain)?,
    })
}
