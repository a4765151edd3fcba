//! The console's own actions in the audit log (logins, failed logins, keys, settings) of each
//! workspace concerned that has audit logs (the enterprise plan). Events name the member by
//! id, never by email or name. A failure to record is logged and does not undo the action.

use serde_json::{Map, Value, json};

use crate::audit::event::validate_event;
use crate::audit::log::AuditLog;
use crate::audit::signing;
use crate::model::{Plan, Workspace};
use crate::web::AppState;
use axum::http::{HeaderMap, header};

use super::Admin;

/// One console action to record.
pub struct ConsoleAction<'a> {
    pub action: &'static str,
    /// The member's id.
    pub user_id: &'a str,
    pub location: &'a str,
    pub user_agent: Option<&'a str>,
    pub targets: Vec<Value>,
    pub metadata: Map<String, Value>,
}

/// An action of `admin` in their workspace, from the request's address and user agent.
pub fn action<'a>(
    name: &'static str,
    admin: &'a Admin,
    ip: &'a str,
    headers: &'a HeaderMap,
) -> ConsoleAction<'a> {
    ConsoleAction {
        action: name,
        user_id: &admin.user_id,
        location: ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        targets: vec![json!({"type": "workspace", "id": admin.workspace.id})],
        metadata: Map::new(),
    }
}

/// Records `action` in `workspace`'s log when its plan has audit logs.
pub async fn record(state: &AppState, workspace: &Workspace, action: ConsoleAction<'_>) {
    if workspace.plan != Plan::Enterprise {
        return;
    }
    if let Err(e) = append(state, &workspace.id, action).await {
        tracing::error!(error = %e, "the console could not record its action in the audit log");
    }
}

async fn append(state: &AppState, workspace: &str, a: ConsoleAction<'_>) -> Result<(), String> {
    let now = jiff::Timestamp::now();
    let id = crate::access::random_hex(12).map_err(|e| e.to_string())?;
    let mut context = json!({"location": a.location});
    if let Some(agent) = a.user_agent {
        let agent: String = agent.chars().take(500).collect();
        context["userAgent"] = json!(agent);
    }
    let event = json!({
        "id": format!("console_{id}"),
        "action": a.action,
        "occurredAt": now.to_string(),
        "actor": {"type": "user", "id": a.user_id},
        "targets": a.targets,
        "context": context,
        "metadata": a.metadata,
    });
    let mut errors = Vec::new();
    let record = validate_event(&event, None, now.as_microsecond(), &mut errors)
        .ok_or_else(|| format!("{errors:?}"))?;
    let seed = signing::seed(&state.config).map_err(|e| e.to_string())?;
    let signer = signing::signer(&state.config, seed, workspace).map_err(|e| e.to_string())?;
    AuditLog::new(state.store.as_ref(), workspace, signer)
        .append(None, vec![record])
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
