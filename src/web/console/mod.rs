//! The admin console: server-rendered pages for workspace admins (login, the analytics
//! dashboard with its CSV downloads and monthly ZIP report, the audit log viewer, settings). Pages and SVG charts go
//! through askama's compiled, auto-escaping templates, so user data is always escaped; no
//! HTML is built with `format!`. Every page reads without JavaScript.
//!
//! Access: a session cookie (see [`session`]) names a person by email; each workspace route
//! checks, on every request, that this email is an active admin member of that workspace, so a
//! demotion or revocation takes effect at once.

mod audit_rows;
mod audit_trail;
mod audit_viewer;
mod chart;
mod dashboard;
mod login;
mod report;
pub(crate) mod sections;
pub mod session;
mod settings;
mod streams;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::ingest::directory::DirectoryKind;
use crate::model::Workspace;
use crate::storage::{Store, StoreError};
use crate::web::AppState;
use session::{LoginLimiter, Session, Sessions};

/// What the console keeps between requests.
#[derive(Default)]
pub struct ConsoleState {
    pub sessions: Sessions,
    pub limiter: LoginLimiter,
}

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/workspaces", get(login::picker))
        .route("/w/{ws}/analytics", get(dashboard::page))
        .route("/w/{ws}/analytics/{file}", get(sections::download))
        .route("/w/{ws}/analytics/report/{file}", get(report::download))
        .route("/w/{ws}/audit", get(audit_viewer::page))
        .route("/w/{ws}/audit/export.csv", get(audit_viewer::export))
        .route(
            "/w/{ws}/settings",
            get(settings::page).post(settings::update),
        )
        .route("/w/{ws}/settings/keys", post(settings::create_key))
        .route("/w/{ws}/settings/keys/revoke", post(settings::revoke_key))
        .route("/w/{ws}/settings/streams", post(streams::create))
        .route("/w/{ws}/settings/streams/{id}", post(streams::act))
}

/// Everything a console handler can answer instead of its page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session: back to the login form.
    #[error("log in first")]
    LoginRequired,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooManyAttempts(String),
    #[error("internal error")]
    Internal(#[from] StoreError),
    #[error("internal error: {0}")]
    Failed(String),
}

impl From<crate::privacy::Refused> for ConsoleError {
    fn from(r: crate::privacy::Refused) -> Self {
        ConsoleError::Forbidden(r.to_string())
    }
}

impl From<crate::secret::SecretError> for ConsoleError {
    fn from(e: crate::secret::SecretError) -> Self {
        ConsoleError::Failed(e.to_string())
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            ConsoleError::LoginRequired => return Redirect::to("/login").into_response(),
            ConsoleError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            ConsoleError::Forbidden(_) => (StatusCode::FORBIDDEN, "Access denied"),
            ConsoleError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            ConsoleError::TooManyAttempts(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "Too many failed logins")
            }
            ConsoleError::Internal(_) | ConsoleError::Failed(_) => {
                tracing::error!(error = %self, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
        };
        let message = match &self {
            ConsoleError::Internal(_) | ConsoleError::Failed(_) => {
                "The server could not complete the request. Try again in a moment.".to_string()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            render(&ErrorPage {
                title,
                message: &message,
            }),
        )
            .into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry = session::FAILURE_WINDOW.as_secs().to_string();
            if let Ok(v) = HeaderValue::from_str(&retry) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The result of a console handler.
pub type ConsoleResult<T> = Result<T, ConsoleError>;

/// A rendered page; a template that fails to render is a bug, answered as a 500.
fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// An admin at work in one workspace.
pub struct Admin {
    pub session: Session,
    pub user_id: String,
    pub workspace: Workspace,
}

/// The id of the active admin member with this email in `workspace`, if there is one.
///
/// # Errors
/// When the store fails.
pub async fn admin_member(
    store: &dyn Store,
    workspace: &str,
    email: &str,
) -> Result<Option<String>, StoreError> {
    let members = store.directory(workspace, DirectoryKind::Members).await?;
    Ok(members
        .into_iter()
        .find(|m| {
            m.text("email")
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                && m.text("role") == Some("admin")
                && m.text("status") == Some("active")
        })
        .map(|m| m.id))
}

/// The workspaces where this email is an active admin, with the member's id in each.
///
/// # Errors
/// When the store fails.
pub async fn admin_workspaces(
    store: &dyn Store,
    email: &str,
) -> Result<Vec<(Workspace, String)>, StoreError> {
    let mut found = Vec::new();
    for ws in store.workspaces().await? {
        if let Some(user) = admin_member(store, &ws.id, email).await? {
            found.push((ws, user));
        }
    }
    Ok(found)
}

/// The admin a request's session names in `workspace`.
///
/// # Errors
/// [`ConsoleError::LoginRequired`] without a logged-in session; `Forbidden` when the person is
/// not an active admin there (an unknown workspace answers the same, so ids cannot be probed).
pub async fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    workspace: &str,
) -> ConsoleResult<Admin> {
    let session = state
        .console
        .sessions
        .get(headers)
        .filter(|s| s.email.is_some())
        .ok_or(ConsoleError::LoginRequired)?;
    let email = session.email.clone().unwrap_or_default();
    let denied = || {
        ConsoleError::Forbidden(
            "Only active admins of this workspace can open its console. Ask an admin to change your role, or pick another workspace.".into(),
        )
    };
    let Some(ws) = state.store.workspace(workspace).await? else {
        return Err(denied());
    };
    let user_id = admin_member(state.store.as_ref(), workspace, &email)
        .await?
        .ok_or_else(denied)?;
    Ok(Admin {
        session,
        user_id,
        workspace: ws,
    })
}

/// Refuses a form whose CSRF token is not the session's.
///
/// # Errors
/// `Forbidden`, saying to reload the page.
pub fn check_csrf(session: &Session, token: &str) -> ConsoleResult<()> {
    if session.csrf_matches(token) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "The form's security token is missing or stale. Reload the page and submit it again."
                .into(),
        ))
    }
}

/// Whether cookies must be `Secure`: the public URL is https.
fn secure_cookies(state: &AppState) -> bool {
    state.config.base_url().starts_with("https://")
}
