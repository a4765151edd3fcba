//! Audit events on the way in: field-by-field validation of the wire format (every problem of
//! a batch collected at once), `metadata.actor_type` filled when absent, and the record a store
//! keeps: the RFC 8785 canonical bytes, their leaf hash, and the columns search filters on.
//! Pure: no I/O.

use serde_json::{Map, Value};

use super::canonical::{MAX_SAFE_MAGNITUDE, canonical_bytes};
use super::merkle::{Hash, leaf_hash};
use crate::ingest::FieldError;
use crate::ingest::fields::{Fields, email_problem};

/// Most bytes one event may hold as received (compact JSON).
pub const MAX_EVENT_BYTES: usize = 61_440;
/// Most metadata keys one event may carry.
pub const MAX_METADATA_KEYS: usize = 50;
/// Most characters of one metadata value.
pub const MAX_METADATA_VALUE_CHARS: usize = 1_000;
/// Most targets one event may name.
pub const MAX_TARGETS: usize = 50;

const EVENT_FIELDS: &[&str] = &[
    "id",
    "action",
    "occurredAt",
    "actor",
    "targets",
    "context",
    "metadata",
];
const ACTOR_FIELDS: &[&str] = &["type", "id", "name", "email"];
const TARGET_FIELDS: &[&str] = &["type", "id", "name"];
const CONTEXT_FIELDS: &[&str] = &["location", "userAgent"];
/// Who acted: the actor's own type, or `agent` (in `metadata.actor_type`) for an AI agent.
pub const ACTOR_KINDS: &[&str] = &["user", "api_key", "system", "agent"];

/// One validated audit event as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub event_id: String,
    /// `occurredAt` in microseconds (the event itself keeps the text as sent).
    pub occurred_at: i64,
    pub action: String,
    /// `actor.type`: user, api_key or system.
    pub actor_type: String,
    /// `metadata.actor_type`: the actor's type, or agent.
    pub actor_kind: String,
    pub actor_id: String,
    /// Lower-cased, for the `actor` filter; empty when absent.
    pub actor_name: String,
    /// Lower-cased, for the `actor` filter; empty when absent.
    pub actor_email: String,
    /// `\n`-separated target ids and lower-cased names, framed by `\n`, for the `target` filter.
    pub targets_key: String,
    /// Lower-cased words of action, actor, targets, context and metadata, for `q`.
    pub search_text: String,
    /// RFC 8785 bytes of the event as stored.
    pub canonical: Vec<u8>,
    pub leaf_hash: Hash,
}

