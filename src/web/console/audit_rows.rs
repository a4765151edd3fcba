//! Audit entries as the viewer's table shows them: times in the workspace's zone, the actor,
//! targets and metadata as readable text. Pure; the template escapes every cell.

use jiff::tz::TimeZone;
use serde_json::Value;

use crate::audit::search::TimeInput;
use crate::model::from_micros;
use crate::storage::StoreError;
use crate::storage::audit::AuditEntry;

/// One entry, one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub leaf_index: u64,
    pub event_id: String,
    /// Local to the workspace's zone, with the offset: `2026-03-01 09:30:00 +01:00`.
    pub time: String,
    /// `occurredAt` as it was sent.
    pub occurred_at: String,
    pub action: String,
    pub actor_type: String,
    /// `metadata.actor_type` when it differs from the actor's type: `agent` when an AI agent
    /// acted for the actor.
    pub acting_as: Option<String>,
    pub actor_id: String,
    pub actor_name: String,
    pub actor_email: String,
    /// `type id (name)` each.
    pub targets: Vec<String>,
    pub location: String,
    pub user_agent: String,
    /// Key and value, by key.
    pub metadata: Vec<(String, String)>,
}

/// The row of a stored entry.
///
/// # Errors
/// `Corrupt` when the stored bytes are not JSON.
pub fn entry_row(entry: &AuditEntry, tz: &TimeZone) -> Result<EntryRow, StoreError> {
    let event: Value = serde_json::from_slice(&entry.canonical).map_err(|e| {
        StoreError::Corrupt(format!("audit leaf {} is not JSON: {e}", entry.leaf_index))
    })?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let actor = &event["actor"];
    let actor_type = text(&actor["type"]);
    let acting_as = event["metadata"]["actor_type"]
        .as_str()
        .filter(|kind| *kind != actor_type)
        .map(str::to_string);
    let targets = event["targets"]
        .as_array()
        .map(|targets| targets.iter().map(target_label).collect())
        .unwrap_or_default();
    let metadata = event["metadata"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), value_text(v))).collect())
        .unwrap_or_default();
    Ok(EntryRow {
        leaf_index: entry.leaf_index,
        event_id: entry.event_id.clone(),
        time: local_time(entry.occurred_at, tz, "%Y-%m-%d %H:%M:%S %:z"),
        occurred_at: text(&event["occurredAt"]),
        action: text(&event["action"]),
        actor_type,
        acting_as,
        actor_id: text(&actor["id"]),
        actor_name: text(&actor["name"]),
        actor_email: text(&actor["email"]),
        targets,
        location: text(&event["context"]["location"]),
        user_agent: text(&event["context"]["userAgent"]),
        metadata,
    })
}

/// A time parameter as a datetime-local input holds it (`YYYY-MM-DDTHH:MM:SS` in `tz`), when
/// it names an instant.
pub fn local_input(text: &str, tz: &TimeZone) -> Option<String> {
    let micros = TimeInput::LocalIn(tz).instant(text.trim())?;
    Some(local_time(micros, tz, "%Y-%m-%dT%H:%M:%S"))
}

fn local_time(micros: i64, tz: &TimeZone, format: &str) -> String {
    from_micros(micros)
        .to_zoned(tz.clone())
        .strftime(format)
        .to_string()
}

fn target_label(target: &Value) -> String {
    let part = |k: &str| target[k].as_str().unwrap_or_default();
    let mut label = format!("{} {}", part("type"), part("id"));
    if let Some(name) = target["name"].as_str() {
        label.push_str(&format!(" ({name})"));
    }
    label
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::canonical::canonical_bytes;
    use serde_json::json;

    fn entry(event: &Value, occurred_at: &str) -> AuditEntry {
        let at: jiff::Timestamp = occurred_at.parse().unwrap();
        AuditEntry {
            leaf_index: 7,
            event_id: event["id"].as_str().unwrap().into(),
            occurred_at: at.as_microsecond(),
            canonical: canonical_bytes(event).unwrap(),
            leaf_hash: [0; 32],
        }
    }

    #[test]
    fn a_row_shows_the_event_in_the_workspace_zone() {
        let event = json!({"id": "e1", "action": "agent.executed",
            "occurredAt": "2026-07-01T09:30:00+02:00",
            "actor": {"type": "user", "id": "u1", "name": "Ada", "email": "ada@example.com"},
            "targets": [{"type": "agent", "id": "a1", "name": "Helper"}, {"type": "workspace", "id": "acme"}],
            "context": {"location": "203.0.113.7", "userAgent": "Mozilla/5.0"},
            "metadata": {"actor_type": "agent", "initiating_user_id": "u1", "tokens": 12}});
        let tz = TimeZone::get("America/New_York").unwrap();
        let row = entry_row(&entry(&event, "2026-07-01T07:30:00Z"), &tz).unwrap();
        assert_eq!(row.time, "2026-07-01 03:30:00 -04:00");
        assert_eq!(row.occurred_at, "2026-07-01T09:30:00+02:00");
        assert_eq!(row.acting_as.as_deref(), Some("agent"));
        assert_eq!(row.targets, ["agent a1 (Helper)", "workspace acme"]);
        assert_eq!(
            row.metadata,
            [
                ("actor_type".to_string(), "agent".to_string()),
                ("initiating_user_id".into(), "u1".into()),
                ("tokens".into(), "12".into())
            ]
        );
        assert_eq!(row.leaf_index, 7);
    }

    #[test]
    fn a_row_without_optional_fields_has_empty_cells() {
        let event = json!({"id": "e2", "action": "directory.synced", "occurredAt": "2026-07-01T00:00:00Z",
            "actor": {"type": "system", "id": "scim"}, "targets": [], "context": {"location": "internal"},
            "metadata": {"actor_type": "system"}});
        let row = entry_row(&entry(&event, "2026-07-01T00:00:00Z"), &TimeZone::UTC).unwrap();
        assert_eq!(row.acting_as, None);
        assert_eq!((row.actor_name.as_str(), row.user_agent.as_str()), ("", ""));
        assert!(row.targets.is_empty());
    }

    #[test]
    fn time_parameters_become_datetime_local_values() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        assert_eq!(
            local_input("2026-07-01", &tz).as_deref(),
            Some("2026-07-01T00:00:00")
        );
        assert_eq!(
            local_input("2026-07-01T10:00:00Z", &tz).as_deref(),
            Some("2026-07-01T12:00:00")
        );
        assert_eq!(local_input("noon", &tz), None);
    }
}
