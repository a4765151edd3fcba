//! The `/api/v1` routes and their documentation, in one list.

mod admin;
mod analytics;
mod audit;
pub use admin::{key_json, settings_json};
pub(crate) use audit::csv_body as audit_csv_body;
mod ingest;
pub(crate) mod stream_actions;
mod stream_routes;
pub(crate) mod streams;
mod usage;

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
        .route(Method::POST, "/api/v1/w/{wId}/analytics/rebuild", analytics::rebuild, RouteDoc {
            summary: "Rebuild the analytics rollups from raw events",
            description: "Recomputes this server's rollups of the workspace from its raw events (the source of truth) and swaps them in; answers keep coming from the old ones meanwhile. Exports before and after are byte-identical unless raw events were changed behind tally's back. Recorded as analytics.rebuilt. `tally rebuild --workspace W` does the same offline and prints each table's digest.",
            caller: Caller::Key("role admin"),
            query: &[],
            body: None,
            ok: (200, "Rebuilt", json!({"type": "object", "properties": {"workspace": {"type": "string"}, "ingestSeq": {"type": "integer"}, "seconds": {"type": "number"}}})),
            errors: &[401, 403, 404],
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
    usage_routes(stream_routes::routes(audit_routes(api)))
}

const USAGE_EXPORT: &str = "One row per entity for the range `from`..`to`, each a local wall time (`date`, ISO 8601; a trailing Z is ignored, another offset is refused) in its own IANA `timezone`; `to` is inclusive to its stated precision (a date alone covers its whole day). dataType users, assistants (alias agents), workflows, projects or models; columns as in the README, Langdock's names first. Members, agents, projects and workflows without activity are listed with zeros; models only when used. The workspace's privacy mode applies (users: 403 under excluded). 404 (No data found) when the range holds no activity of the kind the data type counts; 400 over the row limit (default 1,000,000); 429 with Retry-After over the per-key rate (default 500 a minute); requests from a browser origin (an Origin header) are refused with 403. Errors use the flat envelope {\"error\": title, \"message\", \"type\"}. Each export records usage.exported in an enterprise workspace's audit log.";

fn usage_routes(api: Api<AppState>) -> Api<AppState> {
    let bound = json!({"type": "object", "required": ["date", "timezone"], "additionalProperties": false,
        "properties": {"date": {"type": "string", "description": "ISO 8601 local wall time, such as 2024-01-01T00:00:00.000Z (the Z is ignored) or 2024-01-31"},
        "timezone": {"type": "string", "description": "IANA timezone such as UTC or Europe/Berlin"}}});
    let body = json!({"type": "object", "required": ["from", "to"], "additionalProperties": false,
        "properties": {"from": bound, "to": bound}});
    let file = json!({"type": "object", "properties": {"success": {"type": "boolean"}, "data": {"type": "object",
        "properties": {"filePath": {"type": "string"}, "downloadUrl": {"type": "string"}, "dataType": {"type": "string"},
        "recordCount": {"type": "integer"}, "dateRange": {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}}}}}}});
    const ERRORS: &[u16] = &[400, 401, 403, 404, 429];
    api.route(Method::POST, "/api/v1/export/{dataType}", usage::export, RouteDoc {
            summary: "Usage export to a file (Langdock-compatible)",
            description: USAGE_EXPORT,
            caller: Caller::Key("scope usage_export"),
            query: &[],
            body: Some((JSON, body.clone())),
            ok: (200, "The file written, with a signed download link (expires after export_link_ttl_seconds, default 900)", file.clone()),
            errors: ERRORS,
        })
        .route(Method::POST, "/api/v1/export/{dataType}/{format}", usage::export_as, RouteDoc {
            summary: "Usage export as a file (csv) or inline rows (json)",
            description: USAGE_EXPORT,
            caller: Caller::Key("scope usage_export"),
            query: &[],
            body: Some((JSON, body)),
            ok: (200, "csv: as POST /api/v1/export/{dataType}; json: {\"success\": true, \"data\": [rows], \"metadata\": {\"dataType\", \"recordCount\"}}", file),
            errors: ERRORS,
        })
        .route(Method::GET, "/api/v1/export/file", usage::download, RouteDoc {
            summary: "Download a usage export file",
            description: "The signed link a usage export answered as downloadUrl: it serves that one file until it expires. A changed path, expiry or signature, or an expired link, answers 403; a file deleted after export_retention_hours (default 24) answers 404.",
            caller: Caller::Anyone,
            query: &[
                ("path", "the file's path, as in filePath", true),
                ("expires", "unix seconds after which the link stops working", true),
                ("signature", "hex HMAC-SHA256 of path and expiry", true),
            ],
            body: None,
            ok: (200, "The CSV file", json!({"type": "string"})),
            errors: &[403, 404],
        })
}