/// Validates a batch of audit events; every problem is reported, with the item's index.
///
/// # Errors
/// Every [`FieldError`] found, when any item is invalid.
pub fn validate_events(
    items: &[Value],
    now_micros: i64,
) -> Result<Vec<AuditRecord>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut records = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if let Some(record) = validate_event(item, Some(index), now_micros, &mut errors) {
            records.push(record);
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// Validates one event and builds its record; `None` when it had problems (pushed to `errors`).
pub fn validate_event(
    item: &Value,
    index: Option<usize>,
    now_micros: i64,
    errors: &mut Vec<FieldError>,
) -> Option<AuditRecord> {
    let Some(obj) = item.as_object() else {
        errors.push(FieldError {
            index,
            field: String::new(),
            reason: "each audit event must be a JSON object".into(),
        });
        return None;
    };
    let before = errors.len();
    let size = serde_json::to_vec(item).map_or(0, |b| b.len());
    if size > MAX_EVENT_BYTES {
        errors.push(FieldError {
            index,
            field: String::new(),
            reason: format!("the event is {size} bytes, over the limit of {MAX_EVENT_BYTES}"),
        });
    }
    let mut f = Fields::new(obj, index, errors);
    f.refuse_unknown(EVENT_FIELDS);
    let id = f.id("id", true);
    let action = f.str("action", true).map(str::to_string);
    if let Some(a) = &action
        && !is_valid_action(a)
    {
        f.error(
            "action",
            "must match ^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$ (at most 128 characters), such as agent.executed",
        );
    }
    let occurred_at = f.instant("occurredAt", true, now_micros);
    let actor = read_actor(&mut f);
    let targets = read_targets(&mut f);
    read_context(&mut f);
    let metadata = read_metadata(&mut f, actor.as_ref().map(|a| a.kind.as_str()));

    if errors.len() > before {
        return None;
    }
    let (actor, metadata) = (actor?, metadata?);
    let mut event = obj.clone();
    event.insert("metadata".into(), Value::Object(metadata.clone()));
    let event = Value::Object(event);
    let canonical = match canonical_bytes(&event) {
        Ok(bytes) => bytes,
        Err(e) => {
            errors.push(FieldError {
                index,
                field: String::new(),
                reason: format!("has no canonical form: {e}"),
            });
            return None;
        }
    };
    let action = action?;
    let actor_kind = metadata
        .get("actor_type")
        .and_then(Value::as_str)
        .unwrap_or(&actor.kind)
        .to_string();
    let search_text = search_text(&action, obj, &metadata);
    Some(AuditRecord {
        event_id: id?,
        occurred_at: occurred_at?,
        leaf_hash: leaf_hash(&canonical),
        canonical,
        action,
        actor_type: actor.kind,
        actor_kind,
        actor_id: actor.id,
        actor_name: actor.name.to_lowercase(),
        actor_email: actor.email.to_lowercase(),
        targets_key: targets_key(targets.as_deref().unwrap_or_default()),
        search_text,
    })
}

/// `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`, at most 128 characters.
pub fn is_valid_action(action: &str) -> bool {
    let mut parts = 0;
    let all_ok = action.len() <= 128
        && action.split('.').all(|part| {
            parts += 1;
            let bytes = part.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_lowercase()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        });
    all_ok && parts >= 2
}

struct Actor {
    kind: String,
    id: String,
    name: String,
    email: String,
}

/// A nested object field, with its own unknown-field check; names errors `parent.field`.
fn nested<'a>(f: &mut Fields<'a>, field: &str, required: bool) -> Option<&'a Map<String, Value>> {
    match f.value(field) {
        Some(Value::Object(obj)) => Some(obj),
        Some(_) => {
            f.error(field, "must be an object");
            None
        }
        None => {
            if required {
                f.error(field, "is required");
            }
            None
        }
    }
}

/// Validates the fields of a nested object, reporting them as `prefix.name`.
fn sub_errors(
    f: &mut Fields<'_>,
    prefix: &str,
    obj: &Map<String, Value>,
    check: impl FnOnce(&mut Fields<'_>),
) {
    let mut inner = Vec::new();
    check(&mut Fields::new(obj, None, &mut inner));
    for e in inner {
        let field = if e.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", e.field)
        };
        f.error(&field, e.reason);
    }
}

fn read_actor(f: &mut Fields<'_>) -> Option<Actor> {
    let obj = nested(f, "actor", true)?;
    let mut actor = None;
    sub_errors(f, "actor", obj, |a| {
        a.refuse_unknown(ACTOR_FIELDS);
        let kind = a.str("type", true);
        if let Some(k) = kind
            && !["user", "api_key", "system"].contains(&k)
        {
            a.error("type", "must be one of user|api_key|system");
        }
        let id = a.id("id", true);
        let name = a.text("name", false, 256);
        let email = a.str("email", false);
        if let Some(problem) = email.and_then(email_problem) {
            a.error("email", problem);
        }
        if a.clean() {
            actor = Some(Actor {
                kind: kind.unwrap_or_default().to_string(),
                id: id.unwrap_or_default(),
                name: name.unwrap_or_default(),
                email: email.unwrap_or_default().to_string(),
            });
        }
    });
    actor
}

