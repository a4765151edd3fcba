//! Bearer API keys on API routes.

use axum::http::{HeaderMap, header};

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::access::{Need, authorize, hash_secret};
use crate::model::{Workspace, is_valid_workspace_id};
use crate::storage::ApiKey;

/// How often a key's `lastUsedAt` is written at most.
const TOUCH_EVERY_MICROS: i64 = 60_000_000;

/// Authenticates the request's key and checks it may act on `workspace` with `need`.
///
/// # Errors
/// 401 without a valid key, 404 for another or unknown workspace, 403 without the role or scope.
pub async fn require(
    state: &AppState,
    headers: &HeaderMap,
    workspace: &str,
    need: Need,
) -> ApiResult<ApiKey> {
    let key = bearer_key(state, headers).await?;
    authorized(state, key, workspace, need)
}

/// The stored key the request's Bearer secret stands for.
async fn bearer_key(state: &AppState, headers: &HeaderMap) -> ApiResult<ApiKey> {
    let secret = bearer(headers)?;
    state
        .store
        .key_by_hash(&hash_secret(secret))
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("unknown API key".into()))
}

/// Checks `key` may act on `workspace` with `need`, and notes its use.
fn authorized(state: &AppState, key: ApiKey, workspace: &str, need: Need) -> ApiResult<ApiKey> {
    if !is_valid_workspace_id(workspace) {
        return Err(ApiError::NotFound("workspace not found".into()));
    }
    let now = jiff::Timestamp::now().as_microsecond();
    authorize(&key, workspace, need, now)?;
    if key
        .last_used_at
        .is_none_or(|at| now - at > TOUCH_EVERY_MICROS)
    {
        let (store, ws, id) = (
            state.store.clone(),
            key.workspace_id.clone(),
            key.id.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = store.touch_key(&ws, &id, now).await {
                tracing::warn!(error = %e, "could not record key use");
            }
        });
    }
    Ok(key)
}

/// Authenticates a key for a route whose workspace is the key's own (the usage export), then
/// loads that workspace.
///
/// # Errors
/// 401 without a valid key, 403 without the role or scope, 404 when the workspace is gone.
pub async fn require_key_workspace(
    state: &AppState,
    headers: &HeaderMap,
    need: Need,
) -> ApiResult<(ApiKey, Workspace)> {
    let key = bearer_key(state, headers).await?;
    let workspace = key.workspace_id.clone();
    let key = authorized(state, key, &workspace, need)?;
    let ws = state
        .store
        .workspace(&workspace)
        .await?
        .ok_or_else(|| ApiError::NotFound("workspace not found".into()))?;
    Ok((key, ws))
}

/// Like [`require`], then loads the workspace.
///
/// # Errors
/// As [`require`], and 404 when the workspace no longer exists.
pub async fn require_workspace(
    state: &AppState,
    headers: &HeaderMap,
    workspace: &str,
    need: Need,
) -> ApiResult<(ApiKey, Workspace)> {
    let key = require(state, headers, workspace, need).await?;
    let ws = state
        .store
        .workspace(workspace)
        .await?
        .ok_or_else(|| ApiError::NotFound("workspace not found".into()))?;
    Ok((key, ws))
}

fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthenticated(
            "missing Authorization header: send `Authorization: Bearer <API key>`".into(),
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthenticated("the Authorization header must be `Bearer <API key>`".into())
        })
}

/// Where a request came from, for the audit log: the peer address and the user agent.
pub struct Client(pub crate::audit::own::Origin);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let location = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Client(crate::audit::own::Origin {
            location,
            user_agent,
        }))
    }
}
