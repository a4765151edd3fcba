//! The PostgreSQL store. Batches go in with one `INSERT … SELECT FROM UNNEST(…)` per event type
//! inside one transaction, so a batch costs a handful of round trips however large it is.
//! Migrations run under an advisory lock, so replicas starting together migrate once.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::migrate::POSTGRES as MIGRATIONS;
use super::sqlite::{list_from_json, list_to_json, upsert_sql};
use super::*;
use crate::ingest::directory::{DirValue, FieldType, missing_required};
use crate::model::{Execution, ExecutionStatus, Message, WorkflowRun, from_micros, to_micros};

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
}

fn pool_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Pool(e.to_string())
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and brings its schema up to date.
    ///
    /// # Errors
    /// When the URL is malformed, the server cannot be reached, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Open(format!("invalid PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(pool_error)?;
        let store = PgStore { pool };
        store.migrate().await.map_err(|e| match e {
            StoreError::Pool(reason) => StoreError::Open(format!(
                "cannot reach PostgreSQL ({reason}): check the URL and that the server is running"
            )),
            other => other,
        })?;
        Ok(store)
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext('tally_migrations'));
             CREATE TABLE IF NOT EXISTS tally_migrations (
                version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        for m in MIGRATIONS {
            let done = tx
                .query_opt(
                    "SELECT 1 FROM tally_migrations WHERE version = $1",
                    &[&m.version],
                )
                .await?;
            if done.is_some() {
                continue;
            }
            tx.batch_execute(m.sql)
                .await
                .map_err(|e| StoreError::Migration {
                    version: m.version,
                    reason: e.to_string(),
                })?;
            tx.execute(
                "INSERT INTO tally_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &to_micros(jiff::Timestamp::now())],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

const WORKSPACE_COLUMNS: &str = "workspace_id, name, plan, timezone, privacy, created_at";
const KEY_COLUMNS: &str =
    "key_id, workspace_id, name, role, scopes, created_at, expires_at, last_used_at, revoked_at";

fn workspace_from_row(r: &Row) -> Result<Workspace, StoreError> {
    Ok(Workspace {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        plan: parse_word("plan", r.try_get(2)?)?,
        timezone: r.try_get(3)?,
        privacy: parse_word("privacy", r.try_get(4)?)?,
        created_at: from_micros(r.try_get(5)?),
    })
}

fn key_from_row(r: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: r.try_get(0)?,
        workspace_id: r.try_get(1)?,
        name: r.try_get(2)?,
        role: parse_word("role", r.try_get(3)?)?,
        scopes: scopes_from_text(r.try_get(4)?)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        last_used_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
    })
}

async fn select_workspace(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<Workspace>, StoreError> {
    let row = client
        .query_opt(
            &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE workspace_id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(workspace_from_row).transpose()
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn create_workspace(&self, w: &Workspace) -> Result<(), StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO workspaces ({WORKSPACE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &w.id,
                    &w.name,
                    &w.plan.as_str(),
                    &w.timezone,
                    &w.privacy.as_str(),
                    &to_micros(w.created_at),
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("workspace {:?}", w.id)));
        }
        Ok(())
    }

    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError> {
        select_workspace(&self.client().await?, id).await
    }

    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY workspace_id"),
                &[],
            )
            .await?;
        rows.iter().map(workspace_from_row).collect()
    }

    async fn update_workspace(
        &self,
        id: &str,
        p: &WorkspacePatch,
    ) -> Result<Option<Workspace>, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE workspaces SET name = COALESCE($2, name), plan = COALESCE($3, plan),
                    timezone = COALESCE($4, timezone), privacy = COALESCE($5, privacy)
                 WHERE workspace_id = $1",
                &[
                    &id,
                    &p.name,
                    &p.plan.map(|x| x.as_str()),
                    &p.timezone,
                    &p.privacy.map(|x| x.as_str()),
                ],
            )
            .await?;
        select_workspace(&client, id).await
    }

    async fn create_key(&self, k: &ApiKey, secret_hash: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO api_keys (key_hash, {KEY_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &secret_hash,
                    &k.id,
                    &k.workspace_id,
                    &k.name,
                    &k.role.as_str(),
                    &scopes_to_text(&k.scopes),
                    &k.created_at,
                    &k.expires_at,
                    &k.last_used_at,
                    &k.revoked_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
                &[&secret_hash],
            )
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn keys(&self, workspace: &str) -> Result<Vec<ApiKey>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL
                     ORDER BY created_at, key_id"
                ),
                &[&workspace],
            )
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, workspace: &str, key_id: &str, at: i64) -> Result<bool, StoreError> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE api_keys SET revoked_at = $3
                 WHERE workspace_id = $1 AND key_id = $2 AND revoked_at IS NULL",
                &[&workspace, &key_id, &at],
            )
            .await?;
        Ok(n == 1)
    }

    async fn touch_key(&self, workspace: &str, key_id: &str, at: i64) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE api_keys SET last_used_at = $3 WHERE workspace_id = $1 AND key_id = $2",
                &[&workspace, &key_id, &at],
            )
            .await?;
        Ok(())
    }

    async fn ingest(
        &self,
        workspace: &str,
        batch: ActivityBatch,
    ) -> Result<IngestOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let seq: i64 = tx
            .query_one(
                "INSERT INTO ingest_sequences (workspace_id, seq) VALUES ($1, 1)
                 ON CONFLICT (workspace_id) DO UPDATE SET seq = ingest_sequences.seq + 1
                 RETURNING seq",
                &[&workspace],
            )
            .await?
            .try_get(0)?;
        let mut accepted = insert_messages(&tx, workspace, seq, &batch.messages).await?;
        place_executions(&tx, workspace, &batch.messages).await?;
        accepted += insert_executions(
            &tx,
            "tool_executions",
            workspace,
            seq,
            &batch.tool_executions,
        )
        .await?;
        accepted += insert_executions(
            &tx,
            "skill_executions",
            workspace,
            seq,
            &batch.skill_executions,
        )
        .await?;
        accepted += insert_runs(&tx, workspace, seq, &batch.workflow_runs).await?;
        tx.commit().await?;
        Ok(IngestOutcome {
            accepted,
            duplicates: batch.len() as u64 - accepted,
            seq,
        })
    }

    async fn ingest_seq(&self, workspace: &str) -> Result<i64, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT seq FROM ingest_sequences WHERE workspace_id = $1",
                &[&workspace],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
    }

    async fn activity(&self, workspace: &str, window: Window) -> Result<ActivityBatch, StoreError> {
        let client = self.client().await?;
        let (from, to) = window.bounds();
        let args: [&(dyn ToSql + Sync); 3] = [&workspace, &from, &to];
        let window = format!(
            "WHERE workspace_id = $1 AND {} ORDER BY occurred_at, id COLLATE \"C\"",
            window.condition(|i| format!("${i}"), 2)
        );
        let mut batch = ActivityBatch::default();
        for r in client
            .query(
                &format!(
                    "SELECT id, occurred_at, conversation_id, parent_message_id, user_id, agent_id,
                        source, model_id, provider_id, project_id, tokens_in, tokens_out, cost_micros
                     FROM messages {window}"
                ),
                &args,
            )
            .await?
        {
            batch.messages.push(message_from_row(&r)?);
        }
        for table in ["tool_executions", "skill_executions"] {
            let mut list = Vec::new();
            for r in client
                .query(
                    &format!(
                        "SELECT id, occurred_at, name, user_id, agent_id, conversation_id,
                            message_id, status FROM {table} {window}"
                    ),
                    &args,
                )
                .await?
            {
                list.push(Execution {
                    id: r.try_get(0)?,
                    occurred_at: r.try_get(1)?,
                    name: r.try_get(2)?,
                    user_id: r.try_get(3)?,
                    agent_id: r.try_get(4)?,
                    conversation_id: r.try_get(5)?,
                    message_id: r.try_get(6)?,
                    status: parse_word::<ExecutionStatus>("status", r.try_get(7)?)?,
                });
            }
            if table == "tool_executions" {
                batch.tool_executions = list;
            } else {
                batch.skill_executions = list;
            }
        }
        for r in client
            .query(
                &format!(
                    "SELECT id, occurred_at, workflow_id, user_id, status FROM workflow_runs {window}"
                ),
                &args,
            )
            .await?
        {
            batch.workflow_runs.push(WorkflowRun {
                id: r.try_get(0)?,
                occurred_at: r.try_get(1)?,
                workflow_id: r.try_get(2)?,
                user_id: r.try_get(3)?,
                status: parse_word("status", r.try_get(4)?)?,
            });
        }
        Ok(batch)
    }

    async fn message_page(
        &self,
        workspace: &str,
        from: i64,
        to: i64,
        after: Option<MessageCursor>,
        limit: usize,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let (after_at, after_id) = after.unwrap_or((from, String::new()));
        let client = self.client().await?;
        // Ids compare in byte order (C), which the index's collation need not be, so the
        // repeated lower bound is what lets the scan start at the cursor instead of the range.
        let rows = client
            .query(
                "SELECT m.id, m.occurred_at, m.conversation_id, m.parent_message_id, m.user_id,
                    m.agent_id, m.source, m.model_id, m.provider_id, m.project_id, m.tokens_in,
                    m.tokens_out, m.cost_micros
                 FROM messages m
                 WHERE m.workspace_id = $1
                   AND (m.occurred_at > $2 OR (m.occurred_at = $2 AND m.id COLLATE \"C\" > $3))
                   AND m.occurred_at >= $2
                   AND m.occurred_at >= $4 AND m.occurred_at < $5
                 ORDER BY m.occurred_at, m.id COLLATE \"C\" LIMIT $6",
                &[
                    &workspace,
                    &after_at,
                    &after_id,
                    &from,
                    &to,
                    &(limit as i64),
                ],
            )
            .await?;
        let messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
            return Ok(Vec::new());
        };
        let span = (first.occurred_at, last.occurred_at);
        let mut found = [NamesByMessage::new(), NamesByMessage::new()];
        for (table, found) in ["tool_executions", "skill_executions"]
            .iter()
            .zip(&mut found)
        {
            let rows = client
                .query(
                    &format!(
                        "SELECT message_id, name FROM {table}
                         WHERE workspace_id = $1 AND message_at >= $2 AND message_at <= $3"
                    ),
                    &[&workspace, &span.0, &span.1],
                )
                .await?;
            for row in &rows {
                let id: String = row.try_get(0)?;
                found
                    .entry(id)
                    .or_insert_with(Vec::new)
                    .push(row.try_get::<_, String>(1)?);
            }
        }
        let [tools, skills] = found;
        Ok(MessageRow::joined(messages, tools, skills))
    }

    async fn event_counts(&self, workspace: &str) -> Result<EventCounts, StoreError> {
        let client = self.client().await?;
        let mut counts = [0u64; 4];
        for (slot, table) in counts.iter_mut().zip([
            "messages",
            "tool_executions",
            "skill_executions",
            "workflow_runs",
        ]) {
            let row = client
                .query_one(
                    &format!("SELECT COUNT(*) FROM {table} WHERE workspace_id = $1"),
                    &[&workspace],
                )
                .await?;
            *slot = row.try_get::<_, i64>(0)? as u64;
        }
        Ok(EventCounts {
            messages: counts[0],
            tool_executions: counts[1],
            skill_executions: counts[2],
            workflow_runs: counts[3],
        })
    }

    async fn upsert_directory(
        &self,
        workspace: &str,
        kind: DirectoryKind,
        records: Vec<DirectoryRecord>,
    ) -> Result<UpsertOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let table = kind.as_str();
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut existing: std::collections::HashSet<String> = tx
            .query(
                &format!("SELECT id FROM {table} WHERE workspace_id = $1 AND id = ANY($2)"),
                &[&workspace, &ids],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let refused = missing_required(kind, &records, |id| existing.contains(id));
        if !refused.is_empty() {
            return Ok(UpsertOutcome::Refused(refused));
        }
        let (mut created, mut updated) = (0u64, 0u64);
        for r in &records {
            let columns: Vec<&str> = r.values.iter().map(|(spec, _)| spec.column).collect();
            let sql = upsert_sql(table, &columns, |i| format!("${i}"));
            let mut args: Vec<Box<dyn ToSql + Sync + Send>> =
                vec![Box::new(workspace.to_string()), Box::new(r.id.clone())];
            for (spec, value) in &r.values {
                args.push(match (spec.ty, value) {
                    (FieldType::Time, None) => Box::new(None::<i64>),
                    (_, None) => Box::new(None::<String>),
                    (_, Some(DirValue::Text(s))) => Box::new(s.clone()),
                    (_, Some(DirValue::Time(t))) => Box::new(*t),
                    (_, Some(DirValue::List(items))) => Box::new(list_to_json(items)),
                });
            }
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| &**a as _).collect();
            tx.execute(&sql, &refs).await?;
            if existing.insert(r.id.clone()) {
                created += 1;
            } else {
                updated += 1;
            }
        }
        tx.commit().await?;
        Ok(UpsertOutcome::Stored { created, updated })
    }

    async fn directory(
        &self,
        workspace: &str,
        kind: DirectoryKind,
    ) -> Result<Vec<DirectoryRecord>, StoreError> {
        let specs = kind.fields();
        let columns: Vec<&str> = specs.iter().map(|s| s.column).collect();
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT id, {} FROM {} WHERE workspace_id = $1 ORDER BY id",
                    columns.join(", "),
                    kind.as_str()
                ),
                &[&workspace],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(specs.len());
            for (i, spec) in specs.iter().enumerate() {
                let value = match spec.ty {
                    FieldType::Time => row.try_get::<_, Option<i64>>(i + 1)?.map(DirValue::Time),
                    FieldType::Emails | FieldType::Groups => row
                        .try_get::<_, Option<&str>>(i + 1)?
                        .map(|t| list_from_json(t).map(DirValue::List))
                        .transpose()?,
                    _ => row.try_get::<_, Option<String>>(i + 1)?.map(DirValue::Text),
                };
                values.push((*spec, value));
            }
            out.push(DirectoryRecord {
                id: row.try_get(0)?,
                values,
            });
        }
        Ok(out)
    }

    async fn set_password_hash(&self, email: &str, hash: &str, at: i64) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO accounts (email, password_hash, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash,
                    updated_at = excluded.updated_at",
                &[&email, &hash, &at],
            )
            .await?;
        Ok(())
    }

    async fn password_hash(&self, email: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT password_hash FROM accounts WHERE email = $1",
                &[&email],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}

