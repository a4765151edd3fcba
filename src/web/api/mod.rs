//! The `/api/v1` routes and their documentation, in one list.

mod admin;
mod analytics;
pub use admin::{key_json, settings_json};
mod ingest;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::openapi::{Api, Caller, RouteDoc};
use crate::ingest::directory::{DirectoryKind, FieldType};

const JSON_OR_NDJSON: &[&str] = &["application/json", "application/x-ndjson"];
const JSON: &[&str] = &["application/json"];

pub fn routes() -> Api<AppState> {
    let mut api = Api::new()
        .route(Method::POST, "/api/v1/w/{wId}/events", ingest::post_events, RouteDoc {
            summary: "Ingest a batch of activity events",
            description: "A JSON array (application/json) or NDJSON (application/x-ndjson) of message, tool_execution, skill_execution and workflow_run events, optionally with Content-Encoding: gzip. At most 10,000 events and 10 MiB decoded. Idempotent by event id per type: a retried batch stores nothing twice. A batch with any invalid event is refused whole with 422 listing every problem by index, field and reason. Content-like fields (content, text, prompt, ...) are refused: tally stores metadata only. Answered only once the batch is durable.",
            caller: Caller::Key("scope ingest"),
            query: &[],
            body: Some((JSON_OR_NDJSON, json!({"type": "array", "items": {"$ref": "#/components/schemas/ActivityEvent"}}))),
            ok: (200, "Stored", json!({"type": "object", "required": ["accepted", "duplicates"], "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}})),
            errors: &[400, 401, 403, 404, 413, 415, 422],
        })
        .route(Method::GET, "/api/v1/w/{wId}/settings", admin::get_settings, RouteDoc {
            summary: "Read workspace settings",
            description: "The workspace's id, name, plan, default timezone, privacy mode and creation time.",
            caller: Caller::Key("role admin"),
            query: &[],
            body: None,
            ok: (200, "Settings", settings_schema()),
            errors: &[401, 403, 404],
        })
        .route(Method::PATCH, "/api/v1/w/{wId}/settings", admin::patch_settings, RouteDoc {
            summary: "Change workspace settings",
            description: "Any of name, timezone (IANA) and privacy (full|pseudonymized|excluded). The plan is the operator's: `tally workspace update <wId> --plan ...`.",
            caller: Caller::Key("role admin"),
            query: &[],
            body: Some((JSON, json!({"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "timezone": {"type": "string"}, "privacy": {"enum": ["full", "pseudonymized", "excluded"]}}}))),
            ok: (200, "Settings after the change", settings_schema()),
            errors: &[400, 401, 403, 404],
        })
        .route(Method::GET, "/api/v1/w/{wId}/keys", admin::list_keys, RouteDoc {
            summary: "List API keys",
            description: "Live keys, oldest first; secrets are never shown again.",
            caller: Caller::Key("role admin"),
            query: &[],
            body: None,
            ok: (200, "Keys", json!({"type": "object", "properties": {"data": {"type": "array", "items": key_schema(false)}}})),
            errors: &[401, 403, 404],
        })
        .route(Method::POST, "/api/v1/w/{wId}/keys", admin::create_key, RouteDoc {
            summary: "Create an API key",
            description: "The secret is in this answer only. Role user|builder|admin (default user); scopes any of ingest, usage_export, audit_read.",
            caller: Caller::Key("role admin"),
            query: &[],
            body: Some((JSON, json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {"name": {"type": "string"}, "role": {"enum": ["user", "builder", "admin"]}, "scopes": {"type": "array", "items": {"enum": ["ingest", "usage_export", "audit_read"]}}, "expiresAt": {"type": "string", "format": "date-time"}}}))),
            ok: (201, "Created", key_schema(true)),
            errors: &[400, 401, 403, 404],
        })
        .route(Method::DELETE, "/api/v1/w/{wId}/keys/{keyId}", admin::revoke_key, RouteDoc {
            summary: "Revoke an API key",
            description: "The key stops working at once.",
            caller: Caller::Key("role admin"),
            query: &[],
            body: None,
            ok: (204, "Revoked", Value::Null),
            errors: &[401, 403, 404],
        })
        .route(Method::GET, "/api/v1/w/{wId}/analytics/export", analytics::export, RouteDoc {
            summary: "Export workspace analytics (Dust-compatible)",
            description: "One of the tables usage_metrics, active_users, source, tool_usage, skill_usage, agents, users, messages for the local dates startDate..endDate (both included) in `timezone` (IANA, default UTC). CSV (RFC 4180, header row always, text cells starting with = + - @ tab or CR get a leading ') or JSON with numbers as numbers. usage_metrics and active_users have a row for every date; the other daily tables list non-zero rows by date then name; agents and users include those without messages. messages streams.",
            caller: Caller::Key("role builder or admin"),
            query: &[
                ("table", "usage_metrics|active_users|source|tool_usage|skill_usage|agents|users|messages", true),
                ("startDate", "first local date, YYYY-MM-DD", true),
                ("endDate", "last local date, YYYY-MM-DD, at most 3660 days after startDate", true),
                ("format", "csv (default) or json", false),
                ("timezone", "IANA timezone of the days, default UTC", false),
            ],
            body: None,
            ok: (200, "The table as CSV (text/csv) or a JSON array of objects", json!({"type": "array", "items": {"type": "object"}})),
            errors: &[400, 401, 403, 404],
        })
        .route(Method::GET, "/api/v1/w/{wId}/workspace-usage", workspace_usage_removed, RouteDoc {
            summary: "Removed: use analytics/export",
            description: "The legacy workspace-usage endpoint was removed after 2026-06-01. It answers 410 naming GET /api/v1/w/{wId}/analytics/export as its successor.",
            caller: Caller::Anyone,
            query: &[],
            body: None,
            ok: (410, "Always: the endpoint was removed", json!({"$ref": "#/components/schemas/Error"})),
            errors: &[],
        });
    for kind in DirectoryKind::ALL {
        api = directory_route(api, *kind);
    }
    api
}

fn directory_route(api: Api<AppState>, kind: DirectoryKind) -> Api<AppState> {
    let handler =
        move |State(state): State<AppState>,
              Path(workspace): Path<String>,
              headers: HeaderMap,
              body: Body| { ingest::put_directory(state, kind, workspace, headers, body) };
    let path: &'static str = Box::leak(format!("/api/v1/w/{{wId}}/{kind}").into_boxed_str());
    api.route(Method::PUT, path, handler, RouteDoc {
        summary: directory_summary(kind),
        description: "A JSON array of records upserted by id, in one transaction (all or none). Absent fields keep their stored value; null clears an optional one; a new record must carry every required field. At most 10,000 records and 10 MiB.",
        caller: Caller::Key("scope ingest"),
        query: &[],
        body: Some((JSON_OR_NDJSON, json!({"type": "array", "items": directory_schema(kind)}))),
        ok: (200, "Stored", json!({"type": "object", "properties": {"accepted": {"type": "integer"}, "created": {"type": "integer"}, "updated": {"type": "integer"}}})),
        errors: &[400, 401, 403, 404, 413, 415, 422],
    })
}

fn directory_summary(kind: DirectoryKind) -> &'static str {
    match kind {
        DirectoryKind::Members => "Upsert members",
        DirectoryKind::Agents => "Upsert agents",
        DirectoryKind::Tools => "Upsert tools",
        DirectoryKind::Skills => "Upsert skills",
        DirectoryKind::Projects => "Upsert projects",
        DirectoryKind::Workflows => "Upsert workflows",
        DirectoryKind::Models => "Upsert models",
    }
}

fn directory_schema(kind: DirectoryKind) -> Value {
    let mut properties = serde_json::Map::new();
    properties.insert(
        kind.id_field().into(),
        json!({"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"}),
    );
    let mut required = vec![kind.id_field()];
    for spec in kind.fields() {
        let schema = match spec.ty {
            FieldType::Text(max) => json!({"type": "string", "maxLength": max}),
            FieldType::Email => json!({"type": "string", "format": "email"}),
            FieldType::Id => json!({"type": ["string", "null"]}),
            FieldType::Time => json!({"type": ["string", "null"], "format": "date-time"}),
            FieldType::Word(words) => json!({"enum": words}),
            FieldType::Emails | FieldType::Groups => {
                json!({"type": ["array", "null"], "items": {"type": "string"}})
            }
        };
        properties.insert(spec.wire.into(), schema);
        if spec.required {
            required.push(spec.wire);
        }
    }
    json!({"type": "object", "additionalProperties": false, "properties": properties,
           "description": format!("Fields required when the record creates a new entry: {}", required.join(", "))})
}

fn settings_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "plan": {"enum": ["free", "pro", "enterprise"]},
        "timezone": {"type": "string"}, "privacy": {"enum": ["full", "pseudonymized", "excluded"]},
        "createdAt": {"type": "string", "format": "date-time"}}})
}

fn key_schema(with_secret: bool) -> Value {
    let mut schema = json!({"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "role": {"enum": ["user", "builder", "admin"]},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "createdAt": {"type": "string", "format": "date-time"},
        "expiresAt": {"type": ["string", "null"], "format": "date-time"}}});
    if with_secret {
        schema["properties"]["secret"] = json!({"type": "string", "description": "Shown once"});
    } else {
        schema["properties"]["lastUsedAt"] =
            json!({"type": ["string", "null"], "format": "date-time"});
    }
    schema
}

async fn workspace_usage_removed() -> ApiError {
    ApiError::EndpointRemoved(
        "GET /api/v1/w/{wId}/workspace-usage was removed after 2026-06-01: use GET /api/v1/w/{wId}/analytics/export?table=usage_metrics&startDate=YYYY-MM-DD&endDate=YYYY-MM-DD instead".into(),
    )
}
