//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a committed
//! transaction survives a crash or a power cut. One writer thread owns the only write
//! connection and commits concurrent ingest batches together (group commit); readers use a
//! small pool of their own connections, which WAL lets run beside the writer.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

use super::migrate::SQLITE as MIGRATIONS;
use super::*;
use crate::ingest::directory::{DirValue, missing_required};
use crate::model::{Execution, Message, WorkflowRun, from_micros, to_micros};

type WriteFn = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Ingest {
        workspace: String,
        batch: ActivityBatch,
        reply: oneshot::Sender<Result<IngestOutcome, StoreError>>,
    },
    Write(WriteFn),
}

/// Most events one group commit gathers before committing.
const GROUP_COMMIT_EVENTS: usize = 50_000;

/// The embedded SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    ///
    /// # Errors
    /// When the directory cannot be created or the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Open(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("tally-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Open(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
        let tx = guard.as_ref().ok_or(StoreError::Closed)?;
        tx.send(job).map_err(|_| StoreError::Closed)
    }

    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Write(Box::new(move |conn: &mut Connection| {
            let result = (|| {
                let tx = conn.transaction()?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            let _ = reply.send(result);
        })))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().map_err(|_| StoreError::Closed)?.pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => {
                    let conn = connect(&path)?;
                    // Readers mostly scan in key order, which the system's file cache serves;
                    // a small page cache each keeps several of them light.
                    conn.execute_batch("PRAGMA cache_size = -16384;")?;
                    conn
                }
            };
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = OFF;
         PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS tally_migrations (
            version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    for m in MIGRATIONS {
        let tx = conn.transaction()?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM tally_migrations WHERE version = ?1",
                [m.version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_none() {
            tx.execute_batch(m.sql).map_err(|e| StoreError::Migration {
                version: m.version,
                reason: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO tally_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![m.version, m.name, to_micros(jiff::Timestamp::now())],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut next = rx.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Write(f) => f(&mut conn),
            Job::Ingest {
                workspace,
                batch,
                reply,
            } => {
                let mut events = batch.len();
                let mut group = vec![(workspace, batch, reply)];
                while events < GROUP_COMMIT_EVENTS {
                    match rx.try_recv() {
                        Ok(Job::Ingest {
                            workspace,
                            batch,
                            reply,
                        }) => {
                            events += batch.len();
                            group.push((workspace, batch, reply));
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_group(&mut conn, group);
            }
        }
        if next.is_none() {
            next = rx.recv().ok();
        }
    }
}

type Pending = (
    String,
    ActivityBatch,
    oneshot::Sender<Result<IngestOutcome, StoreError>>,
);

/// Stores several batches in one transaction; every caller hears the one outcome of the commit.
fn commit_group(conn: &mut Connection, group: Vec<Pending>) {
    let result = (|| {
        let tx = conn.transaction()?;
        let mut outcomes = Vec::with_capacity(group.len());
        for (workspace, batch, _) in &group {
            outcomes.push(insert_batch(&tx, workspace, batch)?);
        }
        tx.commit()?;
        Ok::<_, StoreError>(outcomes)
    })();
    match result {
        Ok(outcomes) => {
            for ((_, _, reply), outcome) in group.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (_, _, reply) in group {
                let _ = reply.send(Err(StoreError::Open(format!("ingest failed: {message}"))));
            }
        }
    }
}

fn insert_batch(
    tx: &Transaction<'_>,
    ws: &str,
    batch: &ActivityBatch,
) -> Result<IngestOutcome, StoreError> {
    let mut accepted = 0u64;
    let seq: i64 = tx
        .prepare_cached(
            "INSERT INTO ingest_sequences (workspace_id, seq) VALUES (?1, 1)
             ON CONFLICT (workspace_id) DO UPDATE SET seq = seq + 1 RETURNING seq",
        )?
        .query_row([ws], |r| r.get(0))?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO messages (workspace_id, occurred_at, id, conversation_id, parent_message_id,
            user_id, agent_id, source, model_id, provider_id, project_id, tokens_in, tokens_out,
            cost_micros, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT DO NOTHING",
    )?;
    let mut stored = Vec::with_capacity(batch.messages.len());
    for m in &batch.messages {
        let n = stmt.execute(params![
            ws,
            m.occurred_at,
            m.id,
            m.conversation_id,
            m.parent_message_id,
            m.user_id,
            m.agent_id,
            m.source,
            m.model_id,
            m.provider_id,
            m.project_id,
            m.tokens_in,
            m.tokens_out,
            m.cost_micros,
            seq
        ])?;
        stored.push(n == 1);
        accepted += n as u64;
    }
    // Executions stored before their message get its time now.
    for table in ["tool_executions", "skill_executions"] {
        let waiting: bool = tx
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM {table} INDEXED BY {table}_unplaced
                 WHERE workspace_id = ?1 AND message_id IS NOT NULL AND message_at IS NULL)"
            ))?
            .query_row([ws], |r| r.get(0))?;
        if !waiting {
            continue;
        }
        let mut place = tx.prepare_cached(&format!(
            "UPDATE {table} SET message_at = ?2
             WHERE workspace_id = ?1 AND message_id = ?3 AND message_at IS NULL"
        ))?;
        for (m, _) in batch.messages.iter().zip(&stored).filter(|(_, s)| **s) {
            place.execute(params![ws, m.occurred_at, m.id])?;
        }
    }
    for (table, list) in [
        ("tool_executions", &batch.tool_executions),
        ("skill_executions", &batch.skill_executions),
    ] {
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT INTO {table} (workspace_id, occurred_at, id, name, user_id, agent_id,
                conversation_id, message_id, status, seq, message_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                (SELECT m.occurred_at FROM messages m WHERE m.workspace_id = ?1 AND m.id = ?8))
             ON CONFLICT DO NOTHING"
        ))?;
        for e in list {
            accepted += stmt.execute(params![
                ws,
                e.occurred_at,
                e.id,
                e.name,
                e.user_id,
                e.agent_id,
                e.conversation_id,
                e.message_id,
                e.status.as_str(),
                seq
            ])? as u64;
        }
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO workflow_runs (workspace_id, occurred_at, id, workflow_id, user_id, status, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )?;
    for r in &batch.workflow_runs {
        accepted += stmt.execute(params![
            ws,
            r.occurred_at,
            r.id,
            r.workflow_id,
            r.user_id,
            r.status.as_str(),
            seq
        ])? as u64;
    }
    Ok(IngestOutcome {
        accepted,
        duplicates: batch.len() as u64 - accepted,
        seq,
    })
}

fn workspace_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<[String; 5]> {
    Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
}

fn workspace_from_parts(parts: [String; 5], created_at: i64) -> Result<Workspace, StoreError> {
    let [id, name, plan, timezone, privacy] = parts;
    Ok(Workspace {
        id,
        name,
        plan: parse_word("plan", &plan)?,
        timezone,
        privacy: parse_word("privacy", &privacy)?,
        created_at: from_micros(created_at),
    })
}

const WORKSPACE_COLUMNS: &str = "workspace_id, name, plan, timezone, privacy, created_at";

fn query_workspaces(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Workspace>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {WORKSPACE_COLUMNS} FROM workspaces {filter} ORDER BY workspace_id"
    ))?;
    let rows = stmt.query_map(args, |r| Ok((workspace_from_row(r)?, r.get::<_, i64>(5)?)))?;
    rows.map(|row| {
        let (parts, created) = row?;
        workspace_from_parts(parts, created)
    })
    .collect()
}