fn audit_routes(api: Api<AppState>) -> Api<AppState> {
    const AUDIT_ERRORS: &[u16] = &[400, 401, 403, 404];
    api.route(Method::POST, "/api/v1/w/{wId}/audit/events", audit::post_events, RouteDoc {
            summary: "Ingest audit events",
            description: "A JSON array (application/json) or NDJSON (application/x-ndjson) of audit events, optionally gzip. Each event: id, action (^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$), occurredAt (RFC 3339 with offset, kept as sent), actor {type user|api_key|system, id, name?, email?}, targets? [{type, id, name?}], context? {location (IP or \"internal\"), userAgent}, metadata? (at most 50 keys [A-Za-z0-9_-]{1,40}; string values of at most 1,000 characters, booleans, integers within ±2^53 or finite decimals; nothing nested). At most 61,440 bytes per event. metadata.actor_type (user|api_key|system|agent) is filled with the actor's type when absent, before hashing. Idempotent by event id and by the Idempotency-Key header: a replay answers 200 and stores nothing twice. A batch with any invalid event is refused whole with 422. Enterprise plan only.",
            caller: Caller::Key("scope ingest"),
            query: &[],
            body: Some((JSON_OR_NDJSON, json!({"type": "array", "items": audit_event_schema()}))),
            ok: (200, "Stored", json!({"type": "object", "required": ["accepted", "duplicates"], "properties": {"accepted": {"type": "integer"}, "duplicates": {"type": "integer"}}})),
            errors: &[400, 401, 403, 404, 413, 415, 422],
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/events", audit::search, RouteDoc {
            summary: "Search the audit log",
            description: "Events matching every filter given, newest occurredAt first, ties by leaf index (highest first), each with its leafIndex. Page with nextCursor (null on the last page). Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[
                ("q", "words, each matched case-insensitively across action, actor, targets, context and metadata", false),
                ("from", "RFC 3339 instant, inclusive", false),
                ("to", "RFC 3339 instant, exclusive", false),
                ("action", "exact action, such as space.deleted", false),
                ("actor", "an actor's id, name or email", false),
                ("actorType", "user|api_key|system|agent (agent: metadata.actor_type)", false),
                ("target", "a target's id or name", false),
                ("cursor", "nextCursor of the previous page", false),
                ("limit", "1 to 1000, default 50", false),
            ],
            body: None,
            ok: (200, "A page of events", json!({"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object"}}, "nextCursor": {"type": ["string", "null"]}}})),
            errors: AUDIT_ERRORS,
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/export", audit::export, RouteDoc {
            summary: "Export the audit log",
            description: "The events the filters select, in leaf order. CSV (default): id, leafIndex, occurredAt, action, actorType, actorId, actorName, targets (JSON), location, userAgent, metadata (JSON), text cells starting with = + - @ tab or CR prefixed with '. JSONL: a first line {\"checkpoint\": {...}} signed for this export (the export stops at its tree size), then {\"leafIndex\", \"leafHash\", \"event\"} per event; with any filter each line also carries inclusionProof. `tally audit verify FILE --key VKEY` checks it offline. Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[
                ("format", "csv (default) or jsonl", false),
                ("q", "as in search", false),
                ("from", "as in search", false),
                ("to", "as in search", false),
                ("action", "as in search", false),
                ("actor", "as in search", false),
                ("actorType", "as in search", false),
                ("target", "as in search", false),
            ],
            body: None,
            ok: (200, "text/csv or application/x-ndjson", json!({"type": "string"})),
            errors: AUDIT_ERRORS,
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/checkpoint", audit::get_checkpoint, RouteDoc {
            summary: "Read a signed checkpoint",
            description: "The latest checkpoint, or the one at treeSize: a C2SP tlog-checkpoint signed as a C2SP signed-note with Ed25519 (origin <public base URL host>/w/<wId>, extension line `timestamp <unix seconds>`). Hashes are base64. 404 when none exists at that size: sign one. Checkpoints are signed every 1,000 events, every 60 s when events arrived, and on demand. Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[("treeSize", "the tree size of the checkpoint; default the latest", false)],
            body: None,
            ok: (200, "Checkpoint", checkpoint_schema()),
            errors: AUDIT_ERRORS,
        })
        .route(Method::POST, "/api/v1/w/{wId}/audit/checkpoint", audit::post_checkpoint, RouteDoc {
            summary: "Sign a checkpoint now",
            description: "Signs (and stores) a checkpoint of the log as it is now; when one exists at this size it is answered as it is. Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[],
            body: None,
            ok: (200, "Checkpoint", checkpoint_schema()),
            errors: AUDIT_ERRORS,
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/keys", audit::get_keys, RouteDoc {
            summary: "List checkpoint signing keys",
            description: "Every key that signed this log's checkpoints, retired ones included (retiredAt set), oldest first. keyId is the note key hash as 8 hex digits; vkey the note verifier key string that `tally audit verify --key` takes. Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[],
            body: None,
            ok: (200, "Keys", json!({"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object", "properties": {
                "keyId": {"type": "string"}, "name": {"type": "string"}, "vkey": {"type": "string"}, "publicKey": {"type": "string", "description": "base64 Ed25519 public key"},
                "createdAt": {"type": "string", "format": "date-time"}, "retiredAt": {"type": ["string", "null"], "format": "date-time"}}}}}})),
            errors: AUDIT_ERRORS,
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/proofs/inclusion", audit::inclusion_proof, RouteDoc {
            summary: "Prove an event is in the log",
            description: "The RFC 9162 audit path of a leaf (by leafIndex or eventId) in the tree of a checkpoint (treeSize, default the latest). 404 when the leaf lies beyond the latest checkpoint: sign one. Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[
                ("leafIndex", "the leaf; or eventId", false),
                ("eventId", "the event; or leafIndex", false),
                ("treeSize", "a checkpoint's tree size; default the latest", false),
            ],
            body: None,
            ok: (200, "Inclusion proof", json!({"type": "object", "properties": {"leafIndex": {"type": "integer"}, "treeSize": {"type": "integer"}, "leafHash": {"type": "string"}, "auditPath": {"type": "array", "items": {"type": "string"}}}})),
            errors: AUDIT_ERRORS,
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/proofs/consistency", audit::consistency_proof, RouteDoc {
            summary: "Prove the log only grew",
            description: "The RFC 9162 consistency proof between the trees of sizes first and second (second at most the latest checkpoint's size). Enterprise plan only.",
            caller: Caller::Key("scope audit_read"),
            query: &[("first", "the smaller tree size", true), ("second", "the larger tree size", true)],
            body: None,
            ok: (200, "Consistency proof", json!({"type": "object", "properties": {"first": {"type": "integer"}, "second": {"type": "integer"}, "proof": {"type": "array", "items": {"type": "string"}}}})),
            errors: AUDIT_ERRORS,
        })
}

fn checkpoint_schema() -> Value {
    json!({"type": "object", "properties": {
        "origin": {"type": "string"}, "treeSize": {"type": "integer"}, "rootHash": {"type": "string", "description": "base64"},
        "timestamp": {"type": "integer", "description": "Unix seconds"}, "note": {"type": "string", "description": "the signed note text"}}})
}

fn audit_event_schema() -> Value {
    json!({"type": "object", "required": ["id", "action", "occurredAt", "actor"], "additionalProperties": false, "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"},
        "action": {"type": "string", "pattern": "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$"},
        "occurredAt": {"type": "string", "format": "date-time"},
        "actor": {"type": "object", "required": ["type", "id"], "properties": {"type": {"enum": ["user", "api_key", "system"]}, "id": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"}}},
        "targets": {"type": "array", "maxItems": 50, "items": {"type": "object", "required": ["type", "id"], "properties": {"type": {"type": "string"}, "id": {"type": "string"}, "name": {"type": "string"}}}},
        "context": {"type": "object", "properties": {"location": {"type": "string"}, "userAgent": {"type": "string"}}},
        "metadata": {"type": "object", "maxProperties": 50, "additionalProperties": {"type": ["string", "number", "boolean"]}}}})
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
