//! One workspace's audit log over a store: appending (with a checkpoint signed every
//! [`CHECKPOINT_EVERY`] events), signing checkpoints, and building inclusion and consistency
//! proofs from just the stored nodes they need. The shell between the pure core and storage.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::event::AuditRecord;
use super::merkle::{Hash, NodeSource, ProofError, consistency_proof, inclusion_proof, tree_root};
use super::nodes::{NodeMap, needed};
use super::note::{Checkpoint, NoteError, Signer, sign_checkpoint};
use crate::storage::audit::{AppendOutcome, AuditKeyRecord, StoredCheckpoint};
use crate::storage::{Store, StoreError};

/// A checkpoint is signed in the append path once this many events arrived since the last one.
pub const CHECKPOINT_EVERY: u64 = 1_000;

/// Why an audit log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error(transparent)]
    Note(#[from] NoteError),
    /// No checkpoint covers what was asked: sign one first.
    #[error("{0}")]
    NoCheckpoint(String),
    /// An event id that is not in the log.
    #[error("{0}")]
    UnknownEvent(String),
}

/// A workspace's log and the signer of its checkpoints.
pub struct AuditLog<'a> {
    store: &'a dyn Store,
    workspace: &'a str,
    signer: Signer,
}

impl<'a> AuditLog<'a> {
    pub fn new(store: &'a dyn Store, workspace: &'a str, signer: Signer) -> AuditLog<'a> {
        AuditLog {
            store,
            workspace,
            signer,
        }
    }

    /// The log's origin: the signer's name.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// Appends a validated batch; signs a checkpoint when [`CHECKPOINT_EVERY`] events arrived
    /// since the last one.
    ///
    /// # Errors
    /// When the store or signing fails.
    pub async fn append(
        &self,
        idempotency_key: Option<String>,
        records: Vec<AuditRecord>,
    ) -> Result<AppendOutcome, AuditError> {
        let now = jiff::Timestamp::now().as_microsecond();
        let outcome = self
            .store
            .audit_append(self.workspace, idempotency_key, records, now)
            .await?;
        let since = outcome.tree_size - outcome.checkpoint_size.unwrap_or(0);
        if outcome.accepted > 0 && since >= CHECKPOINT_EVERY {
            self.store_checkpoint(outcome.tree_size, outcome.root)
                .await?;
        }
        Ok(outcome)
    }

    /// Signs a checkpoint of the log as it is now (or returns the one already at this size).
    ///
    /// # Errors
    /// When the store or signing fails.
    pub async fn sign_now(&self) -> Result<StoredCheckpoint, AuditError> {
        let size = self.store.audit_tree_size(self.workspace).await?;
        let root = self.with_nodes(|src| tree_root(src, size)).await?;
        self.store_checkpoint(size, root).await
    }

    /// Signs a checkpoint when events arrived since the latest one (the periodic signer).
    ///
    /// # Errors
    /// When the store or signing fails.
    pub async fn sign_if_behind(&self) -> Result<Option<StoredCheckpoint>, AuditError> {
        let size = self.store.audit_tree_size(self.workspace).await?;
        let latest = self.store.audit_checkpoint(self.workspace, None).await?;
        if size == 0 || latest.is_some_and(|c| c.tree_size >= size) {
            return Ok(None);
        }
        self.sign_now().await.map(Some)
    }

    async fn store_checkpoint(
        &self,
        size: u64,
        root: Hash,
    ) -> Result<StoredCheckpoint, AuditError> {
        if let Some(existing) = self
            .store
            .audit_checkpoint(self.workspace, Some(size))
            .await?
        {
            return Ok(existing);
        }
        self.register_key().await?;
        let checkpoint = Checkpoint {
            origin: self.origin().to_string(),
            tree_size: size,
            root_hash: root,
            timestamp: jiff::Timestamp::now().as_second().max(0) as u64,
        };
        let stored = StoredCheckpoint {
            tree_size: size,
            root_hash: root,
            timestamp: checkpoint.timestamp,
            key_id: self.signer.key_id_hex(),
            note: sign_checkpoint(&self.signer, &checkpoint)?,
        };
        self.store
            .audit_put_checkpoint(self.workspace, &stored)
            .await?;
        // Another replica may have stored one at this size first: answer the stored one.
        Ok(self
            .store
            .audit_checkpoint(self.workspace, Some(size))
            .await?
            .unwrap_or(stored))
    }

    /// Records the current signing key, retiring the workspace's previous ones.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn register_key(&self) -> Result<(), AuditError> {
        let key = AuditKeyRecord {
            name: self.origin().to_string(),
            key_id: self.signer.key_id_hex(),
            public_key: self.signer.public_key(),
            created_at: jiff::Timestamp::now().as_microsecond(),
            retired_at: None,
        };
        Ok(self.store.audit_register_key(self.workspace, &key).await?)
    }

    /// The checkpoint at `tree_size`, or the latest.
    ///
    /// # Errors
    /// [`AuditError::NoCheckpoint`] when there is none.
    pub async fn checkpoint(&self, tree_size: Option<u64>) -> Result<StoredCheckpoint, AuditError> {
        let found = self
            .store
            .audit_checkpoint(self.workspace, tree_size)
            .await?;
        found.ok_or_else(|| {
            AuditError::NoCheckpoint(match tree_size {
                Some(size) => format!(
                    "no checkpoint at tree size {size}: sign one with POST /api/v1/w/{}/audit/checkpoint, or use the size of an existing one",
                    self.workspace
                ),
                None => format!(
                    "the log has no checkpoint yet: sign one with POST /api/v1/w/{}/audit/checkpoint",
                    self.workspace
                ),
            })
        })
    }

    /// The leaf index of an event.
    ///
    /// # Errors
    /// [`AuditError::UnknownEvent`] when it is not in the log.
    pub async fn leaf_of(&self, event_id: &str) -> Result<u64, AuditError> {
        self.store
            .audit_leaf_of(self.workspace, event_id)
            .await?
            .ok_or_else(|| AuditError::UnknownEvent(format!("no audit event {event_id:?}")))
    }

    /// The leaf hash of leaf `index`.
    ///
    /// # Errors
    /// When the store lacks it.
    pub async fn leaf_hash(&self, index: u64) -> Result<Hash, AuditError> {
        self.with_nodes(|src| leaf_node(src, index)).await
    }

    /// The audit path of a leaf in the tree of `tree_size` leaves.
    ///
    /// # Errors
    /// As [`inclusion_proof`], and when the store fails.
    pub async fn inclusion(&self, leaf: u64, tree_size: u64) -> Result<Vec<Hash>, AuditError> {
        self.with_nodes(|src| inclusion_proof(src, leaf, tree_size))
            .await
    }

    /// The consistency proof between two tree sizes.
    ///
    /// # Errors
    /// As [`consistency_proof`], and when the store fails.
    pub async fn consistency(&self, first: u64, second: u64) -> Result<Vec<Hash>, AuditError> {
        self.with_nodes(|src| consistency_proof(src, first, second))
            .await
    }

    async fn with_nodes<T>(
        &self,
        build: impl Fn(&dyn NodeSource) -> Result<T, ProofError>,
    ) -> Result<T, AuditError> {
        with_nodes(self.store, self.workspace, build).await
    }
}

