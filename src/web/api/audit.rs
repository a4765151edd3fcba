//! Audit log routes: ingest (scope `ingest`), and reading, proofs, checkpoints and exports
//! (scope `audit_read`). Every one needs the enterprise plan.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::access::Need;
use crate::audit::event::validate_events;
use crate::audit::export::{csv_header, csv_record, jsonl_line};
use crate::audit::log::{
    AuditError, AuditLog, b64, checkpoint_json, search_page, vkey, with_nodes,
};
use crate::audit::own::{Actor, Origin, OwnAction, record_or_log};
use crate::audit::search::{parse_filter, parse_search};
use crate::audit::signing;
use crate::ingest::{BodyFormat, MAX_BODY_BYTES, read_batch};
use crate::model::Workspace;
use crate::model::{Plan, Scope, from_micros};
use crate::storage::ApiKey;
use crate::storage::StoreError;
use crate::storage::audit::{AuditEntry, AuditFilter, AuditOrder};
use crate::web::AppState;
use crate::web::auth::Client;
use crate::web::auth::require_workspace;
use crate::web::error::{ApiError, ApiResult};

const READ: Need = Need::Scope(Scope::AuditRead);
/// Entries an export reads from the store at a time.
const EXPORT_PAGE: usize = 1_000;

type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Store(e) => ApiError::Internal(e),
            AuditError::NoCheckpoint(m) | AuditError::UnknownEvent(m) => ApiError::NotFound(m),
            AuditError::Proof(e) => ApiError::InvalidRequest {
                message: e.to_string(),
                field: None,
                details: Vec::new(),
            },
            AuditError::Note(e) => ApiError::Internal(StoreError::Open(e.to_string())),
        }
    }
}

/// Authorizes the key, checks the plan, and opens the workspace's log.
async fn open_log<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    workspace: &'a str,
    need: Need,
) -> ApiResult<AuditLog<'a>> {
    Ok(open_log_as(state, headers, workspace, need).await?.2)
}

/// Like [`open_log`], also answering the caller's key and the workspace.
async fn open_log_as<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    workspace: &'a str,
    need: Need,
) -> ApiResult<(ApiKey, Workspace, AuditLog<'a>)> {
    let (key, ws) = require_workspace(state, headers, workspace, need).await?;
    if ws.plan != Plan::Enterprise {
        return Err(ApiError::PermissionDenied(format!(
            "audit logs need the enterprise plan; this workspace is on the {} plan (the operator can change it with `tally workspace update {workspace} --plan enterprise`)",
            ws.plan
        )));
    }
    let internal = |reason: String| {
        tracing::error!(%reason, "audit signing key unavailable");
        ApiError::Internal(StoreError::Open(reason))
    };
    let seed = signing::seed(&state.config).map_err(|e| internal(e.to_string()))?;
    let signer =
        signing::signer(&state.config, seed, workspace).map_err(|e| internal(e.to_string()))?;
    Ok((
        key,
        ws,
        AuditLog::new(state.store.as_ref(), workspace, signer),
    ))
}

/// How often an API search records `audit_log.viewed` for one key at most.
const VIEW_RECORD_EVERY_MICROS: i64 = 3_600_000_000;

/// Records `audit_log.viewed` unless this key did within the hour.
async fn record_view(state: &AppState, key: &ApiKey, ws: &Workspace, origin: Origin) {
    let now = jiff::Timestamp::now().as_microsecond();
    {
        let mut seen = state.audit_views.lock().unwrap_or_else(|e| e.into_inner());
        let last = seen.entry(key.id.clone()).or_insert(i64::MIN);
        if now.saturating_sub(*last) < VIEW_RECORD_EVERY_MICROS {
            return;
        }
        *last = now;
    }
    let action = OwnAction::new("audit_log.viewed", Actor::key(key))
        .target("workspace", &ws.id, Some(&ws.name))
        .from(origin);
    record_or_log(state.store.as_ref(), &state.config, ws, action).await;
}

fn query_map(query: QueryPairs) -> ApiResult<BTreeMap<String, String>> {
    let Query(pairs) = query.map_err(|e| ApiError::InvalidRequest {
        message: format!("the query string cannot be read: {e}"),
        field: None,
        details: Vec::new(),
    })?;
    Ok(pairs.into_iter().collect())
}

