//! The detailed activity report: `/w/{wId}/analytics/report/{YYYY-MM}.zip`, one CSV per
//! analytics export table for a past calendar month in the workspace's zone. Months run from
//! the earlier of the workspace's creation and its first message (imported history counts).

use std::collections::HashMap;
use std::io::Write;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use zip::write::SimpleFileOptions;

use super::audit_trail::{action, record};
use super::login::ClientIp;
use super::sections::{attachment, zone};
use super::{ConsoleError, ConsoleResult, require_admin};
use crate::analytics::engine::Parts;
use crate::analytics::format::{csv, csv_record, csv_row};
use crate::analytics::rows::{Cell, table_rows};
use crate::analytics::service::{MessagePages, directories};
use crate::analytics::{Query as Range, Table};
use crate::model::Workspace;
use crate::privacy::Policy;
use crate::web::AppState;
use serde_json::json;

/// The first day of the first month the report offers.
///
/// # Errors
/// When the store fails or the zone is unknown.
pub async fn first_month(state: &AppState, ws: &Workspace) -> ConsoleResult<Date> {
    let tz = zone(ws)?;
    let now = jiff::Timestamp::now().as_microsecond();
    let first = state
        .store
        .message_page(&ws.id, 0, now, None, 1)
        .await?
        .first()
        .map(|r| r.message.occurred_at);
    let created = ws.created_at.as_microsecond();
    let earliest = first.map_or(created, |f| f.min(created));
    let date = crate::model::from_micros(earliest).to_zoned(tz).date();
    Ok(date.first_of_month())
}

/// The past months from `first` (newest first), as `YYYY-MM`.
pub fn months(first: Date, tz: &TimeZone) -> Vec<String> {
    let this_month = jiff::Timestamp::now()
        .to_zoned(tz.clone())
        .date()
        .first_of_month();
    months_between(first, this_month)
}

fn months_between(first: Date, this_month: Date) -> Vec<String> {
    let mut out = Vec::new();
    let mut m = first.first_of_month();
    while m < this_month {
        out.push(m.strftime("%Y-%m").to_string());
        match m.checked_add(jiff::Span::new().months(1)) {
            Ok(next) => m = next,
            Err(_) => break,
        }
    }
    out.reverse();
    out
}

/// `GET /w/{wId}/analytics/report/{YYYY-MM}.zip[?includeInactive=true]`
pub async fn download(
    State(state): State<AppState>,
    Path((ws, file)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    let policy = Policy::of(&admin.workspace, &state.config)?;
    let tz = zone(&admin.workspace)?;
    let first = first_month(&state, &admin.workspace).await?;
    let offered = months(first, &tz);
    let month = file
        .strip_suffix(".zip")
        .filter(|m| offered.iter().any(|o| o == m))
        .ok_or_else(|| {
            ConsoleError::NotFound(format!(
                "No report for {file:?}: reports cover past calendar months from {} on, named YYYY-MM.zip.",
                first.strftime("%Y-%m")
            ))
        })?;
    let start: Date = format!("{month}-01")
        .parse()
        .map_err(|e: jiff::Error| ConsoleError::BadRequest(e.to_string()))?;
    let end = start.last_of_month();
    let include_inactive = params.get("includeInactive").is_some_and(|v| v == "true");
    let range = Range::new(tz, start, end);
    let zip = build(&state, &ws, &range, include_inactive, policy).await?;
    let mut event = action("analytics.exported", &admin, &ip, &headers);
    event.metadata.insert("report_month".into(), json!(month));
    event
        .metadata
        .insert("start_date".into(), json!(start.to_string()));
    event
        .metadata
        .insert("end_date".into(), json!(end.to_string()));
    event
        .metadata
        .insert("timezone".into(), json!(admin.workspace.timezone));
    event.metadata.insert("format".into(), json!("zip"));
    event
        .metadata
        .insert("include_inactive".into(), json!(include_inactive));
    record(&state, &admin.workspace, event).await;
    let suffix = if include_inactive { "_all" } else { "" };
    let name = format!("tally_report_{month}{suffix}.zip");
    Ok(attachment(zip, &name, "application/zip"))
}

/// The ZIP's bytes: `{table}.csv` for each of the eight tables, shaped by the privacy policy;
/// under `excluded` the user-level `users.csv` is left out and `PRIVACY.txt` says why.
async fn build(
    state: &AppState,
    ws: &str,
    range: &Range,
    include_inactive: bool,
    policy: Policy,
) -> ConsoleResult<Vec<u8>> {
    let store = state.store.as_ref();
    let answers = state
        .analytics
        .answers(store, ws, range, Parts::ALL)
        .await?;
    let dirs = directories(store, ws).await?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let failed = |e: &dyn std::fmt::Display| ConsoleError::Failed(format!("zip: {e}"));
    for table in Table::ALL.iter().filter(|t| **t != Table::Messages) {
        if table.is_user_level()
            && let Err(refused) = policy.admit(&format!("{}.csv", table.name()))
        {
            zip.start_file("PRIVACY.txt", options)
                .map_err(|e| failed(&e))?;
            zip.write_all(format!("{refused}\n").as_bytes())
                .map_err(|e| failed(&e))?;
            continue;
        }
        let mut rows = table_rows(*table, &answers, &dirs.agents, &dirs.members, &range.tz);
        if !include_inactive {
            rows.retain(|r| active(*table, r));
        }
        policy.shape(table.user_columns(), &mut rows);
        zip.start_file(format!("{}.csv", table.name()), options)
            .map_err(|e| failed(&e))?;
        zip.write_all(csv(table.columns(), &rows).as_bytes())
            .map_err(|e| failed(&e))?;
    }
    zip.start_file("messages.csv", options)
        .map_err(|e| failed(&e))?;
    let mut header = String::new();
    csv_record(&mut header, Table::Messages.columns().iter().copied());
    zip.write_all(header.as_bytes()).map_err(|e| failed(&e))?;
    let mut pages = MessagePages::new(ws, range.grid().span(), &dirs, range.tz.clone(), policy);
    while !pages.done {
        let mut chunk = String::new();
        for row in pages.next(store).await? {
            csv_row(&mut chunk, &row);
        }
        zip.write_all(chunk.as_bytes()).map_err(|e| failed(&e))?;
    }
    let cursor = zip.finish().map_err(|e| failed(&e))?;
    Ok(cursor.into_inner())
}

/// Whether a `users` or `agents` row has messages (other tables list only activity).
fn active(table: Table, row: &[Cell]) -> bool {
    let column = match table {
        Table::Users => 5,
        Table::Agents => 8,
        _ => return true,
    };
    !matches!(row.get(column), Some(Cell::Int(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_past_ones_newest_first() {
        let first: Date = "2026-09-14".parse().unwrap();
        let this: Date = "2026-11-01".parse().unwrap();
        assert_eq!(months_between(first, this), vec!["2026-10", "2026-09"]);
        assert!(months_between(this, this).is_empty());
    }

    #[test]
    fn inactive_rows_are_those_without_messages() {
        let row = |n| {
            vec![Cell::Plain("u".into()); 5]
                .into_iter()
                .chain([Cell::Int(n)])
                .collect::<Vec<_>>()
        };
        assert!(!active(Table::Users, &row(0)));
        assert!(active(Table::Users, &row(3)));
        assert!(active(Table::Source, &row(0)));
    }
}
