//! Log stream routes: create, list, read, change and delete a workspace's
//! streams. Admin-role keys of enterprise workspaces only; secrets are write-only; every
//! change is recorded in the audit log (`stream.created`, `stream.updated`, ...).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::admin::json_object;
use crate::access::{Need, random_hex};
use crate::audit::own::{Actor, Origin, OwnAction, record_or_log};
use crate::model::{Plan, Role, Workspace};
use crate::storage::audit::{AuditFilter, AuditOrder};
use crate::storage::streams::StoredStream;
use crate::storage::{ApiKey, StoreError};
use crate::streams::seal::{self, SealError};
use crate::streams::status::{lag, stream_json};
use crate::streams::{Kind, State as StreamState, StoredError, config, public_of, settings_of};
use crate::web::AppState;
use crate::web::auth::{Client, require_workspace};
use crate::web::error::{ApiError, ApiResult};

const ADMIN: Need = Need::Role(Role::Admin);

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        match e {
            SealError::Secret(e) => ApiError::Secret(e),
            other => ApiError::Internal(StoreError::Corrupt(other.to_string())),
        }
    }
}

impl From<StoredError> for ApiError {
    fn from(e: StoredError) -> Self {
        match e {
            StoredError::Seal(e) => e.into(),
            StoredError::Malformed => ApiError::Internal(StoreError::Corrupt(e.to_string())),
        }
    }
}

/// Authorizes an admin key of an enterprise workspace.
pub(super) async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    workspace: &str,
) -> ApiResult<(ApiKey, Workspace)> {
    let (key, ws) = require_workspace(state, headers, workspace, ADMIN).await?;
    if ws.plan != Plan::Enterprise {
        return Err(ApiError::PermissionDenied(format!(
            "audit logs need the enterprise plan; this workspace is on the {} plan (the operator can change it with `tally workspace update {workspace} --plan enterprise`)",
            ws.plan
        )));
    }
    Ok((key, ws))
}

pub(super) async fn find(state: &AppState, workspace: &str, id: &str) -> ApiResult<StoredStream> {
    state
        .store
        .stream(workspace, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no log stream {id:?} in this workspace")))
}

/// The stream as the API shows it, with its lag.
pub(super) async fn view(state: &AppState, s: &StoredStream) -> ApiResult<Value> {
    let ws = s.workspace_id.as_str();
    let tree_size = state.store.audit_tree_size(ws).await?;
    let after = s.cursor.checked_sub(1);
    let oldest = state
        .store
        .audit_search(ws, &AuditFilter::default(), AuditOrder::LeafOrder(after), 1)
        .await?
        .first()
        .map(|e| e.occurred_at);
    let now = jiff::Timestamp::now().as_microsecond();
    Ok(stream_json(
        s,
        &public_of(s)?,
        lag(s.cursor, tree_size, oldest, now),
    ))
}

/// Who changes a stream and from where, for the audit log: an API key or a console member.
pub struct Changer {
    pub actor: Actor,
    pub origin: Origin,
}

impl Changer {
    fn key(caller: &ApiKey, origin: Origin) -> Self {
        Changer {
            actor: Actor::key(caller),
            origin,
        }
    }
}

pub(super) async fn record(
    state: &AppState,
    ws: &Workspace,
    action: &'static str,
    by: Changer,
    s: &StoredStream,
) {
    let action = OwnAction::new(action, by.actor)
        .target("log_stream", &s.id, None)
        .meta("kind", s.kind.as_str())
        .from(by.origin);
    record_or_log(state.store.as_ref(), &state.config, ws, action).await;
}

/// `GET /api/v1/w/{wId}/audit/streams`
pub async fn list(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    admin(&state, &headers, &workspace).await?;
    let mut data = Vec::new();
    for s in state.store.streams(&workspace).await? {
        data.push(view(&state, &s).await?);
    }
    Ok(axum::Json(json!({"data": data})))
}

/// `GET /api/v1/w/{wId}/audit/streams/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path((workspace, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    admin(&state, &headers, &workspace).await?;
    let s = find(&state, &workspace, &id).await?;
    Ok(axum::Json(view(&state, &s).await?))
}

/// The `config` object of a body, or a 400 naming it.
fn config_object(body: &Map<String, Value>) -> ApiResult<Option<&Map<String, Value>>> {
    match body.get("config") {
        None => Ok(None),
        Some(Value::Object(c)) => Ok(Some(c)),
        Some(_) => Err(ApiError::field("config", "config must be a JSON object")),
    }
}

fn refuse_unknown(body: &Map<String, Value>, known: &[&str]) -> ApiResult<()> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(name) => Err(ApiError::field(
            name,
            format!("unknown field {name}: known ones are {}", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// Where a new stream starts: `"now"` (the current tree size) or a leaf index (default 0).
async fn start_at(state: &AppState, workspace: &str, value: Option<&Value>) -> ApiResult<u64> {
    let size = state.store.audit_tree_size(workspace).await?;
    match value {
        None => Ok(0),
        Some(Value::String(s)) if s == "now" => Ok(size),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|leaf| leaf <= size) => {
            Ok(n.as_u64().unwrap_or(0))
        }
        Some(_) => Err(ApiError::field(
            "startAt",
            format!("startAt must be \"now\" or a leaf index from 0 to the log's size ({size})"),
        )),
    }
}

/// `POST /api/v1/w/{wId}/audit/streams`
pub async fn create(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let (caller, ws) = admin(&state, &headers, &workspace).await?;
    let body = json_object(&body)?;
    let stream = create_stream(&state, &ws, Changer::key(&caller, origin), &body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&state, &stream).await?),
    ))
}

