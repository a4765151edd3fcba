//! A usage export over a store: the directories, then the range's events a day at a time folded
//! into counters (memory holds the counters, never the range's events), then the rows.

use std::collections::HashSet;

use super::DataType;
use super::count::Counter;
use super::range::UsageRange;
use super::rows::{UsageDirectories, has_data, rows};
use crate::analytics::days::DayGrid;
use crate::analytics::rows::Cell;
use crate::ingest::directory::DirectoryKind;
use crate::storage::{Store, StoreError, Window};

/// The span of events read at a time: three hours, a few tens of thousands of events on a
/// busy workspace.
const CHUNK_MICROS: i64 = 3 * 3_600_000_000;

/// A computed export.
#[derive(Debug)]
pub struct UsageRows {
    /// `None` when the range holds no activity of the kind the data type counts.
    pub rows: Option<Vec<Vec<Cell>>>,
}

/// Loads the directories a usage export joins with.
///
/// # Errors
/// When the store fails.
pub async fn directories(
    store: &dyn Store,
    workspace: &str,
) -> Result<UsageDirectories, StoreError> {
    Ok(UsageDirectories {
        members: store.directory(workspace, DirectoryKind::Members).await?,
        agents: store.directory(workspace, DirectoryKind::Agents).await?,
        projects: store.directory(workspace, DirectoryKind::Projects).await?,
        workflows: store.directory(workspace, DirectoryKind::Workflows).await?,
        models: store.directory(workspace, DirectoryKind::Models).await?,
    })
}

/// Counts the range's events.
///
/// # Errors
/// When the store fails.
pub async fn count(
    store: &dyn Store,
    workspace: &str,
    range: &UsageRange,
    dirs: &UsageDirectories,
) -> Result<Counter, StoreError> {
    let global: HashSet<String> = dirs
        .agents
        .iter()
        .filter(|a| a.text("settings") == Some("global"))
        .map(|a| a.id.clone())
        .collect();
    let days = DayGrid::new(&range.from_tz, range.from_date, range.to_date);
    let mut counter = Counter::new(days, global);
    let mut at = range.start;
    while at < range.end {
        let next = (at + CHUNK_MICROS).min(range.end);
        let events = store.activity(workspace, Window::Time(at, next)).await?;
        counter.add(&events);
        at = next;
    }
    Ok(counter)
}

/// The rows of one data type over a range, unshaped by privacy.
///
/// # Errors
/// When the store fails.
pub async fn export(
    store: &dyn Store,
    workspace: &str,
    range: &UsageRange,
    data: DataType,
) -> Result<UsageRows, StoreError> {
    let dirs = directories(store, workspace).await?;
    let counter = count(store, workspace, range, &dirs).await?;
    if !has_data(data, &counter) {
        return Ok(UsageRows { rows: None });
    }
    Ok(UsageRows {
        rows: Some(rows(data, &counter, &dirs, range, workspace)),
    })
}
