//! Administration routes: workspace settings and API keys. Admin-role keys only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use crate::access::{Need, mint_key};
use crate::audit::own::{Actor, OwnAction, record_or_log};
use crate::ingest::fields::Fields;
use crate::model::{Privacy, Role, Scope, Workspace, check_timezone, from_micros};
use crate::storage::{ApiKey, WorkspacePatch};
use crate::web::AppState;
use crate::web::auth::{Client, require, require_workspace};
use crate::web::error::{ApiError, ApiResult};

const ADMIN: Need = Need::Role(Role::Admin);

/// A workspace's settings as the API shows them.
pub fn settings_json(w: &Workspace) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "plan": w.plan,
        "timezone": w.timezone,
        "privacy": w.privacy,
        "createdAt": w.created_at.to_string(),
    })
}

/// An API key as listings show it: never the secret.
pub fn key_json(k: &ApiKey) -> Value {
    let time = |us: Option<i64>| us.map(|us| from_micros(us).to_string());
    json!({
        "id": k.id,
        "name": k.name,
        "role": k.role,
        "scopes": k.scopes,
        "createdAt": from_micros(k.created_at).to_string(),
        "expiresAt": time(k.expires_at),
        "lastUsedAt": time(k.last_used_at),
    })
}

/// `GET /api/v1/w/{wId}/settings`
pub async fn get_settings(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    let (_, ws) = require_workspace(&state, &headers, &workspace, ADMIN).await?;
    Ok(axum::Json(settings_json(&ws)))
}

/// `PATCH /api/v1/w/{wId}/settings`
pub async fn patch_settings(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let caller = require(&state, &headers, &workspace, ADMIN).await?;
    let obj = json_object(&body)?;
    let mut errors = Vec::new();
    let mut f = Fields::new(&obj, None, &mut errors);
    if f.has("plan") {
        f.error(
            "plan",
            "is set by the operator: run `tally workspace update <wId> --plan …`",
        );
    }
    f.refuse_unknown(&["name", "timezone", "privacy", "plan"]);
    let name = f.text("name", false, 256);
    let timezone = f
        .str("timezone", false)
        .and_then(|tz| match check_timezone(tz) {
            Ok(_) => Some(tz.to_string()),
            Err(reason) => {
                f.error("timezone", reason);
                None
            }
        });
    let privacy: Option<Privacy> = f.word("privacy", false);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let patch = WorkspacePatch {
        name,
        plan: None,
        timezone,
        privacy,
    };
    let ws = state
        .store
        .update_workspace(&workspace, &patch)
        .await?
        .ok_or_else(|| ApiError::NotFound("workspace not found".into()))?;
    let mut action = OwnAction::new("settings.updated", Actor::key(&caller))
        .target("workspace", &ws.id, Some(&ws.name))
        .from(origin);
    for (field, value) in [
        ("name", patch.name.clone()),
        ("timezone", patch.timezone.clone()),
        ("privacy", patch.privacy.map(|p| p.to_string())),
    ] {
        if let Some(value) = value {
            action = action.meta(field, value);
        }
    }
    record_or_log(state.store.as_ref(), &state.config, &ws, action).await;
    Ok(axum::Json(settings_json(&ws)))
}

/// `GET /api/v1/w/{wId}/keys`
pub async fn list_keys(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Value>> {
    require(&state, &headers, &workspace, ADMIN).await?;
    let keys = state.store.keys(&workspace).await?;
    Ok(axum::Json(
        json!({"data": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /api/v1/w/{wId}/keys`
pub async fn create_key(
    State(state): State<AppState>,
    Path(workspace): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let (caller, ws) = require_workspace(&state, &headers, &workspace, ADMIN).await?;
    let obj = json_object(&body)?;
    let now = jiff::Timestamp::now().as_microsecond();
    let mut errors = Vec::new();
    let mut f = Fields::new(&obj, None, &mut errors);
    f.refuse_unknown(&["name", "role", "scopes", "expiresAt"]);
    let name = f.text("name", true, 256);
    let role: Option<Role> = f.word("role", false);
    let scopes = f.list("scopes", 3, |s| s.parse::<Scope>().err());
    let expires_at = f.instant("expiresAt", false, i64::MAX / 2);
    if expires_at.is_some_and(|at| at <= now) {
        f.error("expiresAt", "must be in the future");
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let scopes = scopes
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let name = name.unwrap_or_default();
    let minted = mint_key(
        &workspace,
        &name,
        role.unwrap_or(Role::User),
        scopes,
        expires_at,
        now,
    )
    .map_err(|e| ApiError::Internal(crate::storage::StoreError::Open(e.to_string())))?;
    state
        .store
        .create_key(&minted.key, &minted.secret_hash)
        .await?;
    let scopes: Vec<&str> = minted.key.scopes.iter().map(|s| s.as_str()).collect();
    let action = OwnAction::new("api_key.created", Actor::key(&caller))
        .target("api_key", &minted.key.id, Some(&minted.key.name))
        .meta("role", minted.key.role.as_str())
        .meta("scopes", scopes.join(","))
        .from(origin);
    record_or_log(state.store.as_ref(), &state.config, &ws, action).await;
    let mut answer = key_json(&minted.key);
    answer["secret"] = json!(minted.secret);
    if let Some(obj) = answer.as_object_mut() {
        obj.remove("lastUsedAt");
    }
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

/// `DELETE /api/v1/w/{wId}/keys/{keyId}`
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((workspace, key_id)): Path<(String, String)>,
    Client(origin): Client,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let (caller, ws) = require_workspace(&state, &headers, &workspace, ADMIN).await?;
    let now = jiff::Timestamp::now().as_microsecond();
    if state.store.revoke_key(&workspace, &key_id, now).await? {
        let action = OwnAction::new("api_key.revoked", Actor::key(&caller))
            .target("api_key", &key_id, None)
            .from(origin);
        record_or_log(state.store.as_ref(), &state.config, &ws, action).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no live API key {key_id:?} in this workspace"
        )))
    }
}

/// Parses a request body that must be one JSON object.
pub fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(ApiError::InvalidRequest {
            message: "the body must be a JSON object".into(),
            field: None,
            details: Vec::new(),
        }),
        Err(e) => Err(ApiError::InvalidRequest {
            message: format!("the body is not valid JSON: {e}"),
            field: None,
            details: Vec::new(),
        }),
    }
}
