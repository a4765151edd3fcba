//! The audit log on PostgreSQL. Appends to one workspace's log are serialized by a row lock on
//! its `audit_heads` row (`SELECT … FOR UPDATE`); each append inserts its entries and nodes
//! with one `INSERT … SELECT FROM UNNEST(…)` each.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::StoreError;
use super::audit::*;
use super::postgres::PgStore;
use crate::audit::event::AuditRecord;
use crate::audit::merkle::{Frontier, Node};

const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, signed_at, key_id, note";

fn entry_from_row(r: &Row) -> Result<AuditEntry, StoreError> {
    let leaf_hash: Vec<u8> = r.try_get(4)?;
    Ok(AuditEntry {
        leaf_index: index_from(r.try_get(0)?, "leaf index")?,
        event_id: r.try_get(1)?,
        occurred_at: r.try_get(2)?,
        canonical: r.try_get(3)?,
        leaf_hash: hash_from(&leaf_hash, "leaf hash")?,
    })
}

fn node_from_row(r: &Row) -> Result<Node, StoreError> {
    let hash: Vec<u8> = r.try_get(2)?;
    let level: i32 = r.try_get(0)?;
    Ok(Node {
        level: u32::try_from(level)
            .map_err(|_| StoreError::Corrupt(format!("node level {level}")))?,
        index: index_from(r.try_get(1)?, "node index")?,
        hash: hash_from(&hash, "node hash")?,
    })
}

fn checkpoint_from_row(r: &Row) -> Result<StoredCheckpoint, StoreError> {
    let root: Vec<u8> = r.try_get(1)?;
    Ok(StoredCheckpoint {
        tree_size: index_from(r.try_get(0)?, "tree size")?,
        root_hash: hash_from(&root, "root hash")?,
        timestamp: index_from(r.try_get(2)?, "timestamp")?,
        key_id: r.try_get(3)?,
        note: r.try_get(4)?,
    })
}

async fn nodes_at(
    client: &impl GenericClient,
    workspace: &str,
    positions: &[(u32, u64)],
) -> Result<Vec<Node>, StoreError> {
    let levels: Vec<i32> = positions.iter().map(|p| p.0 as i32).collect();
    let indexes: Vec<i64> = positions.iter().map(|p| p.1 as i64).collect();
    let rows = client
        .query(
            "SELECT n.level, n.idx, n.hash FROM audit_nodes n
             JOIN UNNEST($2::int[], $3::bigint[]) AS p(level, idx)
               ON n.level = p.level AND n.idx = p.idx
             WHERE n.workspace_id = $1",
            &[&workspace, &levels, &indexes],
        )
        .await?;
    rows.iter().map(node_from_row).collect()
}

/// Inserts the records not yet stored, under the head row lock the caller holds.
async fn insert_new(
    tx: &impl GenericClient,
    workspace: &str,
    frontier: &mut Frontier,
    records: Vec<AuditRecord>,
) -> Result<(), StoreError> {
    let ids: Vec<&str> = records.iter().map(|r| r.event_id.as_str()).collect();
    let stored: std::collections::HashSet<String> = tx
        .query(
            "SELECT event_id FROM audit_entries WHERE workspace_id = $1 AND event_id = ANY($2)",
            &[&workspace, &ids],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut seen = std::collections::HashSet::new();
    let fresh: Vec<AuditRecord> = records
        .into_iter()
        .filter(|r| !stored.contains(&r.event_id) && seen.insert(r.event_id.clone()))
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let mut leaves = Vec::with_capacity(fresh.len());
    let (mut levels, mut indexes, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
    for r in &fresh {
        leaves.push(frontier.size() as i64);
        for n in frontier.push(r.leaf_hash) {
            levels.push(n.level as i32);
            indexes.push(n.index as i64);
            hashes.push(n.hash.to_vec());
        }
    }
    let text = |f: fn(&AuditRecord) -> &str| -> Vec<&str> { fresh.iter().map(f).collect() };
    let occurred: Vec<i64> = fresh.iter().map(|r| r.occurred_at).collect();
    let canonical: Vec<&[u8]> = fresh.iter().map(|r| r.canonical.as_slice()).collect();
    let leaf_hashes: Vec<&[u8]> = fresh.iter().map(|r| &r.leaf_hash[..]).collect();
    let columns: [Vec<&str>; 9] = [
        text(|r| r.event_id.as_str()),
        text(|r| r.action.as_str()),
        text(|r| r.actor_type.as_str()),
        text(|r| r.actor_kind.as_str()),
        text(|r| r.actor_id.as_str()),
        text(|r| r.actor_name.as_str()),
        text(|r| r.actor_email.as_str()),
        text(|r| r.targets_key.as_str()),
        text(|r| r.search_text.as_str()),
    ];
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&workspace, &leaves, &occurred];
    params.extend(columns.iter().map(|c| c as &(dyn ToSql + Sync)));
    params.push(&canonical);
    params.push(&leaf_hashes);
    tx.execute(
        "INSERT INTO audit_entries (workspace_id, leaf_index, occurred_at, event_id, action,
            actor_type, actor_kind, actor_id, actor_name, actor_email, targets_key, search_text,
            canonical, leaf_hash)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
            $13::bytea[], $14::bytea[])",
        &params,
    )
    .await?;
    tx.execute(
        "INSERT INTO audit_nodes (workspace_id, level, idx, hash)
         SELECT $1, * FROM UNNEST($2::int[], $3::bigint[], $4::bytea[])",
        &[&workspace, &levels, &indexes, &hashes],
    )
    .await?;
    Ok(())
}

