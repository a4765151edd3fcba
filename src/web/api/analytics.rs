//! The Dust-compatible analytics export.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::access::Need;
use crate::analytics::format::{csv, csv_record, csv_row, json_row};
use crate::analytics::params::{ExportParams, Format, parse};
use crate::analytics::service::{self, MessagePages};
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

/// Streams the `messages` table page by page.
async fn messages(
    state: AppState,
    workspace: String,
    params: &ExportParams,
    range: &Range,
    policy: Policy,
) -> ApiResult<Response> {
    let (from, to) = range.grid().span();
    let dirs = service::directories(state.store.as_ref(), &workspace).await?;
    let pages = MessagePages {
        workspace,
        from,
        to,
        cursor: None,
        done: false,
        dirs,
        tz: params.tz.clone(),
        policy,
    };
    let format = params.format;
    let columns = Table::Messages.columns();
    let stream = futures_util::stream::unfold(
        (pages, state, true),
        move |(mut pages, state, first)| async move {
            if pages.done && !first {
                return None;
            }
            let mut chunk = String::new();
            let rows = match pages.next(state.store.as_ref()).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "messages export failed mid-stream");
                    return Some((
                        Err(std::io::Error::other("the store failed")),
                        (pages, state, false),
                    ));
                }
            };
            match format {
                Format::Csv => {
                    if first {
                        csv_record(&mut chunk, columns.iter().copied());
                    }
                    for row in &rows {
                        csv_row(&mut chunk, row);
                    }
                }
                Format::Json => {
                    if first {
                        chunk.push('[');
                    }
                    for (i, row) in rows.iter().enumerate() {
                        if i > 0 || (!first && !rows.is_empty()) {
                            chunk.push(',');
                        }
                        chunk.push_str(&json_row(columns, row).to_string());
                    }
                    if pages.done {
                        chunk.push(']');
                    }
                }
            }
            Some((Ok::<_, std::io::Error>(chunk), (pages, state, false)))
        },
    );
    Ok(with_headers(Body::from_stream(stream), params))
}
