//! The usage export (Langdock-compatible): `POST /api/v1/export/{dataType}[/csv|/json]` with a
//! `usage_export` key (the key names the workspace), and `GET /api/v1/export/file` serving a
//! written file through its signed link. Errors on the export routes use Langdock's flat
//! envelope `{"error": title, "message", "type"}` so its clients keep working.

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::access::Need;
use crate::analytics::format::json_row;
use crate::analytics::rows::Cell;
use crate::audit::own::{Actor, OwnAction, record_or_log};
use crate::model::{Scope, Workspace};
use crate::privacy::Policy;
use crate::storage::ApiKey;
use crate::usage::files::{ExportFiles, LinkError};
use crate::usage::range::{UsageRange, parse};
use crate::usage::store::Exports;
use crate::usage::{DataType, service};
use crate::web::AppState;
use crate::web::auth::{Client, require_key_workspace};
use crate::web::error::ApiError;

/// An answer other than success, in Langdock's flat envelope.
#[derive(Debug)]
pub enum UsageError {
    /// The range holds no activity of the kind the data type counts.
    NoData,
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for UsageError {
    fn from(e: E) -> Self {
        UsageError::Api(e.into())
    }
}

impl IntoResponse for UsageError {
    fn into_response(self) -> Response {
        let error = match self {
            UsageError::NoData => {
                let body = json!({"error": "No data found",
                    "message": "No usage data found for the selected period", "type": "not_found"});
                return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
            }
            UsageError::Api(error) => error,
        };
        let (status, kind) = error.parts();
        let title = match status.as_u16() {
            400 => "Invalid request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not found",
            429 => "Too many requests",
            _ => "Internal server error",
        };
        let mut body = json!({"error": title, "message": error.public_message(), "type": kind});
        if let ApiError::InvalidRequest { field, details, .. } = &error {
            if let Some(field) = field {
                body["field"] = json!(field);
            }
            if !details.is_empty() {
                body["details"] = json!(details);
            }
        }
        let mut response = (status, axum::Json(body)).into_response();
        error.add_headers(&mut response);
        response
    }
}

/// How the answer carries the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    File,
    Inline,
}

/// `POST /api/v1/export/{dataType}`: writes the file, like `/csv`.
pub async fn export(
    State(state): State<AppState>,
    Path(data_type): Path<String>,
    Client(origin): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UsageError> {
    run(state, &data_type, Output::File, origin, &headers, &body).await
}

/// `POST /api/v1/export/{dataType}/{csv|json}`
pub async fn export_as(
    State(state): State<AppState>,
    Path((data_type, format)): Path<(String, String)>,
    Client(origin): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, UsageError> {
    let output = match format.as_str() {
        "csv" => Output::File,
        "json" => Output::Inline,
        other => {
            return Err(ApiError::RouteNotFound(format!(
                "no usage export format {other:?}: use /api/v1/export/{data_type}/csv or /json"
            ))
            .into());
        }
    };
    run(state, &data_type, output, origin, &headers, &body).await
}

async fn run(
    state: AppState,
    data_type: &str,
    output: Output,
    origin: crate::audit::own::Origin,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, UsageError> {
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::PermissionDenied(
            "the usage export API is for servers and scripts: requests from a browser origin are refused, so an API key never has to live in a web page".into(),
        ).into());
    }
    let (key, ws) = require_key_workspace(&state, headers, Need::Scope(Scope::UsageExport)).await?;
    let per_minute = state.config.usage_export_rate_per_minute;
    if let Err(wait) = state
        .rates
        .take(&key.id, per_minute, std::time::Instant::now())
    {
        return Err(ApiError::RateLimited {
            message: format!("this key may make {per_minute} usage export requests a minute: retry after {wait} s"),
            retry_after: wait,
        }
        .into());
    }
    let data = DataType::from_path(data_type).ok_or_else(|| {
        let names: Vec<&str> = DataType::ALL.iter().map(|d| d.name()).collect();
        ApiError::RouteNotFound(format!(
            "no usage export {data_type:?}: use one of {}, or agents",
            names.join(", ")
        ))
    })?;
    let request: Value = serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequest {
        message: format!("the body must be JSON {{\"from\": {{\"date\", \"timezone\"}}, \"to\": {{\"date\", \"timezone\"}}}}: {e}"),
        field: None,
        details: Vec::new(),
    })?;
    let range = parse(&request).map_err(ApiError::fields)?;
    let policy = Policy::of(&ws, &state.config)?;
    if data.is_user_level() {
        policy.admit(&format!("the {} export", data.name()))?;
    }
    let computed = service::export(state.store.as_ref(), &ws.id, &range, data).await?;
    let mut rows = computed.rows.ok_or(UsageError::NoData)?;
    let limit = state.config.export_max_rows;
    if rows.len() as u64 > limit {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "Export too large: {} rows exceeds limit of {limit}. Please narrow the date range.",
                rows.len()
            ),
            field: None,
            details: Vec::new(),
        }
        .into());
    }
    policy.shape(data.user_columns(), &mut rows);
    let done = Done {
        state: &state,
        ws: &ws,
        key: &key,
        origin,
        data,
        range: &range,
        base: public_base(&state, headers),
    };
    match output {
        Output::Inline => Ok(done.inline(&rows).await),
        Output::File => done.file(rows).await,
    }
}

