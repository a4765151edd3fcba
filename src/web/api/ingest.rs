//! Ingest routes: activity events and directory upserts.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use crate::access::Need;
use crate::ingest::directory::{DirectoryKind, validate_records};
use crate::ingest::{BatchError, BodyFormat, MAX_BODY_BYTES, read_batch, validate_batch};
use crate::model::Scope;
use crate::storage::{IngestOutcome, UpsertOutcome};
use crate::web::AppState;
use crate::web::auth::require;
use crate::web::error::{ApiError, ApiResult};
use crate::web::metrics::Metrics;

/// `POST /api/v1/w/{wId}/events`
pub async fn post_events(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<IngestOutcome>> {
    require(&state, &headers, &workspace, Need::Scope(Scope::Ingest)).await?;
    let raw = read_body(&headers, body).await?;
    let gzip = is_gzip(&headers)?;
    let format = body_format(&headers)?;
    let now = jiff::Timestamp::now().as_microsecond();
    let parsed = tokio::task::spawn_blocking(move || {
        read_batch(&raw, gzip, format, |items| validate_batch(items, now))
    })
    .await
    .map_err(|_| ApiError::Internal(crate::storage::StoreError::Closed))?;
    let batch = parsed.inspect_err(|_| Metrics::add(&state.metrics.batches_refused, 1))?;
    let outcome = state.store.ingest(&workspace, batch).await?;
    if outcome.accepted > 0 {
        state.analytics.refresh(state.store.clone(), &workspace);
    }
    Metrics::add(&state.metrics.events_accepted, outcome.accepted);
    Metrics::add(&state.metrics.events_duplicate, outcome.duplicates);
    Ok(axum::Json(outcome))
}

/// `PUT /api/v1/w/{wId}/{directory}`
pub async fn put_directory(
    state: AppState,
    kind: DirectoryKind,
    workspace: String,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    require(&state, &headers, &workspace, Need::Scope(Scope::Ingest)).await?;
    let raw = read_body(&headers, body).await?;
    let gzip = is_gzip(&headers)?;
    let format = body_format(&headers)?;
    let now = jiff::Timestamp::now().as_microsecond();
    let records = tokio::task::spawn_blocking(move || {
        read_batch(&raw, gzip, format, |items| {
            validate_records(kind, items, now)
        })
    })
    .await
    .map_err(|_| ApiError::Internal(crate::storage::StoreError::Closed))??;
    let count = records.len() as u64;
    match state
        .store
        .upsert_directory(&workspace, kind, records)
        .await?
    {
        UpsertOutcome::Stored { created, updated } => {
            Metrics::add(&state.metrics.directory_records, count);
            Ok(axum::Json(
                json!({"accepted": count, "created": created, "updated": updated}),
            ))
        }
        UpsertOutcome::Refused(details) => Err(BatchError::Invalid(details).into()),
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> ApiResult<bytes::Bytes> {
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > MAX_BODY_BYTES
    {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the body is over the limit of {MAX_BODY_BYTES} bytes (10 MiB): split it into smaller batches"
    ))
}

fn is_gzip(headers: &HeaderMap) -> ApiResult<bool> {
    match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => Ok(false),
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") => Ok(true),
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => Ok(false),
        Some(_) => Err(ApiError::UnsupportedMediaType(
            "Content-Encoding must be gzip or absent".into(),
        )),
    }
}

fn body_format(headers: &HeaderMap) -> ApiResult<BodyFormat> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(BodyFormat::from_content_type)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "Content-Type must be application/json (a JSON array) or application/x-ndjson (one JSON object a line)".into(),
            )
        })
}