fn message_from_row(r: &Row) -> Result<Message, StoreError> {
    Ok(Message {
        id: r.try_get(0)?,
        occurred_at: r.try_get(1)?,
        conversation_id: r.try_get(2)?,
        parent_message_id: r.try_get(3)?,
        user_id: r.try_get(4)?,
        agent_id: r.try_get(5)?,
        source: r.try_get(6)?,
        model_id: r.try_get(7)?,
        provider_id: r.try_get(8)?,
        project_id: r.try_get(9)?,
        tokens_in: r.try_get(10)?,
        tokens_out: r.try_get(11)?,
        cost_micros: r.try_get(12)?,
    })
}

async fn insert_messages(
    tx: &impl GenericClient,
    ws: &str,
    seq: i64,
    list: &[Message],
) -> Result<u64, StoreError> {
    if list.is_empty() {
        return Ok(0);
    }
    let col = |f: fn(&Message) -> &str| list.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&Message) -> Option<&str>| list.iter().map(f).collect::<Vec<_>>();
    let num = |f: fn(&Message) -> Option<i64>| list.iter().map(f).collect::<Vec<_>>();
    let at: Vec<i64> = list.iter().map(|m| m.occurred_at).collect();
    Ok(tx
        .execute(
            "INSERT INTO messages (workspace_id, occurred_at, id, conversation_id,
                parent_message_id, user_id, agent_id, source, model_id, provider_id, project_id,
                tokens_in, tokens_out, cost_micros, seq)
             SELECT $1, *, $15 FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int8[],
                $13::int8[], $14::int8[])
             ON CONFLICT DO NOTHING",
            &[
                &ws,
                &at,
                &col(|m| &m.id),
                &col(|m| &m.conversation_id),
                &opt(|m| m.parent_message_id.as_deref()),
                &opt(|m| m.user_id.as_deref()),
                &col(|m| &m.agent_id),
                &col(|m| &m.source),
                &opt(|m| m.model_id.as_deref()),
                &opt(|m| m.provider_id.as_deref()),
                &opt(|m| m.project_id.as_deref()),
                &num(|m| m.tokens_in),
                &num(|m| m.tokens_out),
                &num(|m| m.cost_micros),
                &seq,
            ],
        )
        .await?)
}