const KEY_COLUMNS: &str =
    "key_id, workspace_id, name, role, scopes, created_at, expires_at, last_used_at, revoked_at";

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ApiKey, String, String)> {
    let role: String = r.get(3)?;
    let scopes: String = r.get(4)?;
    let key = ApiKey {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        name: r.get(2)?,
        role: crate::model::Role::User,
        scopes: Vec::new(),
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        last_used_at: r.get(7)?,
        revoked_at: r.get(8)?,
    };
    Ok((key, role, scopes))
}

fn finish_key((mut key, role, scopes): (ApiKey, String, String)) -> Result<ApiKey, StoreError> {
    key.role = parse_word("role", &role)?;
    key.scopes = scopes_from_text(&scopes)?;
    Ok(key)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }

    async fn create_workspace(&self, w: &Workspace) -> Result<(), StoreError> {
        let w = w.clone();
        self.write(move |tx| {
            let inserted = tx.execute(
                &format!("INSERT INTO workspaces ({WORKSPACE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"),
                params![w.id, w.name, w.plan.as_str(), w.timezone, w.privacy.as_str(), to_micros(w.created_at)],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("workspace {:?}", w.id)));
            }
            Ok(())
        })
        .await
    }

    async fn workspace(&self, id: &str) -> Result<Option<Workspace>, StoreError> {
        let id = id.to_string();
        self.read(move |c| Ok(query_workspaces(c, "WHERE workspace_id = ?1", &[&id])?.pop()))
            .await
    }

    async fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        self.read(|c| query_workspaces(c, "", &[])).await
    }

    async fn update_workspace(
        &self,
        id: &str,
        patch: &WorkspacePatch,
    ) -> Result<Option<Workspace>, StoreError> {
        let (id, p) = (id.to_string(), patch.clone());
        self.write(move |tx| {
            tx.execute(
                "UPDATE workspaces SET name = COALESCE(?2, name), plan = COALESCE(?3, plan),
                    timezone = COALESCE(?4, timezone), privacy = COALESCE(?5, privacy)
                 WHERE workspace_id = ?1",
                params![
                    id,
                    p.name,
                    p.plan.map(|x| x.as_str()),
                    p.timezone,
                    p.privacy.map(|x| x.as_str())
                ],
            )?;
            Ok(query_workspaces(tx, "WHERE workspace_id = ?1", &[&id])?.pop())
        })
        .await
    }

    async fn create_key(&self, key: &ApiKey, secret_hash: &str) -> Result<(), StoreError> {
        let (k, hash) = (key.clone(), secret_hash.to_string());
        self.write(move |tx| {
            tx.execute(
                &format!("INSERT INTO api_keys (key_hash, {KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![hash, k.id, k.workspace_id, k.name, k.role.as_str(), scopes_to_text(&k.scopes),
                         k.created_at, k.expires_at, k.last_used_at, k.revoked_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let hash = secret_hash.to_string();
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"
                ))?
                .query_row([hash], key_from_row)
                .optional()?;
            row.map(finish_key).transpose()
        })
        .await
    }

    async fn keys(&self, workspace: &str) -> Result<Vec<ApiKey>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = ?1 AND revoked_at IS NULL
                 ORDER BY created_at, key_id"
            ))?;
            let rows = stmt.query_map([ws], key_from_row)?;
            rows.map(|r| finish_key(r?)).collect()
        })
        .await
    }

    async fn revoke_key(&self, workspace: &str, key_id: &str, at: i64) -> Result<bool, StoreError> {
        let (ws, id) = (workspace.to_string(), key_id.to_string());
        self.write(move |tx| {
            Ok(tx.execute(
                "UPDATE api_keys SET revoked_at = ?3
                 WHERE workspace_id = ?1 AND key_id = ?2 AND revoked_at IS NULL",
                params![ws, id, at],
            )? == 1)
        })
        .await
    }

    async fn touch_key(&self, workspace: &str, key_id: &str, at: i64) -> Result<(), StoreError> {
        let (ws, id) = (workspace.to_string(), key_id.to_string());
        self.write(move |tx| {
            tx.execute(
                "UPDATE api_keys SET last_used_at = ?3 WHERE workspace_id = ?1 AND key_id = ?2",
                params![ws, id, at],
            )?;
            Ok(())
        })
        .await
    }

    async fn ingest(
        &self,
        workspace: &str,
        batch: ActivityBatch,
    ) -> Result<IngestOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Ingest {
            workspace: workspace.to_string(),
            batch,
            reply,
        })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn activity(&self, workspace: &str, window: Window) -> Result<ActivityBatch, StoreError> {
        let ws = workspace.to_string();
        self.read(move |c| read_activity(c, &ws, window)).await
    }

    async fn ingest_seq(&self, workspace: &str) -> Result<i64, StoreError> {
        let ws = workspace.to_string();
        self.read(move |c| {
            let seq: Option<i64> = c
                .query_row(
                    "SELECT seq FROM ingest_sequences WHERE workspace_id = ?1",
                    [ws],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(seq.unwrap_or(0))
        })
        .await
    }

    async fn message_page(
        &self,
        workspace: &str,
        from: i64,
        to: i64,
        after: Option<MessageCursor>,
        limit: usize,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |c| {
            // Without a cursor, start at `from` (ids are never empty): SQLite seeks by the row
            // value, so it must not start before the range.
            let (after_at, after_id) = after.unwrap_or((from, String::new()));
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m
                 WHERE m.workspace_id = ?1 AND (m.occurred_at, m.id) > (?2, ?3)
                   AND m.occurred_at >= ?4 AND m.occurred_at < ?5
                 ORDER BY m.occurred_at, m.id LIMIT ?6"
            ))?;
            let messages = stmt
                .query_map(
                    params![ws, after_at, after_id, from, to, limit as i64],
                    message_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
                return Ok(Vec::new());
            };
            let span = (first.occurred_at, last.occurred_at);
            let tools = executions_by_message(c, "tool_executions", &ws, span)?;
            let skills = executions_by_message(c, "skill_executions", &ws, span)?;
            Ok(MessageRow::joined(messages, tools, skills))
        })
        .await
    }

    async fn event_counts(&self, workspace: &str) -> Result<EventCounts, StoreError> {
        let ws = workspace.to_string();
        self.read(move |c| {
            let count = |table: &str| -> Result<u64, StoreError> {
                let n: i64 = c.query_row(
                    &format!("SELECT COUNT(*) FROM {table} WHERE workspace_id = ?1"),
                    [&ws],
                    |r| r.get(0),
                )?;
                Ok(n as u64)
            };
            Ok(EventCounts {
                messages: count("messages")?,
                tool_executions: count("tool_executions")?,
                skill_executions: count("skill_executions")?,
                workflow_runs: count("workflow_runs")?,
            })
        })
        .await
    }

    async fn upsert_directory(
        &self,
        workspace: &str,
        kind: DirectoryKind,
        records: Vec<DirectoryRecord>,
    ) -> Result<UpsertOutcome, StoreError> {
        let ws = workspace.to_string();
        self.write(move |tx| upsert_records(tx, &ws, kind, &records))
            .await
    }

    async fn directory(
        &self,
        workspace: &str,
        kind: DirectoryKind,
    ) -> Result<Vec<DirectoryRecord>, StoreError> {
        let ws = workspace.to_string();
        self.read(move |c| read_directory(c, &ws, kind)).await
    }

    async fn set_password_hash(&self, email: &str, hash: &str, at: i64) -> Result<(), StoreError> {
        let (email, hash) = (email.to_string(), hash.to_string());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO accounts (email, password_hash, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash,
                    updated_at = excluded.updated_at",
                params![email, hash, at],
            )?;
            Ok(())
        })
        .await
    }

    async fn password_hash(&self, email: &str) -> Result<Option<String>, StoreError> {
        let email = email.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT password_hash FROM accounts WHERE email = ?1",
                [email],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}

