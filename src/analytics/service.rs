//! Analytics over a store: loads what a query needs and computes its answers and rows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::rollup::Rollup;
use super::rows::{Cell, MessageContext, message_row, table_rows};
use super::{Answers, Query, Table, engine};
use crate::ingest::directory::{DirectoryKind, DirectoryRecord};
use crate::privacy::Policy;
use crate::storage::{MessageCursor, MessageRow, Store, StoreError, Window};

/// Ingest sequence numbers read per step when a rollup catches up (a batch holds at most
/// 10,000 events, so a step holds at most 160,000).
const CATCH_UP_SEQS: i64 = 16;

/// Every workspace's rollups, loaded on first use and caught up from the store's ingest
/// sequence before each answer, so answers include every event committed before the request,
/// whichever replica stored it.
#[derive(Default)]
pub struct Engine {
    rollups: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Rollup>>>>,
}

impl Engine {
    fn rollup(&self, workspace: &str) -> Arc<tokio::sync::Mutex<Rollup>> {
        let mut map = self.rollups.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(workspace.to_string()).or_default().clone()
    }

    /// The numbers for `query` in `workspace`.
    ///
    /// # Errors
    /// When the store fails; the rollup then keeps what it had applied.
    pub async fn answers(
        &self,
        store: &dyn Store,
        workspace: &str,
        query: &Query,
        parts: engine::Parts,
    ) -> Result<Answers, StoreError> {
        let cell = self.rollup(workspace);
        let mut rollup = cell.lock().await;
        catch_up(store, workspace, &mut rollup).await?;
        Ok(engine::answers_for(&rollup, query, parts))
    }

    /// Catches a workspace's rollup up in the background when it is loaded, so that the next
    /// answer does not wait for it. Rollups nobody asked for stay unloaded.
    pub fn refresh(self: &Arc<Self>, store: crate::storage::SharedStore, workspace: &str) {
        let loaded = {
            let map = self.rollups.lock().unwrap_or_else(|e| e.into_inner());
            map.get(workspace).cloned()
        };
        if let Some(cell) = loaded {
            let workspace = workspace.to_string();
            tokio::spawn(async move {
                let mut rollup = cell.lock().await;
                if let Err(e) = catch_up(store.as_ref(), &workspace, &mut rollup).await {
                    tracing::warn!(error = %e, "rollup catch-up failed; the next answer retries");
                }
            });
        }
    }

    /// Loads (or catches up) a workspace's rollup now, so that its first answer does not wait.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn warm(&self, store: &dyn Store, workspace: &str) -> Result<(), StoreError> {
        let cell = self.rollup(workspace);
        let mut rollup = cell.lock().await;
        catch_up(store, workspace, &mut rollup).await
    }

    /// Recomputes a workspace's rollup from its raw events and puts it in place of the loaded
    /// one (answers are served from the old one meanwhile); answers the ingest sequence number
    /// the new one has reached.
    ///
    /// # Errors
    /// When the store fails; the loaded rollup then stays.
    pub async fn rebuild(&self, store: &dyn Store, workspace: &str) -> Result<i64, StoreError> {
        let mut fresh = Rollup::default();
        catch_up(store, workspace, &mut fresh).await?;
        let cell = self.rollup(workspace);
        let mut rollup = cell.lock().await;
        // Events committed while the copy was built.
        catch_up(store, workspace, &mut fresh).await?;
        *rollup = fresh;
        Ok(rollup.seq)
    }

    /// Drops a workspace's rollup so the next answer rebuilds it from raw events.
    pub fn forget(&self, workspace: &str) {
        let mut map = self.rollups.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(workspace);
    }
}

/// Applies every event committed since the rollup's sequence number.
///
/// # Errors
/// When the store fails.
pub async fn catch_up(
    store: &dyn Store,
    workspace: &str,
    rollup: &mut Rollup,
) -> Result<(), StoreError> {
    let current = store.ingest_seq(workspace).await?;
    while rollup.seq < current {
        let upto = (rollup.seq + CATCH_UP_SEQS).min(current);
        let events = store
            .activity(workspace, Window::Seq(rollup.seq, upto))
            .await?;
        rollup.apply(&events);
        rollup.compact(&events);
        rollup.seq = upto;
    }
    Ok(())
}

/// The directories rows join with.
pub struct Directories {
    pub agents: Vec<DirectoryRecord>,
    pub members: Vec<DirectoryRecord>,
}

/// Loads the agents and members directories.
///
/// # Errors
/// When the store fails.
pub async fn directories(store: &dyn Store, workspace: &str) -> Result<Directories, StoreError> {
    Ok(Directories {
        agents: store.directory(workspace, DirectoryKind::Agents).await?,
        members: store.directory(workspace, DirectoryKind::Members).await?,
    })
}

/// The rows of any table but `messages`, shaped by the workspace's privacy policy (the caller
/// has admitted user-level tables with [`Policy::admit`]).
///
/// # Errors
/// When the store fails.
pub async fn rows(
    engine: &Engine,
    store: &dyn Store,
    workspace: &str,
    query: &Query,
    table: Table,
    policy: &Policy,
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let parts = engine::Parts::for_table(table);
    let answers = engine.answers(store, workspace, query, parts).await?;
    let dirs = directories(store, workspace).await?;
    let mut rows = table_rows(table, &answers, &dirs.agents, &dirs.members, &query.tz);
    policy.shape(table.user_columns(), &mut rows);
    Ok(rows)
}

/// Some rows of the `messages` table as text.
#[derive(Debug, Default)]
pub struct TextChunk {
    pub text: String,
    pub rows: usize,
    /// Marks the end of one hour's rows (never handed out by [`MessagePages::text`]).
    ends_part: bool,
}