async fn insert_executions(
    tx: &impl GenericClient,
    table: &str,
    ws: &str,
    seq: i64,
    list: &[Execution],
) -> Result<u64, StoreError> {
    if list.is_empty() {
        return Ok(0);
    }
    let opt = |f: fn(&Execution) -> Option<&str>| list.iter().map(f).collect::<Vec<_>>();
    let at: Vec<i64> = list.iter().map(|e| e.occurred_at).collect();
    let ids: Vec<&str> = list.iter().map(|e| e.id.as_str()).collect();
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    let status: Vec<&str> = list.iter().map(|e| e.status.as_str()).collect();
    Ok(tx
        .execute(
            &format!(
                "INSERT INTO {table} (workspace_id, occurred_at, id, name, user_id, agent_id,
                    conversation_id, message_id, status, seq, message_at)
                 SELECT $1, u.*, $10,
                    (SELECT m.occurred_at FROM messages m
                     WHERE m.workspace_id = $1 AND m.id = u.message_id)
                 FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::text[],
                    $6::text[], $7::text[], $8::text[], $9::text[])
                    AS u(occurred_at, id, name, user_id, agent_id, conversation_id, message_id, status)
                 ON CONFLICT DO NOTHING"
            ),
            &[
                &ws,
                &at,
                &ids,
                &names,
                &opt(|e| e.user_id.as_deref()),
                &opt(|e| e.agent_id.as_deref()),
                &opt(|e| e.conversation_id.as_deref()),
                &opt(|e| e.message_id.as_deref()),
                &status,
                &seq,
            ],
        )
        .await?)
}

