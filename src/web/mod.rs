//! The HTTP surface: the JSON API under `/api/v1`, operational endpoints (`/healthz`,
//! `/readyz`, `/metrics`) and, later, the console. Handlers stay thin: parse, authorize, call
//! the core or the store, shape the answer.

mod api;
pub use api::{key_json, settings_json};
mod auth;
pub mod console;
pub mod error;
mod metrics;
pub mod openapi;
mod ops;
pub mod rate;

pub use metrics::Metrics;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config::Config;
use crate::storage::SharedStore;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    pub analytics: Arc<crate::analytics::service::Engine>,
    /// When each API key last recorded `audit_log.viewed`.
    pub audit_views: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// Console sessions and the failed-login limit.
    pub console: Arc<console::ConsoleState>,
    /// Usage export requests per key.
    pub rates: Arc<rate::RateLimiter>,
}

impl AppState {
    pub fn new(store: SharedStore, config: Config) -> Self {
        AppState {
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            analytics: Arc::default(),
            audit_views: Arc::default(),
            console: Arc::default(),
            rates: Arc::default(),
        }
    }
}

/// The API routes with their documentation.
pub fn api() -> openapi::Api<AppState> {
    api::routes()
}

/// The OpenAPI document, built once.
pub fn openapi_document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| openapi::document(&api().routes))
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(api().router)
        .merge(ops::routes())
        .merge(console::routes())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}: see /api/v1/openapi.json", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        message: format!(
            "{method} is not allowed on {}: see /api/v1/openapi.json for the methods it takes",
            uri.path()
        ),
    }
}

/// Counts and logs every request by its route template; never by raw URL, which may carry
/// query values, and never with bodies.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .record_request(&method, &route, status, elapsed);
    tracing::info!(
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Serves `app` on `listener` until SIGTERM or Ctrl-C, then lets requests in flight finish:
/// an event is acknowledged only after its commit, so none acknowledged is lost.
///
/// # Errors
/// When the server fails.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
