//! Analytics over a store: loads what a query needs and computes its answers and rows.

use super::rows::{Cell, MessageContext, index, message_row, table_rows};
use super::{Answers, Query, Table, reference};
use crate::ingest::directory::{DirectoryKind, DirectoryRecord};
use crate::storage::{MessageCursor, Store, StoreError};

/// The numbers for `query` in `workspace`.
///
/// # Errors
/// When the store fails.
pub async fn answers(
    store: &dyn Store,
    workspace: &str,
    query: &Query,
) -> Result<Answers, StoreError> {
    let (from, _) = query.history_grid().span();
    let (_, to) = query.grid().span();
    let events = store.activity_between(workspace, from, to).await?;
    Ok(reference::answers(query, &events))
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

/// The rows of any table but `messages`.
///
/// # Errors
/// When the store fails.
pub async fn rows(
    store: &dyn Store,
    workspace: &str,
    query: &Query,
    table: Table,
) -> Result<Vec<Vec<Cell>>, StoreError> {
    let answers = answers(store, workspace, query).await?;
    let dirs = directories(store, workspace).await?;
    Ok(table_rows(
        table,
        &answers,
        &dirs.agents,
        &dirs.members,
        &query.tz,
    ))
}

/// Rows of the `messages` table fetched a page at a time, so memory stays flat on any range.
pub struct MessagePages {
    pub workspace: String,
    pub from: i64,
    pub to: i64,
    pub cursor: Option<MessageCursor>,
    pub done: bool,
    pub dirs: Directories,
    pub tz: jiff::tz::TimeZone,
}

/// Rows fetched per page.
pub const MESSAGE_PAGE: usize = 5_000;

impl MessagePages {
    /// The next page of rows; empty when the range is exhausted.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn next(&mut self, store: &dyn Store) -> Result<Vec<Vec<Cell>>, StoreError> {
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
        let ctx = MessageContext {
            agents: index(&self.dirs.agents),
            members: index(&self.dirs.members),
            tz: self.tz.clone(),
        };
        Ok(page
            .into_iter()
            .map(|r| message_row(&r.message, r.tools, r.skills, &ctx))
            .collect())
    }
}
