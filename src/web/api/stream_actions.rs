//! Log stream actions: pause, resume (from the cursor, the last error cleared) and test (one
//! record sent now). Admin-role keys of enterprise workspaces only; pausing and resuming are
//! recorded in the audit log.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::streams::{Changer, admin, find, record, view};
use crate::audit::own::Actor;
use crate::audit::own::Origin;
use crate::model::Workspace;
use crate::storage::StoreError;
use crate::storage::streams::StoredStream;
use crate::streams::probe::send_test;
use crate::streams::seal;
use crate::streams::{Kind, State as StreamState, config, settings_of};
use crate::web::AppState;
use crate::web::auth::Client;
use crate::web::error::{ApiError, ApiResult};

async fn set_state(
    state: AppState,
    workspace: String,
    id: String,
    origin: Origin,
    headers: HeaderMap,
    to: StreamState,
) -> ApiResult<axum::Json<Value>> {
    let (caller, ws) = admin(&state, &headers, &workspace).await?;
    let by = Changer {
        actor: Actor::key(&caller),
        origin,
    };
    let s = set_stream_state(&state, &ws, by, &id, to).await?;
    Ok(axum::Json(view(&state, &s).await?))
}

/// Pauses a stream, or resumes it from its cursor with the last error cleared.
///
/// # Errors
/// 404 for an unknown stream, the store's failures.
pub async fn set_stream_state(
    state: &AppState,
    ws: &Workspace,
    by: Changer,
    id: &str,
    to: StreamState,
) -> ApiResult<StoredStream> {
    let now = jiff::Timestamp::now().as_microsecond();
    let resume = to == StreamState::Active;
    if !state
        .store
        .stream_set_state(&ws.id, id, to.as_str(), resume, now)
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "no log stream {id:?} in this workspace"
        )));
    }
    let s = find(state, &ws.id, id).await?;
    let action = if resume {
        "stream.resumed"
    } else {
        "stream.paused"
    };
    record(state, ws, action, by, &s).await;
    Ok(s)
}

/// `POST /api/v1/w/{wId}/audit/streams/{id}/pause`
pub async fn pause(
    State(state): State<AppState>,
    Path((workspace, id)): Path<(String, String)>,
    Client(origin): Client,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    set_state(state, workspace, id, origin, headers, StreamState::Paused).await
}

/// `POST /api/v1/w/{wId}/audit/streams/{id}/resume`: back to delivering from the cursor, the
/// last error cleared.
pub async fn resume(
    State(state): State<AppState>,
    Path((workspace, id)): Path<(String, String)>,
    Client(origin): Client,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    set_state(state, workspace, id, origin, headers, StreamState::Active).await
}

/// `POST /api/v1/w/{wId}/audit/streams/{id}/test`: sends one test record now.
pub async fn test(
    State(state): State<AppState>,
    Path((workspace, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    admin(&state, &headers, &workspace).await?;
    let error = test_stream(&state, &workspace, &id).await?;
    Ok(axum::Json(
        json!({"delivered": error.is_none(), "error": error}),
    ))
}

/// Sends one test record through a stream now; answers the error, if any.
///
/// # Errors
/// 404 for an unknown stream, the store's failures.
pub async fn test_stream(state: &AppState, workspace: &str, id: &str) -> ApiResult<Option<String>> {
    let s = find(state, workspace, id).await?;
    let kind: Kind = s
        .kind
        .parse()
        .map_err(|e: String| ApiError::Internal(StoreError::Corrupt(e)))?;
    let stored = settings_of(&s, &seal::key(&state.config)?)?;
    Ok(
        match config::check(kind, &stored.merged(), state.config.streams_allow_private) {
            Ok(settings) => send_test(&s, &settings, state.config.streams_allow_private).await,
            Err(errors) => Some(format!(
                "the stream's settings are refused: {}",
                errors[0].field
            )),
        },
    )
}