/// The targets as (type, id, name).
fn read_targets(f: &mut Fields<'_>) -> Option<Vec<(String, String, String)>> {
    let items = match f.value("targets") {
        None => return Some(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_TARGETS => items,
        Some(Value::Array(_)) => {
            f.error(
                "targets",
                format!("must hold at most {MAX_TARGETS} targets"),
            );
            return None;
        }
        Some(_) => {
            f.error("targets", "must be an array of {type, id, name} objects");
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("targets[{i}]");
        let Some(obj) = item.as_object() else {
            f.error(&prefix, "must be an object {type, id, name}");
            continue;
        };
        sub_errors(f, &prefix, obj, |t| {
            t.refuse_unknown(TARGET_FIELDS);
            let kind = t.str("type", true);
            if let Some(k) = kind
                && !is_valid_word(k)
            {
                t.error(
                    "type",
                    "must match [a-z][a-z0-9_]{0,63}, such as agent or space",
                );
            }
            let id = t.id("id", true);
            let name = t.text("name", false, 256);
            if t.clean() {
                out.push((
                    kind.unwrap_or_default().to_string(),
                    id.unwrap_or_default(),
                    name.unwrap_or_default(),
                ));
            }
        });
    }
    Some(out)
}

fn is_valid_word(s: &str) -> bool {
    let bytes = s.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn read_context(f: &mut Fields<'_>) {
    let Some(obj) = nested(f, "context", false) else {
        return;
    };
    sub_errors(f, "context", obj, |c| {
        c.refuse_unknown(CONTEXT_FIELDS);
        if let Some(location) = c.str("location", false)
            && location != "internal"
            && location.parse::<std::net::IpAddr>().is_err()
        {
            c.error("location", "must be an IP address or \"internal\"");
        }
        c.text("userAgent", false, 1_000);
    });
}

/// The metadata as stored: checked, with `actor_type` filled from the actor when absent.
fn read_metadata(f: &mut Fields<'_>, actor_kind: Option<&str>) -> Option<Map<String, Value>> {
    let mut metadata = match f.value("metadata") {
        None => Map::new(),
        Some(Value::Object(obj)) => obj.clone(),
        Some(_) => {
            f.error(
                "metadata",
                "must be an object of string, number or boolean values",
            );
            return None;
        }
    };
    if metadata.len() > MAX_METADATA_KEYS {
        f.error(
            "metadata",
            format!(
                "holds {} keys, over the limit of {MAX_METADATA_KEYS}",
                metadata.len()
            ),
        );
    }
    for (key, value) in &metadata {
        if !is_valid_metadata_key(key) {
            f.error(
                &format!("metadata.{key}"),
                "metadata keys must be 1 to 40 characters of A-Z a-z 0-9 _ -",
            );
        } else if let Some(reason) = metadata_value_problem(value) {
            f.error(&format!("metadata.{key}"), reason);
        }
    }
    match metadata.get("actor_type") {
        None => {
            if let Some(kind) = actor_kind {
                metadata.insert("actor_type".into(), Value::String(kind.into()));
            }
        }
        Some(Value::String(kind)) if ACTOR_KINDS.contains(&kind.as_str()) => {}
        Some(_) => f.error(
            "metadata.actor_type",
            "must be one of user|api_key|system|agent (agent: an AI agent acted)",
        ),
    }
    f.clean().then_some(metadata)
}

fn is_valid_metadata_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn metadata_value_problem(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.chars().count() > MAX_METADATA_VALUE_CHARS => Some(format!(
            "must be at most {MAX_METADATA_VALUE_CHARS} characters"
        )),
        Value::String(_) | Value::Bool(_) => None,
        Value::Number(n) => number_problem(n),
        Value::Object(_) | Value::Array(_) => Some(
            "nested metadata is not allowed: values must be strings, numbers or booleans".into(),
        ),
        Value::Null => Some("must be a string, number or boolean, not null".into()),
    }
}

/// Integers must lie within ±2^53; other numbers must be finite decimals.
fn number_problem(n: &serde_json::Number) -> Option<String> {
    let out_of_range = || Some("integers must lie within ±2^53 (9007199254740992)".to_string());
    if let Some(i) = n.as_i64() {
        return if i.unsigned_abs() > MAX_SAFE_MAGNITUDE {
            out_of_range()
        } else {
            None
        };
    }
    if n.as_u64().is_some() {
        return out_of_range();
    }
    match n.as_f64() {
        Some(x) if !x.is_finite() => Some("must be a finite number".into()),
        Some(x) if x.fract() == 0.0 && x.abs() > MAX_SAFE_MAGNITUDE as f64 => out_of_range(),
        Some(_) => None,
        None => Some("must be a finite number".into()),
    }
}

fn targets_key(targets: &[(String, String, String)]) -> String {
    let mut key = String::from("\n");
    for (_, id, name) in targets {
        key.push_str(&id.to_lowercase());
        key.push('\n');
        if !name.is_empty() {
            key.push_str(&name.to_lowercase());
            key.push('\n');
        }
    }
    key
}

/// Every string of the searchable parts, lower-cased, one per line.
fn search_text(action: &str, event: &Map<String, Value>, metadata: &Map<String, Value>) -> String {
    let mut text = String::new();
    text.push_str(&action.to_lowercase());
    for part in ["actor", "targets", "context"] {
        if let Some(value) = event.get(part) {
            collect_strings(value, &mut text);
        }
    }
    for (key, value) in metadata {
        text.push('\n');
        text.push_str(&key.to_lowercase());
        collect_strings(value, &mut text);
    }
    text
}

fn collect_strings(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push('\n');
            out.push_str(&s.to_lowercase());
        }
        Value::Number(n) => {
            out.push('\n');
            out.push_str(&n.to_string());
        }
        Value::Bool(b) => {
            out.push('\n');
            out.push_str(if *b { "true" } else { "false" });
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(members) => members.values().for_each(|v| collect_strings(v, out)),
        Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_790_000_000_000_000;

    fn event() -> Value {
        json!({"id": "e1", "action": "agent.executed", "occurredAt": "2026-03-01T09:30:00+01:00",
               "actor": {"type": "user", "id": "u1", "name": "Ada", "email": "Ada@example.com"},
               "targets": [{"type": "agent", "id": "a1", "name": "Helper"}],
               "context": {"location": "203.0.113.7", "userAgent": "curl/8"},
               "metadata": {"initiating_user_id": "u1", "count": 3, "ratio": 0.5, "ok": true}})
    }

    fn problems(item: Value) -> Vec<String> {
        match validate_events(&[item], NOW) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn a_valid_event_gets_its_actor_type_filled_before_hashing() {
        let records = validate_events(&[event()], NOW).unwrap();
        let r = &records[0];
        let stored: Value = serde_json::from_slice(&r.canonical).unwrap();
        assert_eq!(stored["metadata"]["actor_type"], "user");
        assert_eq!(stored["occurredAt"], "2026-03-01T09:30:00+01:00");
        assert_eq!(r.leaf_hash, leaf_hash(&r.canonical));
        assert_eq!(r.actor_email, "ada@example.com");
        assert_eq!(r.targets_key, "\na1\nhelper\n");
        assert!(r.search_text.contains("curl/8"), "{}", r.search_text);
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"action": "Agent.Executed"}), "action"),
            (json!({"action": "executed"}), "action"),
            (json!({"actor": {"type": "robot", "id": "x"}}), "actor.type"),
            (json!({"actor": {"type": "user"}}), "actor.id"),
            (json!({"targets": [{"id": "a1"}]}), "targets[0].type"),
            (
                json!({"context": {"location": "somewhere"}}),
                "context.location",
            ),
            (json!({"metadata": {"a b": 1}}), "metadata.a b"),
            (json!({"metadata": {"n": {"x": 1}}}), "metadata.n"),
            (
                json!({"metadata": {"n": 9_007_199_254_740_993_i64}}),
                "metadata.n",
            ),
            (json!({"metadata": {"s": "x".repeat(1001)}}), "metadata.s"),
            (
                json!({"metadata": {"actor_type": "robot"}}),
                "metadata.actor_type",
            ),
            (json!({"prompt": "hi"}), "prompt"),
        ];
        for (patch, field) in cases {
            let mut item = event();
            for (k, v) in patch.as_object().unwrap() {
                item[k] = v.clone();
            }
            assert_eq!(problems(item), vec![field.to_string()], "{patch}");
        }
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut item = event();
        item["metadata"] = Value::Object(many);
        assert_eq!(problems(item), vec!["metadata".to_string()]);
    }

    #[test]
    fn oversized_events_are_refused_whole() {
        let mut item = event();
        for i in 0..20 {
            item["metadata"][format!("k{i}")] = json!("\u{e9}".repeat(1000));
        }
        assert_eq!(problems(item.clone()), Vec::<String>::new());
        for i in 20..40 {
            item["metadata"][format!("k{i}")] = json!("\u{e9}".repeat(1000));
        }
        assert_eq!(problems(item), vec![String::new()]);
    }

    #[test]
    fn actions_follow_the_pattern() {
        assert!(is_valid_action("space.deleted"));
        assert!(is_valid_action("audit_log.exported"));
        for bad in ["space", ".a", "a.", "a..b", "a.B", "1a.b", "a.b-c"] {
            assert!(!is_valid_action(bad), "{bad}");
        }
    }
}