const MESSAGE_COLUMNS: &str = "m.id, m.occurred_at, m.conversation_id, m.parent_message_id,
    m.user_id, m.agent_id, m.source, m.model_id, m.provider_id, m.project_id, m.tokens_in,
    m.tokens_out, m.cost_micros";

fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(0)?,
        occurred_at: r.get(1)?,
        conversation_id: r.get(2)?,
        parent_message_id: r.get(3)?,
        user_id: r.get(4)?,
        agent_id: r.get(5)?,
        source: r.get(6)?,
        model_id: r.get(7)?,
        provider_id: r.get(8)?,
        project_id: r.get(9)?,
        tokens_in: r.get(10)?,
        tokens_out: r.get(11)?,
        cost_micros: r.get(12)?,
    })
}

/// The executions of messages stored at `[first, last]` (both ends included), by message id,
/// read in one pass over the time of their message.
fn executions_by_message(
    c: &Connection,
    table: &str,
    ws: &str,
    (first, last): (i64, i64),
) -> Result<NamesByMessage, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT message_id, name FROM {table} INDEXED BY {table}_message_at
         WHERE workspace_id = ?1 AND message_at >= ?2 AND message_at <= ?3
           AND message_at IS NOT NULL"
    ))?;
    let mut found = NamesByMessage::new();
    let mut rows = stmt.query(params![ws, first, last])?;
    while let Some(row) = rows.next()? {
        found.entry(row.get(0)?).or_default().push(row.get(1)?);
    }
    Ok(found)
}

