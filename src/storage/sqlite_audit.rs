//! The audit log on SQLite. Appends run on the writer thread, so they are serialized; each is
//! one transaction of prepared inserts (entries, then the nodes the frontier completes).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::StoreError;
use super::audit::*;
use super::sqlite::SqliteStore;
use crate::audit::event::AuditRecord;
use crate::audit::merkle::{Frontier, Node};

fn entry_from_row(r: &rusqlite::Row<'_>) -> Result<AuditEntry, StoreError> {
    let leaf_hash: Vec<u8> = r.get(4)?;
    Ok(AuditEntry {
        leaf_index: index_from(r.get(0)?, "leaf index")?,
        event_id: r.get(1)?,
        occurred_at: r.get(2)?,
        canonical: r.get(3)?,
        leaf_hash: hash_from(&leaf_hash, "leaf hash")?,
    })
}

fn node_from_row(r: &rusqlite::Row<'_>) -> Result<Node, StoreError> {
    let hash: Vec<u8> = r.get(2)?;
    Ok(Node {
        level: r.get(0)?,
        index: index_from(r.get(1)?, "node index")?,
        hash: hash_from(&hash, "node hash")?,
    })
}

fn checkpoint_from_row(r: &rusqlite::Row<'_>) -> Result<StoredCheckpoint, StoreError> {
    let root: Vec<u8> = r.get(1)?;
    Ok(StoredCheckpoint {
        tree_size: index_from(r.get(0)?, "tree size")?,
        root_hash: hash_from(&root, "root hash")?,
        timestamp: index_from(r.get(2)?, "timestamp")?,
        key_id: r.get(3)?,
        note: r.get(4)?,
    })
}

const CHECKPOINT_COLUMNS: &str = "tree_size, root_hash, signed_at, key_id, note";

fn tree_size(conn: &Connection, workspace: &str) -> Result<u64, StoreError> {
    let size: Option<i64> = conn
        .query_row(
            "SELECT tree_size FROM audit_heads WHERE workspace_id = ?1",
            [workspace],
            |r| r.get(0),
        )
        .optional()?;
    index_from(size.unwrap_or(0), "tree size")
}

fn node(
    conn: &Connection,
    workspace: &str,
    level: u32,
    index: u64,
) -> Result<Option<Node>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT level, idx, hash FROM audit_nodes WHERE workspace_id = ?1 AND level = ?2 AND idx = ?3",
    )?;
    let mut rows = stmt.query(params![workspace, level, index as i64])?;
    rows.next()?.map(node_from_row).transpose()
}

fn append(
    tx: &Transaction<'_>,
    workspace: &str,
    idempotency_key: Option<String>,
    records: Vec<AuditRecord>,
    now: i64,
) -> Result<AppendOutcome, StoreError> {
    let size = tree_size(tx, workspace)?;
    let mut frontier = Frontier::from_nodes(size, |level, index| {
        node(tx, workspace, level, index)?
            .map(|n| n.hash)
            .ok_or_else(|| StoreError::Corrupt(format!("audit node ({level}, {index}) is missing")))
    })?;
    let checkpoint_size = latest_checkpoint_size(tx, workspace)?;
    let mut outcome = AppendOutcome {
        accepted: 0,
        duplicates: 0,
        tree_size: size,
        root: frontier.root(),
        checkpoint_size,
    };
    if let Some(key) = &idempotency_key {
        let seen: Option<i64> = tx
            .query_row(
                "SELECT events FROM audit_idempotency WHERE workspace_id = ?1 AND idempotency_key = ?2",
                params![workspace, key],
                |r| r.get(0),
            )
            .optional()?;
        if seen.is_some() {
            outcome.duplicates = records.len() as u64;
            return Ok(outcome);
        }
    }
    let count = records.len() as u64;
    let fresh = fresh_records(tx, workspace, records)?;
    let mut nodes = Vec::with_capacity(fresh.len() * 2);
    let mut rows = Vec::with_capacity(fresh.len());
    for r in fresh {
        let index = frontier.size();
        nodes.extend(frontier.push(r.leaf_hash));
        rows.push((index, r));
    }
    for chunk in rows.chunks(ENTRY_ROWS) {
        insert_entries(tx, workspace, chunk)?;
    }
    for chunk in nodes.chunks(NODE_ROWS) {
        insert_nodes(tx, workspace, chunk)?;
    }
    outcome.accepted = frontier.size() - size;
    outcome.duplicates = count - outcome.accepted;
    outcome.tree_size = frontier.size();
    outcome.root = frontier.root();
    tx.execute(
        "INSERT INTO audit_heads (workspace_id, tree_size) VALUES (?1, ?2)
         ON CONFLICT (workspace_id) DO UPDATE SET tree_size = excluded.tree_size",
        params![workspace, frontier.size() as i64],
    )?;
    if let Some(key) = idempotency_key {
        tx.execute(
            "INSERT INTO audit_idempotency (workspace_id, idempotency_key, events, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![workspace, key, count as i64, now],
        )?;
    }
    Ok(outcome)
}

