//! tally's own significant actions in the audit log: API keys created and revoked, settings
//! changed, exports made, the log viewed. Recorded only for workspaces that have audit logs
//! (the enterprise plan). A failure to record is logged loudly but does not undo the action,
//! which has already happened.

use serde_json::{Map, Value, json};

use super::event::validate_event;
use super::log::{AuditError, AuditLog};
use super::signing;
use crate::config::Config;
use crate::model::{Plan, Workspace};
use crate::storage::{ApiKey, Store};

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A request made with this API key.
    Key { id: String, name: String },
    /// The operator's command line or tally itself.
    System(&'static str),
    /// A member acting in the console, by id.
    User { id: String },
}

/// Where the request came from: a client address, or `internal`.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub location: Option<String>,
    pub user_agent: Option<String>,
}

/// One of tally's own actions.
#[derive(Debug, Clone)]
pub struct OwnAction {
    pub action: &'static str,
    pub actor: Actor,
    /// (type, id, name)
    pub targets: Vec<(&'static str, String, Option<String>)>,
    pub origin: Origin,
    /// Flat string, number or boolean values.
    pub metadata: Map<String, Value>,
}

impl OwnAction {
    pub fn new(action: &'static str, actor: Actor) -> Self {
        OwnAction {
            action,
            actor,
            targets: Vec::new(),
            origin: Origin::default(),
            metadata: Map::new(),
        }
    }

    pub fn target(mut self, kind: &'static str, id: &str, name: Option<&str>) -> Self {
        self.targets
            .push((kind, id.to_string(), name.map(str::to_string)));
        self
    }

    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    pub fn from(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }
}

impl Actor {
    pub fn key(key: &ApiKey) -> Actor {
        Actor::Key {
            id: key.id.clone(),
            name: key.name.clone(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Actor::Key { id, name } => json!({"type": "api_key", "id": id, "name": name}),
            Actor::System(id) => json!({"type": "system", "id": id, "name": "tally"}),
            Actor::User { id } => json!({"type": "user", "id": id}),
        }
    }
}

/// The event as the audit log's wire format has it.
fn event(action: &OwnAction, id: &str, now: jiff::Timestamp) -> Value {
    let targets: Vec<Value> = action
        .targets
        .iter()
        .map(|(kind, id, name)| {
            let mut t = json!({"type": kind, "id": id});
            if let Some(name) = name {
                t["name"] = json!(name);
            }
            t
        })
        .collect();
    let location = action.origin.location.as_deref().unwrap_or("internal");
    let mut context = json!({"location": location});
    if let Some(agent) = &action.origin.user_agent {
        context["userAgent"] = json!(agent.chars().take(500).collect::<String>());
    }
    json!({
        "id": id,
        "action": action.action,
        "occurredAt": now.to_string(),
        "actor": action.actor.json(),
        "targets": targets,
        "context": context,
        "metadata": Value::Object(action.metadata.clone()),
    })
}

/// Appends `action` to the workspace's audit log when the workspace has one.
///
/// # Errors
/// When the event cannot be built, signed or stored.
pub async fn record(
    store: &dyn Store,
    config: &Config,
    workspace: &Workspace,
    action: OwnAction,
) -> Result<(), AuditError> {
    if workspace.plan != Plan::Enterprise {
        return Ok(());
    }
    let id = format!(
        "tally_{}",
        crate::access::random_hex(12).unwrap_or_default()
    );
    let now = jiff::Timestamp::now();
    let mut problems = Vec::new();
    let record = validate_event(
        &event(&action, &id, now),
        None,
        now.as_microsecond(),
        &mut problems,
    )
    .ok_or_else(|| {
        AuditError::NoCheckpoint(format!(
            "own event {} is invalid: {problems:?}",
            action.action
        ))
    })?;
    let seed = signing::seed(config).map_err(|e| AuditError::NoCheckpoint(e.to_string()))?;
    let signer = signing::signer(config, seed, &workspace.id)?;
    AuditLog::new(store, &workspace.id, signer)
        .append(None, vec![record])
        .await?;
    Ok(())
}

/// Like [`record`], logging instead of failing: the action it describes has happened.
pub async fn record_or_log(
    store: &dyn Store,
    config: &Config,
    workspace: &Workspace,
    action: OwnAction,
) {
    let name = action.action;
    if let Err(e) = record(store, config, workspace, action).await {
        tracing::error!(action = name, workspace = %workspace.id, error = %e, "could not record an own action in the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_events_pass_the_audit_validation() {
        let action = OwnAction::new(
            "api_key.created",
            Actor::Key {
                id: "key_1".into(),
                name: "ci".into(),
            },
        )
        .target("api_key", "key_2", Some("=exporter"))
        .meta("role", "builder")
        .meta("rows", 3)
        .from(Origin {
            location: Some("203.0.113.7".into()),
            user_agent: Some("curl/8".into()),
        });
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let mut problems = Vec::new();
        let record = validate_event(
            &event(&action, "tally_1", now),
            None,
            now.as_microsecond() + 1,
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let record = record.unwrap();
        assert_eq!(record.action, "api_key.created");
        assert_eq!(record.actor_type, "api_key");
        let system = OwnAction::new("settings.updated", Actor::System("tally-cli"));
        let record = validate_event(
            &event(&system, "tally_2", now),
            None,
            now.as_microsecond() + 1,
            &mut problems,
        )
        .unwrap();
        assert_eq!(record.actor_kind, "system");
        assert!(
            String::from_utf8(record.canonical)
                .unwrap()
                .contains("\"location\":\"internal\"")
        );
    }
}