fn read_activity(c: &Connection, ws: &str, window: Window) -> Result<ActivityBatch, StoreError> {
    let mut batch = ActivityBatch::default();
    let cond = window.condition(|i| format!("?{i}"), 2);
    let (from, to) = window.bounds();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m
         WHERE m.workspace_id = ?1 AND {cond}
         ORDER BY m.occurred_at, m.id"
    ))?;
    let rows = stmt.query_map(params![ws, from, to], message_from_row)?;
    batch.messages = rows.collect::<Result<_, _>>()?;
    for table in ["tool_executions", "skill_executions"] {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT id, occurred_at, name, user_id, agent_id, conversation_id, message_id, status
             FROM {table} WHERE workspace_id = ?1 AND {cond}
             ORDER BY occurred_at, id"
        ))?;
        let rows = stmt.query_map(params![ws, from, to], |r| {
            Ok((
                Execution {
                    id: r.get(0)?,
                    occurred_at: r.get(1)?,
                    name: r.get(2)?,
                    user_id: r.get(3)?,
                    agent_id: r.get(4)?,
                    conversation_id: r.get(5)?,
                    message_id: r.get(6)?,
                    status: crate::model::ExecutionStatus::Succeeded,
                },
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut list = Vec::new();
        for row in rows {
            let (mut e, status) = row?;
            e.status = parse_word("status", &status)?;
            list.push(e);
        }
        if table == "tool_executions" {
            batch.tool_executions = list;
        } else {
            batch.skill_executions = list;
        }
    }
    let mut stmt = c.prepare_cached(&format!(
        "SELECT id, occurred_at, workflow_id, user_id, status FROM workflow_runs
         WHERE workspace_id = ?1 AND {cond} ORDER BY occurred_at, id"
    ))?;
    let rows = stmt.query_map(params![ws, from, to], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    for row in rows {
        let (id, occurred_at, workflow_id, user_id, status) = row?;
        batch.workflow_runs.push(WorkflowRun {
            id,
            occurred_at,
            workflow_id,
            user_id,
            status: parse_word("status", &status)?,
        });
    }
    Ok(batch)
}

fn upsert_records(
    tx: &Transaction<'_>,
    ws: &str,
    kind: DirectoryKind,
    records: &[DirectoryRecord],
) -> Result<UpsertOutcome, StoreError> {
    let table = kind.as_str();
    let mut existing = std::collections::HashSet::new();
    {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT 1 FROM {table} WHERE workspace_id = ?1 AND id = ?2"
        ))?;
        for r in records {
            if stmt.exists(params![ws, r.id])? {
                existing.insert(r.id.clone());
            }
        }
    }
    let refused = missing_required(kind, records, |id| existing.contains(id));
    if !refused.is_empty() {
        return Ok(UpsertOutcome::Refused(refused));
    }
    let (mut created, mut updated) = (0u64, 0u64);
    for r in records {
        let columns: Vec<&str> = r.values.iter().map(|(spec, _)| spec.column).collect();
        let sql = upsert_sql(table, &columns, |i| format!("?{i}"));
        let mut args: Vec<Box<dyn rusqlite::ToSql>> =
            vec![Box::new(ws.to_string()), Box::new(r.id.clone())];
        for (_, value) in &r.values {
            args.push(match value {
                None => Box::new(rusqlite::types::Null),
                Some(DirValue::Text(s)) => Box::new(s.clone()),
                Some(DirValue::Time(t)) => Box::new(*t),
                Some(DirValue::List(items)) => Box::new(list_to_json(items)),
            });
        }
        tx.prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(args.iter()))?;
        if existing.insert(r.id.clone()) {
            created += 1;
        } else {
            updated += 1;
        }
    }
    Ok(UpsertOutcome::Stored { created, updated })
}