impl TextChunk {
    /// `rows` rows written as `text`.
    pub fn of(text: String, rows: usize) -> Self {
        TextChunk {
            text,
            rows,
            ends_part: false,
        }
    }
}

/// Rows of the `messages` table fetched a page at a time, so memory stays flat on any range.
pub struct MessagePages {
    workspace: String,
    from: i64,
    to: i64,
    cursor: Option<MessageCursor>,
    /// Whether the range is exhausted.
    pub done: bool,
    ctx: Arc<MessageContext>,
    /// How user ids and emails leave.
    policy: Policy,
}

/// Rows fetched per page.
pub const MESSAGE_PAGE: usize = 5_000;

impl MessagePages {
    /// The messages of `[from, to)` in `workspace`, joined with `dirs`, times shown in `tz`.
    pub fn new(
        workspace: &str,
        (from, to): (i64, i64),
        dirs: &Directories,
        tz: jiff::tz::TimeZone,
        policy: Policy,
    ) -> Self {
        MessagePages {
            workspace: workspace.to_string(),
            from,
            to,
            cursor: None,
            done: false,
            ctx: Arc::new(MessageContext::new(&dirs.agents, &dirs.members, tz)),
            policy,
        }
    }

    /// The same table over `[from, to)` (a part of the range).
    fn part(&self, (from, to): (i64, i64)) -> Self {
        MessagePages {
            workspace: self.workspace.clone(),
            from,
            to,
            cursor: None,
            done: false,
            ctx: self.ctx.clone(),
            policy: self.policy.clone(),
        }
    }

    /// The rows as text, in order, formatted by `write` (rows of one chunk, no header) on two
    /// tasks that take alternate hours of the range, each paging through its hour, so that
    /// reading the store and formatting rows use two cores. At most `ahead` chunks wait per
    /// task. A store failure ends the stream with that error.
    pub fn text(
        self,
        store: crate::storage::SharedStore,
        ahead: usize,
        write: fn(&[Vec<Cell>]) -> String,
    ) -> tokio::sync::mpsc::Receiver<Result<TextChunk, StoreError>> {
        const HOUR_US: i64 = 3_600_000_000;
        let (sender, receiver) = tokio::sync::mpsc::channel(ahead.max(1));
        tokio::spawn(async move {
            // Hours start at the first stored message, so a range reaching far before the
            // first one costs nothing.
            let first = store
                .message_page(&self.workspace, self.from, self.to, None, 1)
                .await;
            let start = match first {
                Ok(page) => match page.first() {
                    Some(row) => row.message.occurred_at,
                    None => return,
                },
                Err(e) => {
                    let _ = sender.send(Err(e)).await;
                    return;
                }
            };
            let this = Arc::new(self);
            let mut lanes = Vec::new();
            for lane in 0..2i64 {
                let (lane_sender, lane_receiver) = tokio::sync::mpsc::channel(ahead.max(1));
                lanes.push(lane_receiver);
                let (this, store) = (this.clone(), store.clone());
                tokio::spawn(async move {
                    let mut start = start + lane * HOUR_US;
                    while start < this.to {
                        let mut pages = this.part((start, (start + HOUR_US).min(this.to)));
                        while !pages.done {
                            let chunk = pages.next(store.as_ref()).await;
                            let chunk = chunk.map(|rows| TextChunk::of(write(&rows), rows.len()));
                            let failed = chunk.is_err();
                            if lane_sender.send(chunk).await.is_err() || failed {
                                return;
                            }
                        }
                        let end = TextChunk {
                            ends_part: true,
                            ..TextChunk::default()
                        };
                        if lane_sender.send(Ok(end)).await.is_err() {
                            return;
                        }
                        start += 2 * HOUR_US;
                    }
                });
            }
            // Hours alternate between the lanes: read one lane until its hour ends, then the
            // other; a lane without hours left closes, which ends the range.
            let mut lane = 0;
            while let Some(chunk) = lanes[lane].recv().await {
                match chunk {
                    Ok(chunk) if chunk.ends_part => lane = 1 - lane,
                    other => {
                        let failed = other.is_err();
                        if sender.send(other).await.is_err() || failed {
                            return;
                        }
                    }
                }
            }
        });
        receiver
    }

    /// The next page of rows; empty when the range is exhausted.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn next(&mut self, store: &dyn Store) -> Result<Vec<Vec<Cell>>, StoreError> {
        let page = self.fetch(store).await?;
        Ok(shape(page, &self.ctx, &self.policy))
    }

    /// The next page as stored; empty when the range is exhausted.
    async fn fetch(&mut self, store: &dyn Store) -> Result<Vec<MessageRow>, StoreError> {
        if self.done {
            return Ok(Vec::new());
        }
        let page = store
            .message_page(
                &self.workspace,
                self.from,
                self.to,
                self.cursor.take(),
                MESSAGE_PAGE,
            )
            .await?;
        self.done = page.len() < MESSAGE_PAGE;
        self.cursor = page
            .last()
            .map(|r| (r.message.occurred_at, r.message.id.clone()));
        Ok(page)
    }
}

/// Stored messages as rows of the `messages` table, shaped by the privacy policy.
fn shape(page: Vec<MessageRow>, ctx: &MessageContext, policy: &Policy) -> Vec<Vec<Cell>> {
    let mut rows: Vec<Vec<Cell>> = page
        .into_iter()
        .map(|r| message_row(r.message, r.tools, r.skills, ctx))
        .collect();
    policy.shape(Table::Messages.user_columns(), &mut rows);
    rows
}
