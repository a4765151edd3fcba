//! The API's routes, each registered together with its documentation, so the OpenAPI document
//! at `/api/v1/openapi.json` is generated from the same list that builds the router and cannot
//! drift from it.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};
use serde_json::{Map, Value, json};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Anyone,
    /// A Bearer API key; the text says which role or scope.
    Key(&'static str),
}

/// The documentation of one route.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub summary: &'static str,
    pub description: &'static str,
    pub caller: Caller,
    /// Query parameters: name, description, required.
    pub query: &'static [(&'static str, &'static str, bool)],
    /// Request body: content types and schema.
    pub body: Option<(&'static [&'static str], Value)>,
    /// Success status, description and schema.
    pub ok: (u16, &'static str, Value),
    /// Error statuses the route answers.
    pub errors: &'static [u16],
}

/// One registered route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub doc: RouteDoc,
}

/// The API router under construction, with the list of what it serves.
pub struct Api<S> {
    pub router: Router<S>,
    pub routes: Vec<RouteSpec>,
}

impl<S: Clone + Send + Sync + 'static> Api<S> {
    pub fn new() -> Self {
        Api {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    /// Serves `handler` at `method path` and records its documentation.
    ///
    /// # Panics
    /// When `method` is not one of GET, POST, PUT, PATCH, DELETE (a programming error).
    pub fn route<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        handler: H,
        doc: RouteDoc,
    ) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
        self.router = self.router.route(path, on(filter, handler));
        self.routes.push(RouteSpec { method, path, doc });
        self
    }
}

impl<S: Clone + Send + Sync + 'static> Default for Api<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the OpenAPI 3.1 document for `routes`.
pub fn document(routes: &[RouteSpec]) -> Value {
    let mut paths = Map::new();
    for spec in routes {
        let entry = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| json!({}));
        entry[spec.method.as_str().to_ascii_lowercase()] = operation(spec);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "tally API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Workspace analytics, a tamper-evident audit log and usage exports. Errors share one shape: {\"error\": {\"type\", \"message\", \"field\"?, \"details\"?}}."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "An API key created with `tally keys create` or POST /api/v1/w/{wId}/keys."}},
            "schemas": {"Error": error_schema(), "ActivityEvent": activity_event_schema()}
        }
    })
}

fn operation(spec: &RouteSpec) -> Value {
    let doc = &spec.doc;
    let mut params: Vec<Value> = path_params(spec.path)
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    params.extend(doc.query.iter().map(|(name, description, required)| {
        json!({"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}})
    }));
    let mut responses = Map::new();
    let (status, description, schema) = &doc.ok;
    let ok = if schema.is_null() {
        json!({"description": description})
    } else {
        json!({"description": description, "content": {"application/json": {"schema": schema}}})
    };
    responses.insert(status.to_string(), ok);
    for code in doc.errors {
        responses.insert(
            code.to_string(),
            json!({"description": error_description(*code), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    let mut op = json!({
        "operationId": operation_id(spec),
        "summary": doc.summary,
        "description": doc.description,
        "parameters": params,
        "responses": responses,
    });
    if let Caller::Key(who) = doc.caller {
        op["security"] = json!([{"apiKey": []}]);
        op["x-tally-access"] = json!(who);
    }
    if let Some((types, schema)) = &doc.body {
        let content: Map<String, Value> = types
            .iter()
            .map(|t| (t.to_string(), json!({"schema": schema})))
            .collect();
        op["requestBody"] = json!({"required": true, "content": content});
    }
    op
}

/// The `{name}` segments of a path.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn operation_id(spec: &RouteSpec) -> String {
    let words: Vec<&str> = spec
        .path
        .trim_start_matches("/api/v1/")
        .split('/')
        .filter(|s| !s.starts_with('{') && !s.is_empty())
        .collect();
    format!(
        "{}_{}",
        spec.method.as_str().to_ascii_lowercase(),
        words.join("_").replace('-', "_")
    )
}

fn error_description(code: u16) -> &'static str {
    match code {
        400 => "Invalid request: the message and `field` say what to fix",
        401 => "Missing, unknown, expired or revoked API key",
        403 => "The key lacks the role or scope the route needs",
        404 => "Unknown workspace or resource",
        409 => "Conflict with existing state",
        410 => "The endpoint was removed; the message names its successor",
        413 => "Over a size or count limit, named in the message",
        415 => "Unsupported Content-Type or Content-Encoding",
        422 => {
            "Items failed validation; `details` lists index, field and reason; nothing was stored"
        }
        429 => "Rate limited; see Retry-After",
        503 => "Not ready",
        _ => "Error",
    }
}

/// One activity event of an ingest batch, by `type` (PRODUCT.md's wire format).
fn activity_event_schema() -> Value {
    let id = json!({"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"});
    let time = json!({"type": "string", "format": "date-time"});
    let status = json!({"enum": ["succeeded", "failed", "cancelled"]});
    let execution = |name: &str, kind: &str| {
        json!({"type": "object", "additionalProperties": false,
            "required": ["type", "id", "occurredAt", name],
            "properties": {"type": {"const": kind}, "id": id, "occurredAt": time, name: {"type": "string"},
                "userId": id, "agentId": id, "conversationId": id, "messageId": id, "status": status}})
    };
    json!({"oneOf": [
        {"type": "object", "additionalProperties": false,
            "required": ["type", "id", "occurredAt", "conversationId", "agentId", "source"],
            "properties": {"type": {"const": "message"}, "id": id, "occurredAt": time,
                "conversationId": id, "parentMessageId": id, "userId": id, "agentId": id,
                "source": {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"}, "modelId": id,
                "providerId": id, "projectId": id, "tokensIn": {"type": "integer", "minimum": 0},
                "tokensOut": {"type": "integer", "minimum": 0}, "cost": {"type": "number", "minimum": 0}}},
        execution("tool", "tool_execution"),
        execution("skill", "skill_execution"),
        {"type": "object", "additionalProperties": false,
            "required": ["type", "id", "occurredAt", "workflowId", "status"],
            "properties": {"type": {"const": "workflow_run"}, "id": id, "occurredAt": time,
                "workflowId": id, "userId": id, "status": status}}
    ]})
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "examples": ["invalid_request_error", "authentication_error", "permission_error", "not_found", "payload_too_large", "endpoint_removed"]},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "field": {"type": "string"}, "reason": {"type": "string"}}}}
            }
        }}
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_schema_reference_is_defined() {
        let doc = crate::web::openapi_document();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                schemas.contains_key(&name),
                "{name} is referenced but not defined"
            );
        }
    }
}
