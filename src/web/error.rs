//! The one error type of the HTTP API and its one mapping to status codes and the JSON shape
//! `{"error": {"type", "message", "field"?, "details"?}}`. A 500 says nothing of its cause to
//! the caller; the cause is logged.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::access::Denied;
use crate::ingest::{BatchError, FieldError};
use crate::storage::StoreError;

/// Everything an API handler can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        field: Option<String>,
        details: Vec<FieldError>,
    },
    #[error("{message}")]
    Unprocessable {
        message: String,
        details: Vec<FieldError>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    EndpointRemoved(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Over a rate limit: retry after this many seconds.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    MethodNotAllowed { message: String },
    #[error("no route {0}")]
    RouteNotFound(String),
    #[error("internal error")]
    Internal(#[from] StoreError),
    /// The server secret is missing or unreadable: the operator's to fix, logged.
    #[error("internal error")]
    Secret(#[from] crate::secret::SecretError),
    /// The export store failed: logged.
    #[error("internal error")]
    Exports(#[from] crate::usage::store::ExportsError),
}

impl ApiError {
    /// A 400 naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            field: Some(field.to_string()),
            details: Vec::new(),
        }
    }

    /// A 400 listing every bad field of one request object.
    pub fn fields(details: Vec<FieldError>) -> Self {
        let first = details.first().map(|d| (d.field.clone(), d.reason.clone()));
        let (field, reason) = first.unwrap_or_default();
        ApiError::InvalidRequest {
            message: format!("{field} {reason}").trim().to_string(),
            field: Some(field),
            details,
        }
    }

    /// The status and the stable error type.
    pub fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            ApiError::Unprocessable { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error")
            }
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "authentication_error"),
            ApiError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "permission_error"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::EndpointRemoved(_) => (StatusCode::GONE, "endpoint_removed"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request_error")
            }
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error")
            }
            ApiError::Internal(_) | ApiError::Secret(_) | ApiError::Exports(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "api_error")
            }
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Invalid(m) => ApiError::Unauthenticated(m),
            Denied::OtherWorkspace => ApiError::NotFound("workspace not found".into()),
            Denied::Forbidden(m) => ApiError::PermissionDenied(m),
        }
    }
}

impl From<crate::privacy::Refused> for ApiError {
    fn from(r: crate::privacy::Refused) -> Self {
        ApiError::PermissionDenied(r.to_string())
    }
}

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            BatchError::Malformed(m) => ApiError::InvalidRequest {
                message: m,
                field: None,
                details: Vec::new(),
            },
            BatchError::Invalid(details) => ApiError::Unprocessable {
                message: format!(
                    "the batch was refused whole: {} problem(s) in {} item(s); nothing was stored",
                    details.len(),
                    distinct_indexes(&details)
                ),
                details,
            },
        }
    }
}

fn distinct_indexes(details: &[FieldError]) -> usize {
    let mut indexes: Vec<Option<usize>> = details.iter().map(|d| d.index).collect();
    indexes.dedup();
    indexes.len()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.parts();
        let mut body = json!({"type": kind, "message": self.public_message()});
        match &self {
            ApiError::InvalidRequest { field, details, .. } => {
                if let Some(field) = field {
                    body["field"] = json!(field);
                }
                if !details.is_empty() {
                    body["details"] = json!(details);
                }
            }
            ApiError::Unprocessable { details, .. } => body["details"] = json!(details),
            _ => {}
        }
        let mut response = (status, axum::Json(json!({"error": body}))).into_response();
        self.add_headers(&mut response);
        response
    }
}

impl ApiError {
    /// The message a caller may read: a 500 says nothing of its cause, which is logged.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) | ApiError::Secret(_) | ApiError::Exports(_) => {
                let cause = match self {
                    ApiError::Internal(e) => e.to_string(),
                    ApiError::Secret(e) => e.to_string(),
                    ApiError::Exports(e) => e.to_string(),
                    other => format!("{other:?}"),
                };
                tracing::error!(error = %cause, "request failed");
                "internal error: the server could not complete the request".into()
            }
            other => other.to_string(),
        }
    }

    /// Headers an error answer carries besides its body.
    pub fn add_headers(&self, response: &mut Response) {
        match self {
            ApiError::Unauthenticated(_) => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tally\""),
                );
            }
            ApiError::RateLimited { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
    }
}

/// The result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
