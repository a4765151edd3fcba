//! Log stream storage: the [`StreamStore`] trait both backends implement (in `sqlite_streams`
//! and `postgres_streams`). A stream row holds its settings, its durable cursor and its status;
//! a lease (owner and expiry) makes one replica at a time deliver it. Every write the delivery
//! worker makes is conditioned on holding the lease, so a replica that lost it cannot move a
//! cursor another replica now owns.

use async_trait::async_trait;

use super::StoreError;

/// A log stream as stored. `config` is the kind's settings without secrets (a JSON object);
/// `secrets` the secret fields, sealed (see `streams::seal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    pub workspace_id: String,
    pub id: String,
    /// datadog, splunk, s3, gcs or https.
    pub kind: String,
    pub config: String,
    pub secrets: Vec<u8>,
    /// active, paused, failing or stopped.
    pub state: String,
    /// The next leaf to deliver.
    pub cursor: u64,
    /// The tree size of the last checkpoint delivered.
    pub checkpoint_cursor: u64,
    /// Records delivered so far.
    pub delivered: u64,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What one delivery attempt, successful or not, leaves in a stream's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamProgress {
    pub cursor: u64,
    pub checkpoint_cursor: u64,
    /// Records delivered by this attempt (added to the count).
    pub delivered: u64,
    /// active, failing or stopped; a stream paused meanwhile stays paused.
    pub state: String,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
}

/// A lease request: who asks, when, and until when the lease holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub now: i64,
    pub until: i64,
}

/// The log streams' storage. Every method but [`StreamStore::stream_claim`] is scoped by
/// workspace; claiming looks across workspaces for due streams, as a work queue does.
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Stores a new stream. [`StoreError::Conflict`] when its id is taken.
    async fn stream_create(&self, stream: &StoredStream) -> Result<(), StoreError>;
    /// The workspace's streams, oldest first.
    async fn streams(&self, workspace: &str) -> Result<Vec<StoredStream>, StoreError>;
    async fn stream(&self, workspace: &str, id: &str) -> Result<Option<StoredStream>, StoreError>;
    /// Replaces a stream's config and secrets; `false` when it does not exist.
    async fn stream_configure(
        &self,
        workspace: &str,
        id: &str,
        config: &str,
        secrets: &[u8],
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Sets a stream's state (pause, resume), clearing its last error when `clear_error`;
    /// `false` when it does not exist.
    async fn stream_set_state(
        &self,
        workspace: &str,
        id: &str,
        state: &str,
        clear_error: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Deletes a stream; `false` when it does not exist.
    async fn stream_delete(&self, workspace: &str, id: &str) -> Result<bool, StoreError>;
    /// Takes or renews the lease of up to `limit` streams that are due (active or failing)
    /// and not leased by another owner until after `lease.now`, and answers them.
    async fn stream_claim(
        &self,
        lease: Lease<'_>,
        limit: usize,
    ) -> Result<Vec<StoredStream>, StoreError>;
    /// Records an attempt's outcome and renews the lease, when `lease.owner` still holds it;
    /// `false` when it does not (the stream was deleted or another replica took it over).
    async fn stream_progress(
        &self,
        workspace: &str,
        id: &str,
        lease: Lease<'_>,
        progress: &StreamProgress,
    ) -> Result<bool, StoreError>;
    /// Gives a lease up, so another replica may take the stream at once.
    async fn stream_release(
        &self,
        workspace: &str,
        id: &str,
        owner: &str,
    ) -> Result<(), StoreError>;
}

/// The columns streams are read with, in [`StoredStream`] order.
pub(super) const STREAM_COLUMNS: &str = "workspace_id, stream_id, kind, config, secrets, state, cursor, checkpoint_cursor, delivered, last_success_at, last_error, created_at, updated_at";

/// The states in which a stream is delivered.
pub(super) const DUE: &str = "state IN ('active', 'failing')";

/// The `SET` of a progress update, with `placeholder(n)` writing the n-th parameter: 1 to 6 are
/// cursor, checkpoint cursor, delivered, state, last success, last error; 7 the lease expiry.
pub(super) fn progress_set(placeholder: impl Fn(usize) -> String) -> String {
    let p = placeholder;
    format!(
        "cursor = {}, checkpoint_cursor = {}, delivered = delivered + {},
         state = CASE WHEN state = 'paused' THEN state ELSE {} END,
         last_success_at = COALESCE({}, last_success_at), last_error = {}, lease_until = {}",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7)
    )
}