/// A computed export, ready to answer.
struct Done<'a> {
    state: &'a AppState,
    ws: &'a Workspace,
    key: &'a ApiKey,
    origin: crate::audit::own::Origin,
    data: DataType,
    range: &'a UsageRange,
    /// Where links point: the configured public URL, else the host the request named.
    base: String,
}

/// The base URL of links: `public_url` when configured, else the request's `Host` over
/// plain HTTP (a server behind a TLS proxy sets `public_url`).
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        });
    match host {
        Some(host) => format!("http://{host}"),
        None => state.config.base_url(),
    }
}

impl Done<'_> {
    async fn inline(self, rows: &[Vec<Cell>]) -> Response {
        let columns = self.data.columns();
        let values: Vec<Value> = rows.iter().map(|r| json_row(columns, r)).collect();
        self.record(rows.len(), "").await;
        axum::Json(json!({
            "success": true,
            "data": values,
            "metadata": {"dataType": self.data.name(), "recordCount": rows.len()},
        }))
        .into_response()
    }

    async fn file(self, rows: Vec<Vec<Cell>>) -> Result<Response, UsageError> {
        let exports = Exports::from_config(&self.state.config).map_err(ApiError::from)?;
        let name = self.data.name();
        let random = crate::access::random_alphanumeric(8);
        let path = format!(
            "{name}-usage/{}/{name}-usage-{}-{}-{random}.csv",
            self.ws.id, self.range.from_date, self.range.to_date
        );
        let count = rows.len();
        exports
            .write(&path, self.data.columns(), rows)
            .await
            .map_err(ApiError::from)?;
        let ttl = std::time::Duration::from_secs(self.state.config.export_link_ttl_seconds);
        let url = exports
            .link(&self.base, &path, ttl)
            .await
            .map_err(ApiError::from)?;
        self.record(count, &path).await;
        Ok(axum::Json(json!({
            "success": true,
            "data": {
                "filePath": path,
                "downloadUrl": url,
                "dataType": name,
                "recordCount": count,
                "dateRange": {"from": self.range.from_text(), "to": self.range.to_text()},
            },
        }))
        .into_response())
    }

    async fn record(&self, count: usize, path: &str) {
        let action = OwnAction::new("usage.exported", Actor::key(self.key))
            .target("workspace", &self.ws.id, Some(&self.ws.name))
            .meta("data_type", self.data.name())
            .meta("from", self.range.from_text())
            .meta("to", self.range.to_text())
            .meta("record_count", count as u64)
            .meta("file_path", path)
            .from(self.origin.clone());
        record_or_log(
            self.state.store.as_ref(),
            &self.state.config,
            self.ws,
            action,
        )
        .await;
    }
}

/// The query of a download link.
#[derive(Debug, serde::Deserialize)]
pub struct Link {
    path: String,
    expires: i64,
    signature: String,
}

/// `GET /api/v1/export/file?path=&expires=&signature=`
pub async fn download(
    State(state): State<AppState>,
    query: Result<Query<Link>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(link) = query.map_err(|_| {
        ApiError::PermissionDenied(
            "a download link needs path, expires and signature, as the export answered them".into(),
        )
    })?;
    let files = ExportFiles::from_config(&state.config)?;
    let now = jiff::Timestamp::now().as_second();
    files
        .check(&link.path, link.expires, &link.signature, now)
        .map_err(|e: LinkError| ApiError::PermissionDenied(e.to_string()))?;
    let file = files.locate(&link.path).ok_or_else(|| {
        ApiError::NotFound(format!(
            "the export file is gone: files are deleted {} hours after they are written; request the export again",
            state.config.export_retention_hours
        ))
    })?;
    let file = tokio::fs::File::open(&file).await.map_err(|_| {
        ApiError::NotFound("the export file is gone: request the export again".into())
    })?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 16];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let name = link.path.rsplit('/').next().unwrap_or("export.csv");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
