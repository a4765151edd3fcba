//! Log streams in the console's settings: create, change, pause, resume, send a test event and
//! delete, through the same operations as the API, recorded in the audit log as the member's
//! actions. Config is edited as JSON, as the API takes it; secrets are never shown, and a
//! change keeps the secrets it does not name.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Map, Value};

use super::login::ClientIp;
use super::settings::{Fields, field, show};
use super::{Admin, ConsoleError, ConsoleResult, check_csrf, require_admin};
use crate::audit::own::{Actor, Origin};
use crate::model::Plan;
use crate::streams::State as StreamState;
use crate::web::AppState;
use crate::web::api::stream_actions::{set_stream_state, test_stream};
use crate::web::api::streams::{Changer, configure_stream, create_stream, delete_stream};
use crate::web::error::ApiError;

/// An enterprise workspace's admin, for stream changes.
async fn stream_admin(state: &AppState, headers: &HeaderMap, ws: &str) -> ConsoleResult<Admin> {
    let admin = require_admin(state, headers, ws).await?;
    if admin.workspace.plan != Plan::Enterprise {
        return Err(ConsoleError::Forbidden(format!(
            "Log streams send the audit log, which needs the enterprise plan; this workspace is on the {} plan.",
            admin.workspace.plan
        )));
    }
    Ok(admin)
}

fn changer(admin: &Admin, ip: &str, headers: &HeaderMap) -> Changer {
    Changer {
        actor: Actor::User {
            id: admin.user_id.clone(),
        },
        origin: Origin {
            location: Some(ip.to_string()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        },
    }
}

/// The form's `config` text as a JSON object.
fn config_of(fields: &Fields) -> Result<Value, String> {
    let text = field(fields, "config").trim();
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(config)) => Ok(Value::Object(config)),
        _ => Err(
            "Config must be a JSON object, such as {\"url\": \"https://siem.example.com/hook\", \"secret\": \"…\"}."
                .into(),
        ),
    }
}

/// What went wrong, as a sentence for the page.
fn problem(e: &ApiError) -> Option<String> {
    match e {
        ApiError::InvalidRequest { message, .. } => Some(format!("Stream not saved: {message}")),
        ApiError::NotFound(m) => Some(format!("{m}.")),
        _ => None,
    }
}

async fn answer(
    state: &AppState,
    admin: &Admin,
    result: Result<String, ApiError>,
) -> ConsoleResult<Response> {
    match result {
        Ok(message) => show(state, admin, None, Some(message), None).await,
        Err(e) => match problem(&e) {
            Some(p) => show(state, admin, None, None, Some(p)).await,
            None => Err(ConsoleError::Failed(e.to_string())),
        },
    }
}

/// `POST /w/{wId}/settings/streams`: creates a stream from `kind`, `config` (JSON) and
/// `start` (`beginning` or `now`).
pub async fn create(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> ConsoleResult<Response> {
    let admin = stream_admin(&state, &headers, &ws).await?;
    check_csrf(&admin.session, field(&fields, "csrf"))?;
    let config = match config_of(&fields) {
        Ok(c) => c,
        Err(p) => return show(&state, &admin, None, None, Some(p)).await,
    };
    let mut body = Map::new();
    body.insert("kind".into(), Value::from(field(&fields, "kind")));
    body.insert("config".into(), config);
    if field(&fields, "start") == "now" {
        body.insert("startAt".into(), Value::from("now"));
    }
    let by = changer(&admin, &ip, &headers);
    let result = create_stream(&state, &admin.workspace, by, &body)
        .await
        .map(|s| format!("Log stream {} created.", s.id));
    answer(&state, &admin, result).await
}

/// `POST /w/{wId}/settings/streams/{id}` with `action` one of `pause`, `resume`, `test`,
/// `delete` or `update` (with `config`, JSON: the fields named replace the stored ones).
pub async fn act(
    State(state): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> ConsoleResult<Response> {
    let admin = stream_admin(&state, &headers, &ws).await?;
    check_csrf(&admin.session, field(&fields, "csrf"))?;
    let by = changer(&admin, &ip, &headers);
    let wsr = &admin.workspace;
    let result = match field(&fields, "action") {
        "pause" => set_stream_state(&state, wsr, by, &id, StreamState::Paused)
            .await
            .map(|_| format!("Log stream {id} paused.")),
        "resume" => set_stream_state(&state, wsr, by, &id, StreamState::Active)
            .await
            .map(|_| format!("Log stream {id} resumed from where it stopped.")),
        "delete" => delete_stream(&state, wsr, by, &id)
            .await
            .map(|()| format!("Log stream {id} deleted.")),
        "test" => test_stream(&state, &ws, &id)
            .await
            .map(|error| match error {
                None => format!("A test event was delivered through log stream {id}."),
                Some(e) => format!("The test event through log stream {id} failed: {e}"),
            }),
        "update" => {
            let config = match config_of(&fields) {
                Ok(c) => c,
                Err(p) => return show(&state, &admin, None, None, Some(p)).await,
            };
            let body = Map::from_iter([("config".to_string(), config)]);
            configure_stream(&state, wsr, by, &id, &body)
                .await
                .map(|_| format!("Log stream {id} saved."))
        }
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "Unknown stream action {other:?}: use pause, resume, test, delete or update."
            )));
        }
    };
    answer(&state, &admin, result).await
}
