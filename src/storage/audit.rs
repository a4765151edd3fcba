//! Audit log storage: the [`AuditStore`] trait both backends implement (in `sqlite_audit` and
//! `postgres_audit`). Appends are serialized per workspace (SQLite's writer thread; a row lock
//! on the workspace's `audit_heads` row in PostgreSQL), take consecutive leaf indexes, and
//! persist every node the tree's frontier completes in the same transaction as the entries.

use async_trait::async_trait;

use super::StoreError;
use crate::audit::event::AuditRecord;
use crate::audit::merkle::{Hash, Node};

/// What an append did, and the tree it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Events stored for the first time.
    pub accepted: u64,
    /// Events whose id (or whose batch's Idempotency-Key) was already stored.
    pub duplicates: u64,
    /// The tree size after the append.
    pub tree_size: u64,
    /// The root hash at that size.
    pub root: Hash,
    /// The size of the latest signed checkpoint, if any.
    pub checkpoint_size: Option<u64>,
}

/// One stored entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub leaf_index: u64,
    pub event_id: String,
    pub occurred_at: i64,
    /// The RFC 8785 bytes of the event (itself the stored event JSON).
    pub canonical: Vec<u8>,
    pub leaf_hash: Hash,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    /// Unix seconds.
    pub timestamp: u64,
    /// The signing key's id, 8 hex digits.
    pub key_id: String,
    /// The signed note text.
    pub note: String,
}

/// A public key that signs (or signed) a workspace's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKeyRecord {
    /// The note key name: the log's origin.
    pub name: String,
    /// 8 hex digits.
    pub key_id: String,
    pub public_key: [u8; 32],
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// Which entries a search or export covers. Text values are already lower-cased where the
/// stored column is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Lower-cased words, each of which must appear in the entry's search text.
    pub words: Vec<String>,
    /// Inclusive, microseconds.
    pub from: Option<i64>,
    /// Exclusive, microseconds.
    pub to: Option<i64>,
    pub action: Option<String>,
    /// An actor id, or a lower-cased name or email.
    pub actor: Option<String>,
    /// user, api_key, system or agent.
    pub actor_kind: Option<String>,
    /// A target id or lower-cased name.
    pub target: Option<String>,
    /// Only leaves below this index (an export's tree size).
    pub below_leaf: Option<u64>,
}

impl AuditFilter {
    /// Whether the filter selects every entry (but for `below_leaf`).
    pub fn is_whole_log(&self) -> bool {
        AuditFilter {
            below_leaf: None,
            ..self.clone()
        } == AuditFilter::default()
    }
}

/// The order of a search and where its page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOrder {
    /// Newest `occurredAt` first, ties by leaf index, descending; after (occurred_at, leaf).
    NewestFirst(Option<(i64, u64)>),
    /// Leaf order, from leaves after this one.
    LeafOrder(Option<u64>),
}

/// A value bound to a search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlParam {
    Text(String),
    Int(i64),
}