async fn latest_checkpoint_size(
    client: &impl GenericClient,
    workspace: &str,
) -> Result<Option<u64>, StoreError> {
    let size: Option<i64> = client
        .query_one(
            "SELECT MAX(tree_size) FROM audit_checkpoints WHERE workspace_id = $1",
            &[&workspace],
        )
        .await?
        .try_get(0)?;
    size.map(|s| index_from(s, "tree size")).transpose()
}

#[async_trait]
impl AuditStore for PgStore {
    async fn audit_append(
        &self,
        workspace: &str,
        idempotency_key: Option<String>,
        records: Vec<AuditRecord>,
        now: i64,
    ) -> Result<AppendOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO audit_heads (workspace_id, tree_size) VALUES ($1, 0) ON CONFLICT DO NOTHING",
            &[&workspace],
        )
        .await?;
        let size: i64 = tx
            .query_one(
                "SELECT tree_size FROM audit_heads WHERE workspace_id = $1 FOR UPDATE",
                &[&workspace],
            )
            .await?
            .try_get(0)?;
        let size = index_from(size, "tree size")?;
        let peaks = Frontier::peak_positions(size);
        let found = nodes_at(&tx, workspace, &peaks).await?;
        let mut frontier = Frontier::from_nodes(size, |level, index| {
            found
                .iter()
                .find(|n| n.level == level && n.index == index)
                .map(|n| n.hash)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("audit node ({level}, {index}) is missing"))
                })
        })?;
        let count = records.len() as u64;
        let replay = match &idempotency_key {
            Some(key) => tx
                .query_opt(
                    "SELECT 1 FROM audit_idempotency WHERE workspace_id = $1 AND idempotency_key = $2",
                    &[&workspace, key],
                )
                .await?
                .is_some(),
            None => false,
        };
        if !replay {
            insert_new(&tx, workspace, &mut frontier, records).await?;
            tx.execute(
                "UPDATE audit_heads SET tree_size = $2 WHERE workspace_id = $1",
                &[&workspace, &(frontier.size() as i64)],
            )
            .await?;
            if let Some(key) = &idempotency_key {
                tx.execute(
                    "INSERT INTO audit_idempotency (workspace_id, idempotency_key, events, created_at)
                     VALUES ($1, $2, $3, $4)",
                    &[&workspace, key, &(count as i64), &now],
                )
                .await?;
            }
        }
        let checkpoint_size = latest_checkpoint_size(&tx, workspace).await?;
        tx.commit().await?;
        let accepted = frontier.size() - size;
        Ok(AppendOutcome {
            accepted,
            duplicates: count - accepted,
            tree_size: frontier.size(),
            root: frontier.root(),
            checkpoint_size,
        })
    }

    async fn audit_tree_size(&self, workspace: &str) -> Result<u64, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT tree_size FROM audit_heads WHERE workspace_id = $1",
                &[&workspace],
            )
            .await?;
        match row {
            Some(r) => index_from(r.try_get(0)?, "tree size"),
            None => Ok(0),
        }
    }

    async fn audit_nodes(
        &self,
        workspace: &str,
        positions: Vec<(u32, u64)>,
    ) -> Result<Vec<Node>, StoreError> {
        nodes_at(&self.client().await?, workspace, &positions).await
    }

    async fn audit_node_page(
        &self,
        workspace: &str,
        after: Option<(u32, u64)>,
        limit: usize,
    ) -> Result<Vec<Node>, StoreError> {
        let (level, index) = after.map_or((-1, -1), |(l, i)| (l as i32, i as i64));
        let rows = self
            .client()
            .await?
            .query(
                "SELECT level, idx, hash FROM audit_nodes WHERE workspace_id = $1
                 AND (level, idx) > ($2, $3) ORDER BY level, idx LIMIT $4",
                &[&workspace, &level, &index, &(limit as i64)],
            )
            .await?;
        rows.iter().map(node_from_row).collect()
    }

    async fn audit_leaf_of(
        &self,
        workspace: &str,
        event_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT leaf_index FROM audit_entries WHERE workspace_id = $1 AND event_id = $2",
                &[&workspace, &event_id],
            )
            .await?;
        row.map(|r| index_from(r.try_get(0)?, "leaf index"))
            .transpose()
    }

    async fn audit_search(
        &self,
        workspace: &str,
        filter: &AuditFilter,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (sql, params) = search_sql(workspace, filter, order, limit, |n| format!("${n}"));
        let params: Vec<Box<dyn ToSql + Sync + Send>> = params
            .into_iter()
            .map(|p| -> Box<dyn ToSql + Sync + Send> {
                match p {
                    SqlParam::Text(s) => Box::new(s),
                    SqlParam::Int(i) => Box::new(i),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self.client().await?.query(&sql, &refs).await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn audit_put_checkpoint(
        &self,
        workspace: &str,
        c: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO audit_checkpoints (workspace_id, {CHECKPOINT_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
                ),
                &[
                    &workspace,
                    &(c.tree_size as i64),
                    &&c.root_hash[..],
                    &(c.timestamp as i64),
                    &c.key_id,
                    &c.note,
                ],
            )
            .await?;
        Ok(())
    }

    async fn audit_checkpoint(
        &self,
        workspace: &str,
        tree_size: Option<u64>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let size = tree_size.map_or(-1, |s| s as i64);
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = $1
                     AND ($2::bigint < 0 OR tree_size = $2::bigint) ORDER BY tree_size DESC LIMIT 1"
                ),
                &[&workspace, &size],
            )
            .await?;
        row.as_ref().map(checkpoint_from_row).transpose()
    }

    async fn audit_checkpoints(
        &self,
        workspace: &str,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = $1
                     ORDER BY tree_size"
                ),
                &[&workspace],
            )
            .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    async fn audit_register_key(
        &self,
        workspace: &str,
        k: &AuditKeyRecord,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let added = tx
            .execute(
                "INSERT INTO audit_signing_keys (workspace_id, name, key_id, public_key, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&workspace, &k.name, &k.key_id, &&k.public_key[..], &k.created_at],
            )
            .await?;
        if added > 0 {
            tx.execute(
                "UPDATE audit_signing_keys SET retired_at = $4 WHERE workspace_id = $1
                 AND retired_at IS NULL AND NOT (name = $2 AND key_id = $3)",
                &[&workspace, &k.name, &k.key_id, &k.created_at],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_keys(&self, workspace: &str) -> Result<Vec<AuditKeyRecord>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT name, key_id, public_key, created_at, retired_at FROM audit_signing_keys
                 WHERE workspace_id = $1 ORDER BY created_at, key_id",
                &[&workspace],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let public_key: Vec<u8> = r.try_get(2)?;
                Ok(AuditKeyRecord {
                    name: r.try_get(0)?,
                    key_id: r.try_get(1)?,
                    public_key: hash_from(&public_key, "public key")?,
                    created_at: r.try_get(3)?,
                    retired_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn audit_workspaces(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT workspace_id FROM audit_heads ORDER BY workspace_id",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }
}
