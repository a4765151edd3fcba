//! Storage: one trait over the product's types, with an embedded SQLite implementation (the
//! default, one file in the data directory) and a PostgreSQL one for production. The backend is
//! chosen from the URL scheme. Both keep every workspace's rows under keys that start with the
//! workspace id, so a distributed PostgreSQL can shard by workspace.

pub mod audit;
mod migrate;
pub mod postgres;
mod postgres_audit;
mod postgres_streams;
pub mod sqlite;
mod sqlite_audit;
mod sqlite_streams;
pub mod streams;

use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

use crate::ingest::FieldError;
use crate::ingest::directory::{DirectoryKind, DirectoryRecord};
use crate::model::{ActivityBatch, Plan, Privacy, Role, Scope, Workspace};

/// A storage failure. Callers never see SQL text; the web layer answers 500 and logs the cause.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique thing (a workspace id) already exists.
    #[error("{0} already exists")]
    Conflict(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
    /// A stored value that the code cannot read back: a bug or a hand edit.
    #[error("stored value cannot be read: {0}")]
    Corrupt(String),
    #[error("migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
    #[error("the store has shut down")]
    Closed,
    #[error("cannot open the store: {0}")]
    Open(String),
}

/// Changes to a workspace's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub plan: Option<Plan>,
    pub timezone: Option<String>,
    pub privacy: Option<Privacy>,
}

/// An API key as stored: everything but its secret, which only its hash stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What an accepted activity batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestOutcome {
    /// Events stored for the first time.
    pub accepted: u64,
    /// Events whose id was already stored (or repeated in the batch); their content is ignored.
    pub duplicates: u64,
    /// The workspace's ingest sequence number this batch took.
    #[serde(skip)]
    pub seq: i64,
}

/// Which events a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Events whose instant lies in `[from, to)`.
    Time(i64, i64),
    /// Events stored by the ingest sequence numbers `(after, upto]`.
    Seq(i64, i64),
}

impl Window {
    /// The SQL condition, with the bounds as parameters `first` and `first + 1`.
    pub(crate) fn condition(self, placeholder: impl Fn(usize) -> String, first: usize) -> String {
        let (a, b) = (placeholder(first), placeholder(first + 1));
        match self {
            Window::Time(..) => format!("occurred_at >= {a} AND occurred_at < {b}"),
            Window::Seq(..) => format!("seq > {a} AND seq <= {b}"),
        }
    }

    pub(crate) fn bounds(self) -> (i64, i64) {
        match self {
            Window::Time(a, b) | Window::Seq(a, b) => (a, b),
        }
    }
}

/// What a directory upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    Stored {
        created: u64,
        updated: u64,
    },
    /// Records that would create entries without their required fields; nothing was stored.
    Refused(Vec<FieldError>),
}

/// A message with the distinct names, sorted, of the tools and skills executed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub message: crate::model::Message,
    pub tools: Vec<String>,
    pub skills: Vec<String>,
}

/// Execution names by message id, as a page of messages reads them.
pub type NamesByMessage = std::collections::HashMap<String, Vec<String>>;

impl MessageRow {
    /// Each message of a page with the names of its executions taken from `tools` and
    /// `skills`, each name once, sorted.
    pub fn joined(
        messages: Vec<crate::model::Message>,
        mut tools: NamesByMessage,
        mut skills: NamesByMessage,
    ) -> Vec<MessageRow> {
        let names = |found: &mut NamesByMessage, id: &str| {
            let mut names = found.remove(id).unwrap_or_default();
            names.sort_unstable();
            names.dedup();
            names
        };
        messages
            .into_iter()
            .map(|message| MessageRow {
                tools: names(&mut tools, &message.id),
                skills: names(&mut skills, &message.id),
                message,
            })
            .collect()
    }
}

/// Where a page of messages starts: after this instant and id.
pub type MessageCursor = (i64, String);

/// How many events of each type a workspace holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EventCounts {
    pub messages: u64,
    pub tool_executions: u64,
    pub skill_executions: u64,
    pub workflow_runs: u64,
}

