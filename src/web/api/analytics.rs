//! The Dust-compatible analytics export.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::access::Need;
use crate::analytics::format::{csv, csv_record, csv_rows, json_row};
use crate::analytics::params::{ExportParams, Format, parse};
use crate::analytics::service::{self, MessagePages, TextChunk};
use crate::analytics::{Query as Range, Table};
use crate::audit::own::{Actor, OwnAction, record_or_log};
use crate::model::Role;
use crate::privacy::Policy;
use crate::web::AppState;
use crate::web::auth::{Client, require_workspace};
use crate::web::error::{ApiError, ApiResult};

/// `GET /api/v1/w/{wId}/analytics/export`
pub async fn export(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Response> {
    let (caller, ws) =
        require_workspace(&state, &headers, &workspace, Need::Role(Role::Builder)).await?;
    let Query(pairs) = query.map_err(|e| ApiError::InvalidRequest {
        message: format!("the query string cannot be read: {e}"),
        field: None,
        details: Vec::new(),
    })?;
    let params = parse(&pairs).map_err(ApiError::fields)?;
    let policy = Policy::of(&ws, &state.config)?;
    if params.table.is_user_level() {
        policy.admit(&format!("the {} table", params.table.name()))?;
    }
    let range = Range::new(params.tz.clone(), params.start, params.end);
    let action = OwnAction::new("analytics.exported", Actor::key(&caller))
        .target("workspace", &ws.id, Some(&ws.name))
        .meta("table", params.table.name())
        .meta("start_date", params.start.to_string())
        .meta("end_date", params.end.to_string())
        .meta("timezone", params.timezone.clone())
        .meta(
            "format",
            if params.format == Format::Csv {
                "csv"
            } else {
                "json"
            },
        )
        .from(origin);
    record_or_log(state.store.as_ref(), &state.config, &ws, action).await;
    if params.table == Table::Messages {
        return messages(state, workspace, &params, &range, policy).await;
    }
    let rows = service::rows(
        &state.analytics,
        state.store.as_ref(),
        &workspace,
        &range,
        params.table,
        &policy,
    )
    .await?;
    let columns = params.table.columns();
    let body = match params.format {
        Format::Csv => csv(columns, &rows),
        Format::Json => {
            let values: Vec<_> = rows.iter().map(|r| json_row(columns, r)).collect();
            serde_json::Value::Array(values).to_string()
        }
    };
    Ok(with_headers(Body::from(body), &params))
}

/// `POST /api/v1/w/{wId}/analytics/rebuild`: recomputes the workspace's rollups from its raw
/// events on this server (after raw events were changed in the store by hand, for instance).
pub async fn rebuild(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let (caller, ws) =
        require_workspace(&state, &headers, &workspace, Need::Role(Role::Admin)).await?;
    let started = std::time::Instant::now();
    let seq = state
        .analytics
        .rebuild(state.store.as_ref(), &ws.id)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let action = OwnAction::new("analytics.rebuilt", Actor::key(&caller))
        .target("workspace", &ws.id, Some(&ws.name))
        .meta("ingest_seq", seq)
        .from(origin);
    record_or_log(state.store.as_ref(), &state.config, &ws, action).await;
    Ok(axum::Json(
        serde_json::json!({"workspace": ws.id, "ingestSeq": seq, "seconds": seconds}),
    ))
}

fn with_headers(body: Body, params: &ExportParams) -> Response {
    let mut response = body.into_response();
    let (content_type, extension) = match params.format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let name = format!(
        "attachment; filename=\"{}_{}_{}.{extension}\"",
        params.table.name(),
        params.start,
        params.end
    );
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// Streams the `messages` table: two tasks read and format alternate hours of the range while
/// the text already made is sent.
async fn messages(
    state: AppState,
    workspace: String,
    params: &ExportParams,
    range: &Range,
    policy: Policy,
) -> ApiResult<Response> {
    let dirs = service::directories(state.store.as_ref(), &workspace).await?;
    let pages = MessagePages::new(
        &workspace,
        range.grid().span(),
        &dirs,
        params.tz.clone(),
        policy,
    );
    let format = params.format;
    let write = match format {
        Format::Csv => csv_rows,
        Format::Json => json_rows,
    };
    let chunks = pages.text(state.store.clone(), 2, write);
    // State: the chunks, whether nothing was sent yet, whether a row was, whether it ended.
    let stream = futures_util::stream::unfold(
        (chunks, true, false, false),
        move |(mut chunks, first, any, ended)| async move {
            if ended {
                return None;
            }
            let (chunk, last) = match chunks.recv().await {
                Some(Ok(chunk)) => (chunk, false),
                None => (TextChunk::default(), true),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "messages export failed mid-stream");
                    let failed = Err(std::io::Error::other("the store failed"));
                    return Some((failed, (chunks, false, any, true)));
                }
            };
            let text = chunk_text(format, &chunk, first, any, last);
            let any = any || chunk.rows > 0;
            Some((Ok::<_, std::io::Error>(text), (chunks, false, any, last)))
        },
    );
    Ok(with_headers(Body::from_stream(stream), params))
}

/// Rows as JSON objects separated by commas.
fn json_rows(rows: &[Vec<crate::analytics::rows::Cell>]) -> String {
    let columns = Table::Messages.columns();
    let mut text = String::with_capacity(rows.len() * 400);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&json_row(columns, row).to_string());
    }
    text
}

/// One chunk of the `messages` table as sent: the CSV header or the JSON opening bracket with
/// the first, a comma before JSON rows when a row was sent before (`any`), the closing bracket
/// with the last.
fn chunk_text(format: Format, chunk: &TextChunk, first: bool, any: bool, last: bool) -> String {
    let mut text = String::with_capacity(chunk.text.len() + 256);
    match format {
        Format::Csv => {
            if first {
                csv_record(&mut text, Table::Messages.columns().iter().copied());
            }
            text.push_str(&chunk.text);
        }
        Format::Json => {
            if first {
                text.push('[');
            }
            if any && chunk.rows > 0 {
                text.push(',');
            }
            text.push_str(&chunk.text);
            if last {
                text.push(']');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::rows::Cell;

    fn row(id: &str) -> Vec<Cell> {
        let mut row = vec![Cell::Null; Table::Messages.columns().len()];
        row[0] = Cell::Plain(id.into());
        row
    }

    /// Pages as the stream sends them: `(rows, last)` in order.
    fn streamed(format: Format, pages: &[(Vec<Vec<Cell>>, bool)]) -> String {
        let (mut out, mut first, mut any) = (String::new(), true, false);
        let write = match format {
            Format::Csv => csv_rows,
            Format::Json => json_rows,
        };
        for (rows, last) in pages {
            let chunk = TextChunk::of(write(rows), rows.len());
            out.push_str(&chunk_text(format, &chunk, first, any, *last));
            first = false;
            any = any || !rows.is_empty();
        }
        out
    }

    #[test]
    fn json_pages_join_into_one_array_whatever_their_sizes() {
        let pages = [
            (vec![row("a"), row("b")], false),
            (vec![], false),
            (vec![row("c")], false),
            (vec![], true),
        ];
        let json: serde_json::Value =
            serde_json::from_str(&streamed(Format::Json, &pages)).unwrap();
        let ids: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["messageId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let empty = streamed(Format::Json, &[(vec![], false), (vec![], true)]);
        assert_eq!(empty, "[]");
        let csv = streamed(
            Format::Csv,
            &[
                (vec![row("a")], false),
                (vec![row("b")], false),
                (vec![], true),
            ],
        );
        assert_eq!(csv.lines().count(), 3, "one header, two rows");
    }
}
