//! Workspace settings: timezone, privacy mode and API keys (created with the secret shown
//! once, and revoked), and, for enterprise workspaces, the log streams' status, so a stopped
//! or failing stream is visible here as in the API. Every form is a POST carrying the
//! session's CSRF token.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::audit_trail::{action, record};
use super::login::ClientIp;
use super::{Admin, ConsoleError, ConsoleResult, check_csrf, render, require_admin};
use crate::access::mint_key;
use crate::model::{Privacy, Role, Scope, Workspace, check_timezone};
use crate::storage::{ApiKey, WorkspacePatch};
use crate::web::AppState;

struct KeyRow {
    id: String,
    name: String,
    role: String,
    scopes: String,
    created: String,
}

/// A log stream as the settings page lists it.
struct StreamRow {
    id: String,
    kind: String,
    destination: String,
    state: String,
    delivered: u64,
    lag: u64,
    last_error: String,
    /// The public config as JSON, for the edit form (secrets are never in it).
    config: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage<'a> {
    csrf: &'a str,
    nav_workspace: Option<&'a Workspace>,
    ws: &'a Workspace,
    privacies: Vec<&'static str>,
    roles: Vec<&'static str>,
    scopes: Vec<&'static str>,
    keys: Vec<KeyRow>,
    /// `None` below the enterprise plan, which has no audit log to stream.
    streams: Option<Vec<StreamRow>>,
    /// A key just created: (name, secret), shown once.
    created: Option<(String, String)>,
    message: Option<String>,
    problem: Option<String>,
}

pub(super) async fn show(
    state: &AppState,
    admin: &Admin,
    created: Option<(String, String)>,
    message: Option<String>,
    problem: Option<String>,
) -> ConsoleResult<Response> {
    let keys = state.store.keys(&admin.workspace.id).await?;
    let page = SettingsPage {
        csrf: &admin.session.csrf,
        nav_workspace: Some(&admin.workspace),
        ws: &admin.workspace,
        privacies: Privacy::ALL.iter().map(|p| p.as_str()).collect(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        scopes: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        keys: keys.iter().map(key_row).collect(),
        streams: stream_rows(state, &admin.workspace).await?,
        created,
        message,
        problem: problem.clone(),
    };
    let mut response = render(&page);
    if problem.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

async fn stream_rows(
    state: &AppState,
    ws: &Workspace,
) -> Result<Option<Vec<StreamRow>>, crate::storage::StoreError> {
    if ws.plan != crate::model::Plan::Enterprise {
        return Ok(None);
    }
    let size = state.store.audit_tree_size(&ws.id).await?;
    let rows = state.store.streams(&ws.id).await?.into_iter().map(|s| {
        let public = crate::streams::public_of(&s).unwrap_or_default();
        let destination = ["url", "bucket", "site"]
            .iter()
            .find_map(|k| public.get(*k).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_string();
        StreamRow {
            config: serde_json::Value::Object(public.clone()).to_string(),
            destination,
            lag: size.saturating_sub(s.cursor),
            last_error: s.last_error.unwrap_or_default(),
            id: s.id,
            kind: s.kind,
            state: s.state,
            delivered: s.delivered,
        }
    });
    Ok(Some(rows.collect()))
}

fn key_row(k: &ApiKey) -> KeyRow {
    KeyRow {
        id: k.id.clone(),
        name: k.name.clone(),
        role: k.role.to_string(),
        scopes: k
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        created: crate::model::from_micros(k.created_at).to_string(),
    }
}

/// `GET /w/{wId}/settings`
pub async fn page(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    headers: HeaderMap,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    show(&state, &admin, None, None, None).await
}

pub(super) type Fields = Vec<(String, String)>;

pub(super) fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `POST /w/{wId}/settings`: timezone and privacy.
pub async fn update(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    check_csrf(&admin.session, field(&fields, "csrf"))?;
    let timezone = field(&fields, "timezone").trim();
    if let Err(e) = check_timezone(timezone) {
        return show(&state, &admin, None, None, Some(format!("Timezone {e}"))).await;
    }
    let privacy: Privacy = match field(&fields, "privacy").parse() {
        Ok(p) => p,
        Err(e) => return show(&state, &admin, None, None, Some(format!("Privacy {e}"))).await,
    };
    let patch = WorkspacePatch {
        timezone: Some(timezone.to_string()),
        privacy: Some(privacy),
        ..WorkspacePatch::default()
    };
    let updated = state
        .store
        .update_workspace(&ws, &patch)
        .await?
        .ok_or_else(|| ConsoleError::NotFound("The workspace no longer exists.".into()))?;
    let mut event = action("settings.updated", &admin, &ip, &headers);
    event.metadata.insert("timezone".into(), json!(timezone));
    event
        .metadata
        .insert("privacy".into(), json!(privacy.as_str()));
    record(&state, &updated, event).await;
    let admin = Admin {
        workspace: updated,
        ..admin
    };
    show(&state, &admin, None, Some("Settings saved.".into()), None).await
}

/// `POST /w/{wId}/settings/keys`: creates a key and shows its secret once.
pub async fn create_key(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    check_csrf(&admin.session, field(&fields, "csrf"))?;
    let name = field(&fields, "name").trim();
    if name.is_empty() || name.chars().count() > 100 {
        let problem = "Give the key a name of 1 to 100 characters.".to_string();
        return show(&state, &admin, None, None, Some(problem)).await;
    }
    let role: Role = match field(&fields, "role").parse() {
        Ok(r) => r,
        Err(e) => return show(&state, &admin, None, None, Some(format!("Role {e}"))).await,
    };
    let mut scopes = Vec::new();
    for (_, v) in fields.iter().filter(|(k, _)| k == "scope") {
        match v.parse::<Scope>() {
            Ok(s) => scopes.push(s),
            Err(e) => return show(&state, &admin, None, None, Some(format!("Scope {e}"))).await,
        }
    }
    let now = jiff::Timestamp::now().as_microsecond();
    let minted = mint_key(&ws, name, role, scopes, None, now)
        .map_err(|e| ConsoleError::Failed(e.to_string()))?;
    state
        .store
        .create_key(&minted.key, &minted.secret_hash)
        .await?;
    let mut event = action("api_key.created", &admin, &ip, &headers);
    event
        .targets
        .push(json!({"type": "api_key", "id": minted.key.id, "name": name}));
    event.metadata.insert("role".into(), json!(role.as_str()));
    record(&state, &admin.workspace, event).await;
    let created = Some((name.to_string(), minted.secret));
    show(&state, &admin, created, None, None).await
}

/// `POST /w/{wId}/settings/keys/revoke`
pub async fn revoke_key(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    check_csrf(&admin.session, field(&fields, "csrf"))?;
    let key_id = field(&fields, "key_id");
    let now = jiff::Timestamp::now().as_microsecond();
    if !state.store.revoke_key(&ws, key_id, now).await? {
        return Err(ConsoleError::NotFound(
            "That key does not exist or was already revoked.".into(),
        ));
    }
    let mut event = action("api_key.revoked", &admin, &ip, &headers);
    event.targets.push(json!({"type": "api_key", "id": key_id}));
    record(&state, &admin.workspace, event).await;
    Ok(Redirect::to(&format!("/w/{ws}/settings")).into_response())
}