/// The audit log's storage. Every method is scoped by workspace.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `records` atomically with consecutive leaf indexes; records whose event id is
    /// stored, and the whole batch when `idempotency_key` was seen, are duplicates.
    async fn audit_append(
        &self,
        workspace: &str,
        idempotency_key: Option<String>,
        records: Vec<AuditRecord>,
        now: i64,
    ) -> Result<AppendOutcome, StoreError>;
    /// How many leaves the log holds.
    async fn audit_tree_size(&self, workspace: &str) -> Result<u64, StoreError>;
    /// The stored nodes at these positions (missing ones are left out).
    async fn audit_nodes(
        &self,
        workspace: &str,
        positions: Vec<(u32, u64)>,
    ) -> Result<Vec<Node>, StoreError>;
    /// Up to `limit` stored nodes after `after`, ordered by level then index.
    async fn audit_node_page(
        &self,
        workspace: &str,
        after: Option<(u32, u64)>,
        limit: usize,
    ) -> Result<Vec<Node>, StoreError>;
    /// The leaf index of an event.
    async fn audit_leaf_of(
        &self,
        workspace: &str,
        event_id: &str,
    ) -> Result<Option<u64>, StoreError>;
    /// Up to `limit` entries matching `filter`, in `order`.
    async fn audit_search(
        &self,
        workspace: &str,
        filter: &AuditFilter,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Stores a checkpoint; one already stored at its size is kept.
    async fn audit_put_checkpoint(
        &self,
        workspace: &str,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError>;
    /// The checkpoint at a tree size, or the latest one.
    async fn audit_checkpoint(
        &self,
        workspace: &str,
        tree_size: Option<u64>,
    ) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Every checkpoint, by tree size.
    async fn audit_checkpoints(&self, workspace: &str)
    -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// Records a signing key when new, retiring the workspace's other live keys.
    async fn audit_register_key(
        &self,
        workspace: &str,
        key: &AuditKeyRecord,
    ) -> Result<(), StoreError>;
    /// Every signing key, live and retired, oldest first.
    async fn audit_keys(&self, workspace: &str) -> Result<Vec<AuditKeyRecord>, StoreError>;
    /// The workspaces that have an audit log.
    async fn audit_workspaces(&self) -> Result<Vec<String>, StoreError>;
}

/// The columns entries are read with, in [`AuditEntry`] order.
pub(super) const ENTRY_COLUMNS: &str = "leaf_index, event_id, occurred_at, canonical, leaf_hash";

/// The `WHERE … ORDER BY … LIMIT` of a search, with `placeholder(n)` writing the n-th (1-based)
/// parameter; the workspace is parameter 1. Both backends run the same conditions.
pub(super) fn search_sql(
    workspace: &str,
    filter: &AuditFilter,
    order: AuditOrder,
    limit: usize,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<SqlParam>) {
    let mut params = vec![SqlParam::Text(workspace.to_string())];
    let mut conditions = vec![format!("workspace_id = {}", placeholder(1))];
    let bind = |params: &mut Vec<SqlParam>, value: SqlParam| {
        params.push(value);
        placeholder(params.len())
    };
    if let Some(from) = filter.from {
        let p = bind(&mut params, SqlParam::Int(from));
        conditions.push(format!("occurred_at >= {p}"));
    }
    if let Some(to) = filter.to {
        let p = bind(&mut params, SqlParam::Int(to));
        conditions.push(format!("occurred_at < {p}"));
    }
    if let Some(action) = &filter.action {
        let p = bind(&mut params, SqlParam::Text(action.clone()));
        conditions.push(format!("action = {p}"));
    }
    if let Some(actor) = &filter.actor {
        let id = bind(&mut params, SqlParam::Text(actor.clone()));
        let lower = bind(&mut params, SqlParam::Text(actor.to_lowercase()));
        conditions.push(format!(
            "(actor_id = {id} OR actor_name = {lower} OR actor_email = {lower})"
        ));
    }
    if let Some(kind) = &filter.actor_kind {
        let p = bind(&mut params, SqlParam::Text(kind.clone()));
        conditions.push(format!("actor_kind = {p}"));
    }
    if let Some(target) = &filter.target {
        let pattern = format!("%\n{}\n%", escape_like(&target.to_lowercase()));
        let p = bind(&mut params, SqlParam::Text(pattern));
        conditions.push(format!("targets_key LIKE {p} ESCAPE '\\'"));
    }
    for word in &filter.words {
        let p = bind(
            &mut params,
            SqlParam::Text(format!("%{}%", escape_like(word))),
        );
        conditions.push(format!("search_text LIKE {p} ESCAPE '\\'"));
    }
    if let Some(below) = filter.below_leaf {
        let p = bind(&mut params, SqlParam::Int(below as i64));
        conditions.push(format!("leaf_index < {p}"));
    }
    let order_by = match order {
        AuditOrder::NewestFirst(after) => {
            if let Some((at, leaf)) = after {
                let a = bind(&mut params, SqlParam::Int(at));
                let l = bind(&mut params, SqlParam::Int(leaf as i64));
                conditions.push(format!(
                    "(occurred_at < {a} OR (occurred_at = {a} AND leaf_index < {l}))"
                ));
            }
            "occurred_at DESC, leaf_index DESC"
        }
        AuditOrder::LeafOrder(after) => {
            if let Some(leaf) = after {
                let l = bind(&mut params, SqlParam::Int(leaf as i64));
                conditions.push(format!("leaf_index > {l}"));
            }
            "leaf_index"
        }
    };
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE {} ORDER BY {order_by} LIMIT {limit}",
        conditions.join(" AND ")
    );
    (sql, params)
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A stored 32-byte hash.
pub(super) fn hash_from(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is {} bytes, not 32", bytes.len())))
}

/// A stored count or index, which is never negative.
pub(super) fn index_from(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}