/// `INSERT … ON CONFLICT DO UPDATE` naming only the columns a record carries, so that absent
/// fields keep their stored values. `placeholder(i)` renders the i-th (1-based) parameter.
pub(crate) fn upsert_sql(
    table: &str,
    columns: &[&str],
    placeholder: impl Fn(usize) -> String,
) -> String {
    let names: Vec<&str> = ["workspace_id", "id"]
        .into_iter()
        .chain(columns.iter().copied())
        .collect();
    let values: Vec<String> = (1..=names.len()).map(&placeholder).collect();
    let action = if columns.is_empty() {
        "NOTHING".to_string()
    } else {
        let sets: Vec<String> = columns
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!("UPDATE SET {}", sets.join(", "))
    };
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT (workspace_id, id) DO {action}",
        names.join(", "),
        values.join(", ")
    )
}

pub(crate) fn list_to_json(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn list_from_json(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list {text:?}: {e}")))
}

fn read_directory(
    c: &Connection,
    ws: &str,
    kind: DirectoryKind,
) -> Result<Vec<DirectoryRecord>, StoreError> {
    let specs = kind.fields();
    let columns: Vec<&str> = specs.iter().map(|s| s.column).collect();
    let mut stmt = c.prepare_cached(&format!(
        "SELECT id, {} FROM {} WHERE workspace_id = ?1 ORDER BY id",
        columns.join(", "),
        kind.as_str()
    ))?;
    let mut rows = stmt.query([ws])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let value = match spec.ty {
                crate::ingest::directory::FieldType::Time => {
                    row.get::<_, Option<i64>>(i + 1)?.map(DirValue::Time)
                }
                crate::ingest::directory::FieldType::Emails
                | crate::ingest::directory::FieldType::Groups => row
                    .get::<_, Option<String>>(i + 1)?
                    .map(|t| list_from_json(&t).map(DirValue::List))
                    .transpose()?,
                _ => row.get::<_, Option<String>>(i + 1)?.map(DirValue::Text),
            };
            values.push((*spec, value));
        }
        out.push(DirectoryRecord {
            id: row.get(0)?,
            values,
        });
    }
    Ok(out)
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer thread finish what it holds and exit.
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
    }
}