/// Creates a stream from a request body `{"kind", "config", "startAt"?}`.
///
/// # Errors
/// 400 naming the field for bad input; the store's failures.
pub async fn create_stream(
    state: &AppState,
    ws: &Workspace,
    by: Changer,
    body: &Map<String, Value>,
) -> ApiResult<StoredStream> {
    let workspace = &ws.id;
    refuse_unknown(body, &["kind", "config", "startAt"])?;
    let kind: Kind = match body.get("kind") {
        Some(Value::String(k)) => k
            .parse()
            .map_err(|e: String| ApiError::field("kind", format!("kind {e}")))?,
        _ => {
            return Err(ApiError::field(
                "kind",
                "kind is required: one of datadog, splunk, s3, gcs, https",
            ));
        }
    };
    let raw = config_object(body)?
        .ok_or_else(|| ApiError::field("config", "config is required: a JSON object"))?;
    let settings =
        config::check(kind, raw, state.config.streams_allow_private).map_err(ApiError::fields)?;
    let cursor = start_at(state, workspace, body.get("startAt")).await?;
    let id = format!(
        "ls_{}",
        random_hex(8).map_err(|e| ApiError::Internal(StoreError::Open(e.to_string())))?
    );
    let now = jiff::Timestamp::now().as_microsecond();
    let stream = StoredStream {
        workspace_id: workspace.clone(),
        id: id.clone(),
        kind: kind.as_str().into(),
        config: Value::Object(settings.public.clone()).to_string(),
        secrets: seal::seal_map(
            &seal::key(&state.config)?,
            workspace,
            &id,
            &settings.secrets,
        )?,
        state: StreamState::Active.as_str().into(),
        cursor,
        checkpoint_cursor: cursor,
        delivered: 0,
        last_success_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    state.store.stream_create(&stream).await?;
    record(state, ws, "stream.created", by, &stream).await;
    Ok(stream)
}

/// `PATCH /api/v1/w/{wId}/audit/streams/{id}`: the config fields named replace the stored
/// ones (`null` removes an optional one); secrets not named are kept.
pub async fn patch(
    State(state): State<AppState>,
    Path((workspace, id)): Path<(String, String)>,
    Client(origin): Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let (caller, ws) = admin(&state, &headers, &workspace).await?;
    let body = json_object(&body)?;
    let s = configure_stream(&state, &ws, Changer::key(&caller, origin), &id, &body).await?;
    Ok(axum::Json(view(&state, &s).await?))
}

/// Changes a stream's config from a body `{"config": {...}}` (fields named replace the stored
/// ones, secrets not named are kept); answers the stream as it is then.
///
/// # Errors
/// 400 naming the field, 404 for an unknown stream, the store's failures.
pub async fn configure_stream(
    state: &AppState,
    ws: &Workspace,
    by: Changer,
    id: &str,
    body: &Map<String, Value>,
) -> ApiResult<StoredStream> {
    let workspace = &ws.id;
    refuse_unknown(body, &["kind", "config"])?;
    let s = find(state, workspace, id).await?;
    if body
        .get("kind")
        .is_some_and(|k| k.as_str() != Some(s.kind.as_str()))
    {
        return Err(ApiError::field(
            "kind",
            "kind cannot change: create another stream",
        ));
    }
    let kind: Kind = s
        .kind
        .parse()
        .map_err(|e: String| ApiError::Internal(StoreError::Corrupt(e)))?;
    let key = seal::key(&state.config)?;
    if let Some(changes) = config_object(body)? {
        let merged = config::overlay(&settings_of(&s, &key)?, changes);
        let settings = config::check(kind, &merged, state.config.streams_allow_private)
            .map_err(ApiError::fields)?;
        let public = Value::Object(settings.public).to_string();
        let sealed = seal::seal_map(&key, workspace, id, &settings.secrets)?;
        let now = jiff::Timestamp::now().as_microsecond();
        if !state
            .store
            .stream_configure(workspace, id, &public, &sealed, now)
            .await?
        {
            return Err(ApiError::NotFound(format!(
                "no log stream {id:?} in this workspace"
            )));
        }
        record(state, ws, "stream.updated", by, &s).await;
    }
    find(state, workspace, id).await
}

/// `DELETE /api/v1/w/{wId}/audit/streams/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Path((workspace, id)): Path<(String, String)>,
    Client(origin): Client,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let (caller, ws) = admin(&state, &headers, &workspace).await?;
    delete_stream(&state, &ws, Changer::key(&caller, origin), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a stream.
///
/// # Errors
/// 404 for an unknown stream, the store's failures.
pub async fn delete_stream(
    state: &AppState,
    ws: &Workspace,
    by: Changer,
    id: &str,
) -> ApiResult<()> {
    let s = find(state, &ws.id, id).await?;
    if !state.store.stream_delete(&ws.id, id).await? {
        return Err(ApiError::NotFound(format!(
            "no log stream {id:?} in this workspace"
        )));
    }
    record(state, ws, "stream.deleted", by, &s).await;
    Ok(())
}