/// Entries and nodes one multi-row `INSERT` carries: fewer statements, well under SQLite's
/// limit of 32,766 parameters.
const ENTRY_ROWS: usize = 64;
const NODE_ROWS: usize = 256;

/// The records whose event id is neither stored nor earlier in the batch.
fn fresh_records(
    tx: &Transaction<'_>,
    workspace: &str,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(records.len());
    for chunk in records.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT event_id FROM audit_entries WHERE workspace_id = ? AND event_id IN ({marks})"
        ))?;
        let ids = chunk.iter().map(|r| r.event_id.as_str());
        let params = std::iter::once(workspace).chain(ids);
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            seen.insert(row.get::<_, String>(0)?);
        }
    }
    Ok(records
        .into_iter()
        .filter(|r| seen.insert(r.event_id.clone()))
        .collect())
}

fn insert_entries(
    tx: &Transaction<'_>,
    workspace: &str,
    rows: &[(u64, AuditRecord)],
) -> Result<(), StoreError> {
    let marks = vec!["(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"; rows.len()].join(",");
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO audit_entries (workspace_id, leaf_index, event_id, occurred_at, action,
            actor_type, actor_kind, actor_id, actor_name, actor_email, targets_key, search_text,
            canonical, leaf_hash) VALUES {marks}"
    ))?;
    let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(rows.len() * 14);
    let indexes: Vec<i64> = rows.iter().map(|(i, _)| *i as i64).collect();
    for ((_, r), index) in rows.iter().zip(&indexes) {
        params.extend([
            &workspace as &dyn rusqlite::ToSql,
            index,
            &r.event_id,
            &r.occurred_at,
            &r.action,
            &r.actor_type,
            &r.actor_kind,
            &r.actor_id,
            &r.actor_name,
            &r.actor_email,
            &r.targets_key,
            &r.search_text,
            &r.canonical,
            &r.leaf_hash,
        ]);
    }
    stmt.execute(params.as_slice())?;
    Ok(())
}

fn insert_nodes(tx: &Transaction<'_>, workspace: &str, nodes: &[Node]) -> Result<(), StoreError> {
    let marks = vec!["(?,?,?,?)"; nodes.len()].join(",");
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO audit_nodes (workspace_id, level, idx, hash) VALUES {marks}"
    ))?;
    let indexes: Vec<i64> = nodes.iter().map(|n| n.index as i64).collect();
    let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(nodes.len() * 4);
    for (n, index) in nodes.iter().zip(&indexes) {
        params.extend([&workspace as &dyn rusqlite::ToSql, &n.level, index, &n.hash]);
    }
    stmt.execute(params.as_slice())?;
    Ok(())
}

fn latest_checkpoint_size(conn: &Connection, workspace: &str) -> Result<Option<u64>, StoreError> {
    let size: Option<i64> = conn.query_row(
        "SELECT MAX(tree_size) FROM audit_checkpoints WHERE workspace_id = ?1",
        [workspace],
        |r| r.get(0),
    )?;
    size.map(|s| index_from(s, "tree size")).transpose()
}

fn to_sql(params: Vec<SqlParam>) -> Vec<rusqlite::types::Value> {
    params
        .into_iter()
        .map(|p| match p {
            SqlParam::Text(s) => rusqlite::types::Value::Text(s),
            SqlParam::Int(i) => rusqlite::types::Value::Integer(i),
        })
        .collect()
}

