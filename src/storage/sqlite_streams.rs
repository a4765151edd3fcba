//! Log streams on SQLite. Every write, claims included, runs on the one writer thread, so a
//! claim is a single-writer claim: no two claims interleave.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::audit::index_from;
use super::sqlite::SqliteStore;
use super::streams::*;

fn stream_from_row(r: &rusqlite::Row<'_>) -> Result<StoredStream, StoreError> {
    Ok(StoredStream {
        workspace_id: r.get(0)?,
        id: r.get(1)?,
        kind: r.get(2)?,
        config: r.get(3)?,
        secrets: r.get(4)?,
        state: r.get(5)?,
        cursor: index_from(r.get(6)?, "stream cursor")?,
        checkpoint_cursor: index_from(r.get(7)?, "stream checkpoint cursor")?,
        delivered: index_from(r.get(8)?, "delivered count")?,
        last_success_at: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// Streams meeting `condition`, oldest first, at most `limit`.
fn select(
    conn: &Connection,
    condition: &str,
    limit: usize,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredStream>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {STREAM_COLUMNS} FROM log_streams WHERE {condition} ORDER BY created_at, stream_id LIMIT {limit}"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(stream_from_row(row)?);
    }
    Ok(out)
}

#[async_trait]
impl StreamStore for SqliteStore {
    async fn stream_create(&self, s: &StoredStream) -> Result<(), StoreError> {
        let s = s.clone();
        self.write(move |tx| {
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO log_streams ({STREAM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT DO NOTHING"
                ),
                params![
                    s.workspace_id,
                    s.id,
                    s.kind,
                    s.config,
                    s.secrets,
                    s.state,
                    s.cursor as i64,
                    s.checkpoint_cursor as i64,
                    s.delivered as i64,
                    s.last_success_at,
                    s.last_error,
                    s.created_at,
                    s.updated_at
                ],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("log stream {:?}", s.id)));
            }
            Ok(())
        })
        .await
    }

    async fn streams(&self, workspace: &str) -> Result<Vec<StoredStream>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |conn| select(conn, "workspace_id = ?1", usize::MAX >> 1, [ws]))
            .await
    }

    async fn stream(&self, workspace: &str, id: &str) -> Result<Option<StoredStream>, StoreError> {
        let (ws, id) = (workspace.to_string(), id.to_string());
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {STREAM_COLUMNS} FROM log_streams WHERE workspace_id = ?1 AND stream_id = ?2"
            ))?;
            let row = stmt
                .query_row(params![ws, id], |r| Ok(stream_from_row(r)))
                .optional()?;
            row.transpose()
        })
        .await
    }

    async fn stream_configure(
        &self,
        workspace: &str,
        id: &str,
        config: &str,
        secrets: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let (ws, id, config, secrets) = (
            workspace.to_string(),
            id.to_string(),
            config.to_string(),
            secrets.to_vec(),
        );
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE log_streams SET config = ?3, secrets = ?4, updated_at = ?5
                 WHERE workspace_id = ?1 AND stream_id = ?2",
                params![ws, id, config, secrets, now],
            )? > 0)
        })
        .await
    }

    async fn stream_set_state(
        &self,
        workspace: &str,
        id: &str,
        state: &str,
        clear_error: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (ws, id, state) = (workspace.to_string(), id.to_string(), state.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE log_streams SET state = ?3, updated_at = ?4,
                    last_error = CASE WHEN ?5 THEN NULL ELSE last_error END
                 WHERE workspace_id = ?1 AND stream_id = ?2",
                params![ws, id, state, now, clear_error],
            )? > 0)
        })
        .await
    }

    async fn stream_delete(&self, workspace: &str, id: &str) -> Result<bool, StoreError> {
        let (ws, id) = (workspace.to_string(), id.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "DELETE FROM log_streams WHERE workspace_id = ?1 AND stream_id = ?2",
                params![ws, id],
            )? > 0)
        })
        .await
    }

    async fn stream_claim(
        &self,
        lease: Lease<'_>,
        limit: usize,
    ) -> Result<Vec<StoredStream>, StoreError> {
        let (owner, now, until) = (lease.owner.to_string(), lease.now, lease.until);
        self.write(move |tx| {
            let due =
                format!("{DUE} AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_until < ?2)");
            let claimed = select(tx, &due, limit, params![owner, now])?;
            for s in &claimed {
                tx.execute(
                    "UPDATE log_streams SET lease_owner = ?3, lease_until = ?4
                     WHERE workspace_id = ?1 AND stream_id = ?2",
                    params![s.workspace_id, s.id, owner, until],
                )?;
            }
            Ok(claimed)
        })
        .await
    }

    async fn stream_progress(
        &self,
        workspace: &str,
        id: &str,
        lease: Lease<'_>,
        p: &StreamProgress,
    ) -> Result<bool, StoreError> {
        let (ws, id, owner, p) = (
            workspace.to_string(),
            id.to_string(),
            lease.owner.to_string(),
            p.clone(),
        );
        let until = lease.until;
        self.write(move |tx| {
            let set = progress_set(|n| format!("?{n}"));
            Ok(tx.execute(
                &format!(
                    "UPDATE log_streams SET {set} WHERE workspace_id = ?8 AND stream_id = ?9 AND lease_owner = ?10"
                ),
                params![
                    p.cursor as i64,
                    p.checkpoint_cursor as i64,
                    p.delivered as i64,
                    p.state,
                    p.last_success_at,
                    p.last_error,
                    until,
                    ws,
                    id,
                    owner
                ],
            )? > 0)
        })
        .await
    }

    async fn stream_release(
        &self,
        workspace: &str,
        id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let (ws, id, owner) = (workspace.to_string(), id.to_string(), owner.to_string());
        self.write(move |tx| {
            tx.execute(
                "UPDATE log_streams SET lease_owner = NULL, lease_until = NULL
                 WHERE workspace_id = ?1 AND stream_id = ?2 AND lease_owner = ?3",
                params![ws, id, owner],
            )?;
            Ok(())
        })
        .await
    }
}