fn number(query: &BTreeMap<String, String>, name: &str) -> ApiResult<Option<u64>> {
    query
        .get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::field(name, format!("{name} must be a whole number of at least 0"))
            })
        })
        .transpose()
}

fn refuse_unknown(query: &BTreeMap<String, String>, known: &[&str]) -> ApiResult<()> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(name) => Err(ApiError::field(
            name,
            format!(
                "unknown parameter {name}: known ones are {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// `POST /api/v1/w/{wId}/audit/events`
pub async fn post_events(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    let log = open_log(&state, &headers, &workspace, Need::Scope(Scope::Ingest)).await?;
    let idempotency_key = idempotency_key(&headers)?;
    let raw = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "the body is over the limit of {MAX_BODY_BYTES} bytes (10 MiB): split it into smaller batches"
        ))
    })?;
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") => true,
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => false,
        Some(_) => {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Encoding must be gzip or absent".into(),
            ));
        }
    };
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(BodyFormat::from_content_type)
        .ok_or_else(|| {
            ApiError::UnsupportedMediaType(
                "Content-Type must be application/json (a JSON array) or application/x-ndjson (one JSON object a line)".into(),
            )
        })?;
    let now = jiff::Timestamp::now().as_microsecond();
    let records = tokio::task::spawn_blocking(move || {
        read_batch(&raw, gzip, format, |items| validate_events(items, now))
    })
    .await
    .map_err(|_| ApiError::Internal(StoreError::Closed))??;
    let outcome = log.append(idempotency_key, records).await?;
    Ok(axum::Json(
        json!({"accepted": outcome.accepted, "duplicates": outcome.duplicates}),
    ))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_string()))
        }
        _ => Err(ApiError::field(
            "Idempotency-Key",
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// `GET /api/v1/w/{wId}/audit/checkpoint`
pub async fn get_checkpoint(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> ApiResult<axum::Json<Value>> {
    let log = open_log(&state, &headers, &workspace, READ).await?;
    let query = query_map(query)?;
    refuse_unknown(&query, &["treeSize"])?;
    let checkpoint = log.checkpoint(number(&query, "treeSize")?).await?;
    Ok(axum::Json(checkpoint_json(&checkpoint)))
}

/// `POST /api/v1/w/{wId}/audit/checkpoint`
pub async fn post_checkpoint(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let log = open_log(&state, &headers, &workspace, READ).await?;
    let checkpoint = log.sign_now().await?;
    Ok(axum::Json(checkpoint_json(&checkpoint)))
}

/// `GET /api/v1/w/{wId}/audit/keys`
pub async fn get_keys(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let log = open_log(&state, &headers, &workspace, READ).await?;
    log.register_key().await?;
    let keys = state.store.audit_keys(&workspace).await?;
    let time = |us: Option<i64>| us.map(|us| from_micros(us).to_string());
    let data: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "keyId": k.key_id,
                "name": k.name,
                "vkey": vkey(&k.name, &k.key_id, &k.public_key),
                "publicKey": b64(&k.public_key),
                "createdAt": time(Some(k.created_at)),
                "retiredAt": time(k.retired_at),
            })
        })
        .collect();
    Ok(axum::Json(json!({"data": data})))
}

