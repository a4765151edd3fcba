//! The log stream routes with their documentation.

use axum::http::Method;
use serde_json::{Value, json};

use super::{stream_actions, streams};
use crate::web::AppState;
use crate::web::openapi::{Api, Caller, RouteDoc};

const JSON: &[&str] = &["application/json"];
const ERRORS: &[u16] = &[400, 401, 403, 404];
const ADMIN: Caller = Caller::Key("role admin");

fn config_schema() -> Value {
    json!({"type": "object", "description": "By kind (secrets are write-only and never answered): datadog {site, url?, apiKey}; splunk {url, token, index?, sourcetype?}; s3 {bucket, prefix?, region, endpoint?, accessKeyId, secretAccessKey}; gcs {bucket, prefix?, endpoint?, credentialsJson?}; https {url, secret}. url and endpoint are whole https URLs; loopback and private addresses (and plain http to them) only when the operator sets TALLY_STREAMS_ALLOW_PRIVATE=true.",
        "additionalProperties": {"type": "string"}})
}

fn stream_schema() -> Value {
    json!({"type": "object", "properties": {
        "id": {"type": "string"},
        "kind": {"enum": ["datadog", "splunk", "s3", "gcs", "https"]},
        "config": {"type": "object", "description": "the settings without secrets"},
        "status": {"type": "object", "properties": {
            "state": {"enum": ["active", "paused", "failing", "stopped"]},
            "cursor": {"type": "integer", "description": "the next leaf to deliver"},
            "lagEvents": {"type": "integer"},
            "lagSeconds": {"type": "integer", "description": "age of the oldest undelivered event"},
            "lastSuccessAt": {"type": ["string", "null"], "format": "date-time"},
            "lastError": {"type": ["string", "null"]},
            "delivered": {"type": "integer", "description": "records delivered"}}},
        "createdAt": {"type": "string", "format": "date-time"},
        "updatedAt": {"type": "string", "format": "date-time"}}})
}

const DELIVERY: &str = "Every record of the audit log is delivered in leaf order, at least once, as {\"id\", \"leafIndex\", \"workspaceId\", \"event\"} (receivers de-duplicate by id), and each new checkpoint as {\"workspaceId\", \"checkpoint\"}. Datadog: POST <url or https://http-intake.logs.<site>>/api/v2/logs, entries with the record as JSON text in message, ddsource and service tally. Splunk: POST <url>/services/collector/event, events {time, source tally, sourcetype tally:audit, event}. https: POST url with {\"records\": [...]} and Tally-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\"> under the secret. S3 and GCS: gzip JSONL objects <prefix>/<wId>/<YYYY>/<MM>/<DD>/<first leaf>-<last leaf>.jsonl.gz. Timeouts, 408, 429 (Retry-After honoured) and 5xx but 501 are retried with backoff (state failing); 413 halves the batch; other 4xx stop the stream (state stopped, lastError) until resumed.";

pub fn routes(api: Api<AppState>) -> Api<AppState> {
    let one = json!({"type": "object", "properties": {"kind": {"enum": ["datadog", "splunk", "s3", "gcs", "https"]}, "config": config_schema()}});
    api.route(Method::GET, "/api/v1/w/{wId}/audit/streams", streams::list, RouteDoc {
            summary: "List log streams",
            description: "The workspace's log streams, oldest first, each with its status. Enterprise plan only.",
            caller: ADMIN,
            query: &[],
            body: None,
            ok: (200, "Streams", json!({"type": "object", "properties": {"data": {"type": "array", "items": stream_schema()}}})),
            errors: ERRORS,
        })
        .route(Method::POST, "/api/v1/w/{wId}/audit/streams", streams::create, RouteDoc {
            summary: "Create a log stream",
            description: DELIVERY,
            caller: ADMIN,
            query: &[],
            body: Some((JSON, json!({"type": "object", "required": ["kind", "config"], "additionalProperties": false, "properties": {
                "kind": {"enum": ["datadog", "splunk", "s3", "gcs", "https"]}, "config": config_schema(),
                "startAt": {"description": "\"now\" (the log's current size) or a leaf index; default 0, the whole log", "oneOf": [{"const": "now"}, {"type": "integer"}]}}}))),
            ok: (201, "Created", stream_schema()),
            errors: ERRORS,
        })
        .route(Method::GET, "/api/v1/w/{wId}/audit/streams/{id}", streams::get, RouteDoc {
            summary: "Read a log stream",
            description: "Its settings (without secrets) and status.",
            caller: ADMIN,
            query: &[],
            body: None,
            ok: (200, "Stream", stream_schema()),
            errors: ERRORS,
        })
        .route(Method::PATCH, "/api/v1/w/{wId}/audit/streams/{id}", streams::patch, RouteDoc {
            summary: "Change a log stream",
            description: "The config fields named replace the stored ones (null removes an optional one); secrets not named are kept. The kind cannot change.",
            caller: ADMIN,
            query: &[],
            body: Some((JSON, one)),
            ok: (200, "Stream", stream_schema()),
            errors: ERRORS,
        })
        .route(Method::DELETE, "/api/v1/w/{wId}/audit/streams/{id}", streams::delete, RouteDoc {
            summary: "Delete a log stream",
            description: "Delivery stops.",
            caller: ADMIN,
            query: &[],
            body: None,
            ok: (204, "Deleted", Value::Null),
            errors: ERRORS,
        })
        .route(Method::POST, "/api/v1/w/{wId}/audit/streams/{id}/test", stream_actions::test, RouteDoc {
            summary: "Send a test record",
            description: "Sends one record {\"id\", \"leafIndex\": null, \"workspaceId\", \"test\": true, \"event\"} with action stream.test through the stream now (S3/GCS: <prefix>/<wId>/test/<id>.jsonl.gz), outside the log and the cursor.",
            caller: ADMIN,
            query: &[],
            body: None,
            ok: (200, "Whether the receiver accepted it", json!({"type": "object", "properties": {"delivered": {"type": "boolean"}, "error": {"type": ["string", "null"]}}})),
            errors: ERRORS,
        })
        .route(Method::POST, "/api/v1/w/{wId}/audit/streams/{id}/pause", stream_actions::pause, RouteDoc {
            summary: "Pause a log stream",
            description: "Nothing is delivered until resumed; records wait at the cursor.",
            caller: ADMIN,
            query: &[],
            body: None,
            ok: (200, "Stream", stream_schema()),
            errors: ERRORS,
        })
        .route(Method::POST, "/api/v1/w/{wId}/audit/streams/{id}/resume", stream_actions::resume, RouteDoc {
            summary: "Resume a log stream",
            description: "A paused or stopped stream delivers again from its cursor; the last error is cleared.",
            caller: ADMIN,
            query: &[],
            body: None,
            ok: (200, "Stream", stream_schema()),
            errors: ERRORS,
        })
}