/// The operations tally needs from a store. Every method is scoped by workspace except the
/// two lookups that cannot be: API keys by hash and console accounts by email.
#[async_trait]
pub trait Store: audit::AuditStore + streams::StreamStore + Send + Sync + 'static {
    /// Which backend this is: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Checks that the store answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a workspace. [`StoreError::Conflict`] when its id is taken.
    async fn create_workspace(&self, workspace: &Workspace) -> Result<(), StoreError>;
    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError>;
    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError>;
    /// Applies a patch; `None` when the workspace does not exist.
    async fn update_workspace(
        &self,
        id: &str,
        patch: &WorkspacePatch,
    ) -> Result<Option<Workspace>, StoreError>;

    async fn create_key(&self, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError>;
    async fn key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError>;
    /// The workspace's keys that are not revoked, oldest first.
    async fn keys(&self, workspace: &str) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key; `false` when no such live key exists in the workspace.
    async fn revoke_key(&self, workspace: &str, key_id: &str, at: i64) -> Result<bool, StoreError>;
    async fn touch_key(&self, workspace: &str, key_id: &str, at: i64) -> Result<(), StoreError>;

    /// Stores a validated batch in one transaction, durable when this returns `Ok`. Events whose
    /// id is already stored for their type are counted as duplicates and left unchanged.
    async fn ingest(
        &self,
        workspace: &str,
        batch: ActivityBatch,
    ) -> Result<IngestOutcome, StoreError>;
    /// The events in a window, each list ordered by instant then id.
    async fn activity(&self, workspace: &str, window: Window) -> Result<ActivityBatch, StoreError>;
    /// The events whose instant lies in `[from, to)`, each list ordered by instant then id.
    async fn activity_between(
        &self,
        workspace: &str,
        from: i64,
        to: i64,
    ) -> Result<ActivityBatch, StoreError> {
        self.activity(workspace, Window::Time(from, to)).await
    }
    /// The last ingest sequence number the workspace committed (0 before any).
    async fn ingest_seq(&self, workspace: &str) -> Result<i64, StoreError>;
    async fn event_counts(&self, workspace: &str) -> Result<EventCounts, StoreError>;
    /// Up to `limit` messages of `[from, to)` after `after`, ordered by instant then id, each
    /// with the tools and skills executed for it. Paging keeps memory flat on any range.
    async fn message_page(
        &self,
        workspace: &str,
        from: i64,
        to: i64,
        after: Option<MessageCursor>,
        limit: usize,
    ) -> Result<Vec<MessageRow>, StoreError>;

    /// Merges records into a directory in one transaction: all of them or none.
    async fn upsert_directory(
        &self,
        workspace: &str,
        kind: DirectoryKind,
        records: Vec<DirectoryRecord>,
    ) -> Result<UpsertOutcome, StoreError>;
    /// Every entry of a directory, ordered by id, each with all its fields.
    async fn directory(
        &self,
        workspace: &str,
        kind: DirectoryKind,
    ) -> Result<Vec<DirectoryRecord>, StoreError>;

    /// Sets the console password hash of the person with this email.
    async fn set_password_hash(&self, email: &str, hash: &str, at: i64) -> Result<(), StoreError>;
    async fn password_hash(&self, email: &str) -> Result<Option<String>, StoreError>;
}

/// A shared handle on whichever store is configured.
pub type SharedStore = Arc<dyn Store>;

/// Opens the store a URL names (`postgres://…`, `sqlite://PATH`), or the embedded one in
/// `data_dir` when there is no URL, and brings its schema up to date.
///
/// # Errors
/// A message saying what to fix when the URL's scheme is unknown or the store cannot be opened.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<SharedStore, StoreError> {
    match database_url {
        None => Ok(Arc::new(sqlite::SqliteStore::open(
            &data_dir.join("tally.sqlite"),
        )?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(postgres::PgStore::connect(url).await?))
        }
        Some(url) if url.starts_with("sqlite://") => {
            let path = url.trim_start_matches("sqlite://");
            Ok(Arc::new(sqlite::SqliteStore::open(Path::new(path))?))
        }
        Some(url) => Err(StoreError::Open(format!(
            "unsupported database URL scheme in {:?}: use postgres://user@host/db, sqlite://path/to/file, or leave it unset for the embedded store in the data directory",
            url.split("://").next().unwrap_or(url)
        ))),
    }
}

pub(crate) fn parse_word<T: std::str::FromStr<Err = String>>(
    what: &str,
    s: &str,
) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what} {s:?}: {e}")))
}

pub(crate) fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn scopes_from_text(text: &str) -> Result<Vec<Scope>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse_word("scope", s))
        .collect()
}