/// `GET /api/v1/w/{wId}/audit/proofs/inclusion`
pub async fn inclusion_proof(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> ApiResult<axum::Json<Value>> {
    let log = open_log(&state, &headers, &workspace, READ).await?;
    let query = query_map(query)?;
    refuse_unknown(&query, &["leafIndex", "eventId", "treeSize"])?;
    let leaf = match (number(&query, "leafIndex")?, query.get("eventId")) {
        (Some(leaf), None) => leaf,
        (None, Some(id)) => log.leaf_of(id).await?,
        _ => {
            return Err(ApiError::field(
                "leafIndex",
                "give exactly one of leafIndex and eventId",
            ));
        }
    };
    let requested = number(&query, "treeSize")?;
    let checkpoint = log.checkpoint(requested).await?;
    let size = checkpoint.tree_size;
    if leaf >= size {
        return Err(match requested {
            Some(_) => ApiError::field(
                "leafIndex",
                format!("leaf {leaf} is not in the tree of size {size}"),
            ),
            None => ApiError::NotFound(format!(
                "leaf {leaf} is beyond the latest checkpoint (tree size {size}): sign one with POST /api/v1/w/{workspace}/audit/checkpoint"
            )),
        });
    }
    let audit_path = log.inclusion(leaf, size).await?;
    let leaf_hash = log.leaf_hash(leaf).await?;
    Ok(axum::Json(json!({
        "leafIndex": leaf,
        "treeSize": size,
        "leafHash": b64(&leaf_hash),
        "auditPath": audit_path.iter().map(b64).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/w/{wId}/audit/proofs/consistency`
pub async fn consistency_proof(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
    query: QueryPairs,
) -> ApiResult<axum::Json<Value>> {
    let log = open_log(&state, &headers, &workspace, READ).await?;
    let query = query_map(query)?;
    refuse_unknown(&query, &["first", "second"])?;
    let first =
        number(&query, "first")?.ok_or_else(|| ApiError::field("first", "first is required"))?;
    let second =
        number(&query, "second")?.ok_or_else(|| ApiError::field("second", "second is required"))?;
    if first > second {
        return Err(ApiError::field(
            "first",
            "first must not be larger than second",
        ));
    }
    let latest = log.checkpoint(None).await?;
    if second > latest.tree_size {
        return Err(ApiError::NotFound(format!(
            "tree size {second} is beyond the latest checkpoint (tree size {}): sign one with POST /api/v1/w/{workspace}/audit/checkpoint",
            latest.tree_size
        )));
    }
    let proof = log.consistency(first, second).await?;
    Ok(axum::Json(json!({
        "first": first,
        "second": second,
        "proof": proof.iter().map(b64).collect::<Vec<_>>(),
    })))
}

/// An entry's event as the API shows it.
fn event_of(entry: &AuditEntry) -> ApiResult<Value> {
    Ok(stored_event(entry)?)
}

/// `GET /api/v1/w/{wId}/audit/events`
pub async fn search(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    query: QueryPairs,
) -> ApiResult<axum::Json<Value>> {
    let (key, ws, _) = open_log_as(&state, &headers, &workspace, READ).await?;
    let params = parse_search(&query_map(query)?).map_err(ApiError::fields)?;
    record_view(&state, &key, &ws, origin).await;
    let (entries, next) = search_page(state.store.as_ref(), &workspace, &params).await?;
    let data = entries
        .iter()
        .map(|e| {
            let mut event = event_of(e)?;
            event["leafIndex"] = json!(e.leaf_index);
            Ok(event)
        })
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(axum::Json(json!({"data": data, "nextCursor": next})))
}

/// `GET /api/v1/w/{wId}/audit/export`
pub async fn export(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    query: QueryPairs,
) -> ApiResult<Response> {
    let (key, ws, log) = open_log_as(&state, &headers, &workspace, READ).await?;
    let query = query_map(query)?;
    let mut filter = parse_filter(&query, &["format"]).map_err(ApiError::fields)?;
    let format = query.get("format").map_or("csv", String::as_str);
    if matches!(format, "csv" | "jsonl") {
        let action = OwnAction::new("audit_log.exported", Actor::key(&key))
            .target("workspace", &ws.id, Some(&ws.name))
            .meta("format", format)
            .from(origin);
        record_or_log(state.store.as_ref(), &state.config, &ws, action).await;
    }
    let (head, jsonl, content_type, extension) = match query.get("format").map(String::as_str) {
        None | Some("csv") => (csv_header(), None, "text/csv; charset=utf-8", "csv"),
        Some("jsonl") => {
            let checkpoint = log.sign_now().await?;
            filter.below_leaf = Some(checkpoint.tree_size);
            let whole_log = filter.is_whole_log();
            let line = json!({"checkpoint": checkpoint_json(&checkpoint), "wholeLog": whole_log});
            let proofs_for = (!whole_log).then_some(checkpoint.tree_size);
            (
                format!("{line}\n"),
                Some(proofs_for),
                "application/x-ndjson",
                "jsonl",
            )
        }
        Some(_) => return Err(ApiError::field("format", "format must be csv or jsonl")),
    };
    let body = export_body(state.clone(), workspace.clone(), filter, head, jsonl);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{workspace}.{extension}\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The entries `filter` selects as CSV (the header row, then a record per entry in leaf order),
/// streamed a page at a time.
pub(crate) fn csv_body(state: AppState, workspace: String, filter: AuditFilter) -> Body {
    export_body(state, workspace, filter, csv_header(), None)
}

fn export_body(
    state: AppState,
    workspace: String,
    filter: AuditFilter,
    head: String,
    jsonl: Option<Option<u64>>,
) -> Body {
    let pages = ExportPages {
        state,
        workspace,
        filter,
        after: None,
        head: Some(head),
        jsonl,
    };
    let stream = futures_util::stream::unfold(pages, |mut pages| async move {
        match pages.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), pages)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "audit export failed mid-stream");
                pages.after = Some(u64::MAX);
                Some((Err(std::io::Error::other("the store failed")), pages))
            }
        }
    });
    Body::from_stream(stream)
}

/// An export in progress: the entries the filter selects, in leaf order, a page per chunk.
struct ExportPages {
    state: AppState,
    workspace: String,
    filter: AuditFilter,
    after: Option<u64>,
    /// The header row or checkpoint line, not yet sent.
    head: Option<String>,
    /// JSONL: `Some`, holding the tree size inclusion proofs are for when the export is filtered.
    jsonl: Option<Option<u64>>,
}

impl ExportPages {
    async fn next_chunk(&mut self) -> Result<Option<String>, AuditError> {
        if let Some(head) = self.head.take() {
            return Ok(Some(head));
        }
        let store = self.state.store.as_ref();
        let Some(entries) =
            next_page(store, &self.workspace, &self.filter, &mut self.after).await?
        else {
            return Ok(None);
        };
        let mut chunk = String::new();
        match self.jsonl {
            None => {
                for e in &entries {
                    chunk.push_str(&csv_record(e.leaf_index, &stored_event(e)?));
                }
            }
            Some(proofs_for) => {
                let proofs = match proofs_for {
                    Some(size) => {
                        let leaves: Vec<u64> = entries.iter().map(|e| e.leaf_index).collect();
                        let build = |src: &dyn crate::audit::merkle::NodeSource| {
                            leaves
                                .iter()
                                .map(|&leaf| crate::audit::merkle::inclusion_proof(src, leaf, size))
                                .collect::<Result<Vec<_>, _>>()
                        };
                        Some(with_nodes(store, &self.workspace, build).await?)
                    }
                    None => None,
                };
                for (i, e) in entries.iter().enumerate() {
                    let proof = proofs.as_ref().map(|p| p[i].as_slice());
                    chunk.push_str(&jsonl_line(
                        e.leaf_index,
                        &e.leaf_hash,
                        stored_event(e)?,
                        proof,
                    ));
                    chunk.push('\n');
                }
            }
        }
        Ok(Some(chunk))
    }
}

fn stored_event(entry: &AuditEntry) -> Result<Value, AuditError> {
    serde_json::from_slice(&entry.canonical).map_err(|e| {
        AuditError::Store(StoreError::Corrupt(format!(
            "audit leaf {} is not JSON: {e}",
            entry.leaf_index
        )))
    })
}

/// The next page of the entries the filter selects, in leaf order, after `after`.
async fn next_page(
    store: &dyn crate::storage::Store,
    workspace: &str,
    filter: &AuditFilter,
    after: &mut Option<u64>,
) -> Result<Option<Vec<AuditEntry>>, StoreError> {
    if *after == Some(u64::MAX) {
        return Ok(None);
    }
    let entries = store
        .audit_search(
            workspace,
            filter,
            AuditOrder::LeafOrder(*after),
            EXPORT_PAGE,
        )
        .await?;
    *after = match entries.last() {
        Some(last) if entries.len() == EXPORT_PAGE => Some(last.leaf_index),
        _ => Some(u64::MAX),
    };
    Ok((!entries.is_empty()).then_some(entries))
}