fn collect<T>(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
    f: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_append(
        &self,
        workspace: &str,
        idempotency_key: Option<String>,
        records: Vec<AuditRecord>,
        now: i64,
    ) -> Result<AppendOutcome, StoreError> {
        let ws = workspace.to_string();
        self.write(move |tx| append(tx, &ws, idempotency_key, records, now))
            .await
    }

    async fn audit_tree_size(&self, workspace: &str) -> Result<u64, StoreError> {
        let ws = workspace.to_string();
        self.read(move |conn| tree_size(conn, &ws)).await
    }

    async fn audit_nodes(
        &self,
        workspace: &str,
        positions: Vec<(u32, u64)>,
    ) -> Result<Vec<Node>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |conn| {
            let mut out = Vec::with_capacity(positions.len());
            for (level, index) in positions {
                out.extend(node(conn, &ws, level, index)?);
            }
            Ok(out)
        })
        .await
    }

    async fn audit_node_page(
        &self,
        workspace: &str,
        after: Option<(u32, u64)>,
        limit: usize,
    ) -> Result<Vec<Node>, StoreError> {
        let ws = workspace.to_string();
        let (level, index) = after.map_or((-1, -1), |(l, i)| (i64::from(l), i as i64));
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT level, idx, hash FROM audit_nodes WHERE workspace_id = ?1
                 AND (level > ?2 OR (level = ?2 AND idx > ?3)) ORDER BY level, idx LIMIT ?4",
            )?;
            collect(
                &mut stmt,
                params![ws, level, index, limit as i64],
                node_from_row,
            )
        })
        .await
    }

    async fn audit_leaf_of(
        &self,
        workspace: &str,
        event_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let (ws, id) = (workspace.to_string(), event_id.to_string());
        self.read(move |conn| {
            let leaf: Option<i64> = conn
                .query_row(
                    "SELECT leaf_index FROM audit_entries WHERE workspace_id = ?1 AND event_id = ?2",
                    params![ws, id],
                    |r| r.get(0),
                )
                .optional()?;
            leaf.map(|l| index_from(l, "leaf index")).transpose()
        })
        .await
    }

    async fn audit_search(
        &self,
        workspace: &str,
        filter: &AuditFilter,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (sql, params) = search_sql(workspace, filter, order, limit, |n| format!("?{n}"));
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            collect(
                &mut stmt,
                rusqlite::params_from_iter(to_sql(params)),
                entry_from_row,
            )
        })
        .await
    }

    async fn audit_put_checkpoint(
        &self,
        workspace: &str,
        c: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        let (ws, c) = (workspace.to_string(), c.clone());
        self.write(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO audit_checkpoints (workspace_id, {CHECKPOINT_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"
                ),
                params![
                    ws,
                    c.tree_size as i64,
                    &c.root_hash[..],
                    c.timestamp as i64,
                    c.key_id,
                    c.note
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn audit_checkpoint(
        &self,
        workspace: &str,
        tree_size: Option<u64>,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let ws = workspace.to_string();
        let size = tree_size.map_or(-1, |s| s as i64);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = ?1
                 AND (?2 < 0 OR tree_size = ?2) ORDER BY tree_size DESC LIMIT 1"
            ))?;
            Ok(collect(&mut stmt, params![ws, size], checkpoint_from_row)?
                .into_iter()
                .next())
        })
        .await
    }

    async fn audit_checkpoints(
        &self,
        workspace: &str,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE workspace_id = ?1
                 ORDER BY tree_size"
            ))?;
            collect(&mut stmt, [ws], checkpoint_from_row)
        })
        .await
    }

    async fn audit_register_key(
        &self,
        workspace: &str,
        key: &AuditKeyRecord,
    ) -> Result<(), StoreError> {
        let (ws, k) = (workspace.to_string(), key.clone());
        self.write(move |tx| {
            let added = tx.execute(
                "INSERT INTO audit_signing_keys (workspace_id, name, key_id, public_key, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![ws, k.name, k.key_id, &k.public_key[..], k.created_at],
            )?;
            if added > 0 {
                tx.execute(
                    "UPDATE audit_signing_keys SET retired_at = ?4 WHERE workspace_id = ?1
                     AND retired_at IS NULL AND NOT (name = ?2 AND key_id = ?3)",
                    params![ws, k.name, k.key_id, k.created_at],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn audit_keys(&self, workspace: &str) -> Result<Vec<AuditKeyRecord>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, key_id, public_key, created_at, retired_at FROM audit_signing_keys
                 WHERE workspace_id = ?1 ORDER BY created_at, key_id",
            )?;
            collect(&mut stmt, [ws], |r| {
                let public_key: Vec<u8> = r.get(2)?;
                Ok(AuditKeyRecord {
                    name: r.get(0)?,
                    key_id: r.get(1)?,
                    public_key: hash_from(&public_key, "public key")?,
                    created_at: r.get(3)?,
                    retired_at: r.get(4)?,
                })
            })
        })
        .await
    }

    async fn audit_workspaces(&self) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT workspace_id FROM audit_heads ORDER BY workspace_id")?;
            collect(&mut stmt, [], |r| Ok(r.get(0)?))
        })
        .await
    }
}
