//! Log streams on PostgreSQL. Replicas claim due streams with one `UPDATE … WHERE (…) IN
//! (SELECT … FOR UPDATE SKIP LOCKED)`: a row another replica is claiming is skipped, not waited
//! for, and a lease whose expiry passed is taken over.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::StoreError;
use super::audit::index_from;
use super::postgres::PgStore;
use super::streams::*;

fn stream_from_row(r: &Row) -> Result<StoredStream, StoreError> {
    Ok(StoredStream {
        workspace_id: r.try_get(0)?,
        id: r.try_get(1)?,
        kind: r.try_get(2)?,
        config: r.try_get(3)?,
        secrets: r.try_get(4)?,
        state: r.try_get(5)?,
        cursor: index_from(r.try_get(6)?, "stream cursor")?,
        checkpoint_cursor: index_from(r.try_get(7)?, "stream checkpoint cursor")?,
        delivered: index_from(r.try_get(8)?, "delivered count")?,
        last_success_at: r.try_get(9)?,
        last_error: r.try_get(10)?,
        created_at: r.try_get(11)?,
        updated_at: r.try_get(12)?,
    })
}

#[async_trait]
impl StreamStore for PgStore {
    async fn stream_create(&self, s: &StoredStream) -> Result<(), StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO log_streams ({STREAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &s.workspace_id,
                    &s.id,
                    &s.kind,
                    &s.config,
                    &s.secrets,
                    &s.state,
                    &(s.cursor as i64),
                    &(s.checkpoint_cursor as i64),
                    &(s.delivered as i64),
                    &s.last_success_at,
                    &s.last_error,
                    &s.created_at,
                    &s.updated_at,
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("log stream {:?}", s.id)));
        }
        Ok(())
    }

    async fn streams(&self, workspace: &str) -> Result<Vec<StoredStream>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {STREAM_COLUMNS} FROM log_streams WHERE workspace_id = $1 ORDER BY created_at, stream_id"
                ),
                &[&workspace],
            )
            .await?;
        rows.iter().map(stream_from_row).collect()
    }

    async fn stream(&self, workspace: &str, id: &str) -> Result<Option<StoredStream>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {STREAM_COLUMNS} FROM log_streams WHERE workspace_id = $1 AND stream_id = $2"
                ),
                &[&workspace, &id],
            )
            .await?;
        row.as_ref().map(stream_from_row).transpose()
    }

    async fn stream_configure(
        &self,
        workspace: &str,
        id: &str,
        config: &str,
        secrets: &[u8],
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE log_streams SET config = $3, secrets = $4, updated_at = $5
                 WHERE workspace_id = $1 AND stream_id = $2",
                &[&workspace, &id, &config, &secrets, &now],
            )
            .await?;
        Ok(n > 0)
    }

    async fn stream_set_state(
        &self,
        workspace: &str,
        id: &str,
        state: &str,
        clear_error: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE log_streams SET state = $3, updated_at = $4,
                    last_error = CASE WHEN $5 THEN NULL ELSE last_error END
                 WHERE workspace_id = $1 AND stream_id = $2",
                &[&workspace, &id, &state, &now, &clear_error],
            )
            .await?;
        Ok(n > 0)
    }

    async fn stream_delete(&self, workspace: &str, id: &str) -> Result<bool, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "DELETE FROM log_streams WHERE workspace_id = $1 AND stream_id = $2",
                &[&workspace, &id],
            )
            .await?;
        Ok(n > 0)
    }

    async fn stream_claim(
        &self,
        lease: Lease<'_>,
        limit: usize,
    ) -> Result<Vec<StoredStream>, StoreError> {
        let limit = limit as i64;
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "UPDATE log_streams SET lease_owner = $1, lease_until = $3
                     WHERE (workspace_id, stream_id) IN (
                        SELECT workspace_id, stream_id FROM log_streams
                        WHERE {DUE} AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $2)
                        ORDER BY created_at, stream_id LIMIT $4
                        FOR UPDATE SKIP LOCKED)
                     RETURNING {STREAM_COLUMNS}"
                ),
                &[&lease.owner, &lease.now, &lease.until, &limit],
            )
            .await?;
        rows.iter().map(stream_from_row).collect()
    }

    async fn stream_progress(
        &self,
        workspace: &str,
        id: &str,
        lease: Lease<'_>,
        p: &StreamProgress,
    ) -> Result<bool, StoreError> {
        let set = progress_set(|n| format!("${n}"));
        let n = self
            .client()
            .await?
            .execute(
                &format!(
                    "UPDATE log_streams SET {set} WHERE workspace_id = $8 AND stream_id = $9 AND lease_owner = $10"
                ),
                &[
                    &(p.cursor as i64),
                    &(p.checkpoint_cursor as i64),
                    &(p.delivered as i64),
                    &p.state,
                    &p.last_success_at,
                    &p.last_error,
                    &lease.until,
                    &workspace,
                    &id,
                    &lease.owner,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn stream_release(
        &self,
        workspace: &str,
        id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE log_streams SET lease_owner = NULL, lease_until = NULL
                 WHERE workspace_id = $1 AND stream_id = $2 AND lease_owner = $3",
                &[&workspace, &id, &owner],
            )
            .await?;
        Ok(())
    }
}