/// Gives executions stored before their message (one of `list`) the time of that message as
/// stored.
async fn place_executions(
    tx: &impl GenericClient,
    ws: &str,
    list: &[Message],
) -> Result<(), StoreError> {
    if list.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = list.iter().map(|m| m.id.as_str()).collect();
    for table in ["tool_executions", "skill_executions"] {
        let waiting: bool = tx
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {table}
                     WHERE workspace_id = $1 AND message_id IS NOT NULL AND message_at IS NULL)"
                ),
                &[&ws],
            )
            .await?
            .try_get(0)?;
        if waiting {
            tx.execute(
                &format!(
                    "UPDATE {table} t SET message_at = m.occurred_at FROM messages m
                     WHERE t.workspace_id = $1 AND t.message_at IS NULL
                       AND t.message_id = ANY($2::text[])
                       AND m.workspace_id = $1 AND m.id = t.message_id"
                ),
                &[&ws, &ids],
            )
            .await?;
        }
    }
    Ok(())
}

async fn insert_runs(
    tx: &impl GenericClient,
    ws: &str,
    seq: i64,
    list: &[WorkflowRun],
) -> Result<u64, StoreError> {
    if list.is_empty() {
        return Ok(0);
    }
    let at: Vec<i64> = list.iter().map(|r| r.occurred_at).collect();
    let ids: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
    let workflows: Vec<&str> = list.iter().map(|r| r.workflow_id.as_str()).collect();
    let users: Vec<Option<&str>> = list.iter().map(|r| r.user_id.as_deref()).collect();
    let status: Vec<&str> = list.iter().map(|r| r.status.as_str()).collect();
    Ok(tx
        .execute(
            "INSERT INTO workflow_runs (workspace_id, occurred_at, id, workflow_id, user_id, status, seq)
             SELECT $1, *, $7 FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[])
             ON CONFLICT DO NOTHING",
            &[&ws, &at, &ids, &workflows, &users, &status, &seq],
        )
        .await?)
}