/// Runs `build` over just the stored nodes of a workspace's tree it needs.
///
/// # Errors
/// When the store fails, or `build` does (a node it needs is missing).
pub async fn with_nodes<T>(
    store: &dyn Store,
    workspace: &str,
    build: impl Fn(&dyn NodeSource) -> Result<T, ProofError>,
) -> Result<T, AuditError> {
    let positions = needed(&build);
    let nodes = store.audit_nodes(workspace, positions).await?;
    Ok(build(&NodeMap::new(nodes))?)
}

fn leaf_node(src: &dyn NodeSource, index: u64) -> Result<Hash, ProofError> {
    src.node(0, index)
        .ok_or(ProofError::MissingNode { level: 0, index })
}

/// A hash as it appears in JSON: standard base64.
pub fn b64(hash: &Hash) -> String {
    BASE64.encode(hash)
}

/// The note verifier key string of a stored key: `<name>+<key id>+<base64(0x01 || key)>`.
pub fn vkey(name: &str, key_id: &str, public_key: &[u8; 32]) -> String {
    let mut bytes = vec![0x01];
    bytes.extend_from_slice(public_key);
    format!("{name}+{key_id}+{}", BASE64.encode(bytes))
}

/// The checkpoint as the API answers it; the origin is the note's first line.
pub fn checkpoint_json(c: &StoredCheckpoint) -> serde_json::Value {
    serde_json::json!({
        "origin": c.note.lines().next().unwrap_or_default(),
        "treeSize": c.tree_size,
        "rootHash": b64(&c.root_hash),
        "timestamp": c.timestamp,
        "note": c.note,
    })
}

/// How often the periodic signer looks for logs with events past their latest checkpoint.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Signs a checkpoint of every log that grew since its latest one, every
/// [`CHECKPOINT_INTERVAL`], until the task is dropped. Failures are logged and retried.
pub async fn sign_periodically(store: crate::storage::SharedStore, config: crate::config::Config) {
    let mut ticker = tokio::time::interval(CHECKPOINT_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = sign_behind_logs(store.as_ref(), &config).await {
            tracing::warn!(error = %e, "periodic checkpoint signing failed");
        }
    }
}

async fn sign_behind_logs(
    store: &dyn Store,
    config: &crate::config::Config,
) -> Result<(), AuditError> {
    let seed = super::signing::seed(config)
        .map_err(|e| AuditError::Store(StoreError::Open(e.to_string())))?;
    for workspace in store.audit_workspaces().await? {
        let signer = super::signing::signer(config, seed, &workspace)?;
        AuditLog::new(store, &workspace, signer)
            .sign_if_behind()
            .await?;
    }
    Ok(())
}

/// One page of a search, newest first, and the cursor of the next page when there is one.
///
/// # Errors
/// When the store fails.
pub async fn search_page(
    store: &dyn Store,
    workspace: &str,
    params: &super::search::SearchParams,
) -> Result<(Vec<crate::storage::audit::AuditEntry>, Option<String>), StoreError> {
    let mut entries = store
        .audit_search(
            workspace,
            &params.filter,
            crate::storage::audit::AuditOrder::NewestFirst(params.after),
            params.limit + 1,
        )
        .await?;
    let more = entries.len() > params.limit;
    entries.truncate(params.limit);
    let next = entries
        .last()
        .filter(|_| more)
        .map(|last| super::search::cursor(last.occurred_at, last.leaf_index));
    Ok((entries, next))
}
