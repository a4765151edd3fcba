//! Logging in and out, and picking a workspace.

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, json};
use std::net::SocketAddr;
use std::sync::OnceLock;

use super::audit_trail::{ConsoleAction, record};
use super::{
    ConsoleError, ConsoleResult, admin_workspaces, check_csrf, render, secure_cookies, session,
};
use crate::model::Workspace;
use crate::web::AppState;

/// The client's address as the socket saw it ("unknown" when served without it).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        Ok(ClientIp(ip))
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/workspaces.html")]
struct PickerPage<'a> {
    csrf: &'a str,
    nav_workspace: Option<&'a Workspace>,
    workspaces: Vec<&'a Workspace>,
}

/// `GET /`: the picker when logged in, else the login form.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Redirect {
    match state.console.sessions.get(&headers) {
        Some(s) if s.email.is_some() => Redirect::to("/workspaces"),
        _ => Redirect::to("/login"),
    }
}

/// `GET /login`
pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(s) = state.console.sessions.get(&headers) {
        if s.email.is_some() {
            return Redirect::to("/workspaces").into_response();
        }
        return render(&LoginPage {
            csrf: &s.csrf,
            email: "",
            problem: None,
        });
    }
    let (id, s) = state.console.sessions.start(None);
    let page = render(&LoginPage {
        csrf: &s.csrf,
        email: "",
        problem: None,
    });
    with_cookie(page, Some(&id), secure_cookies(&state))
}

fn with_cookie(mut response: Response, id: Option<&str>, secure: bool) -> Response {
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(id, secure)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// A hash to verify against when the email has no password, so that an unknown email takes
/// as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crate::access::hash_password("decoy password").unwrap_or_default())
}

/// `POST /login`
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(creds): Form<Credentials>,
) -> ConsoleResult<Response> {
    let session = state.console.sessions.get(&headers).ok_or_else(|| {
        ConsoleError::Forbidden(
            "Your login form expired. Open the login page again and sign in.".into(),
        )
    })?;
    check_csrf(&session, &creds.csrf)?;
    let email = creds.email.trim().to_string();
    let limits = [
        format!("email:{}", email.to_lowercase()),
        format!("ip:{ip}"),
    ];
    if state.console.limiter.blocked(&limits) {
        return Err(ConsoleError::TooManyAttempts(format!(
            "Too many failed logins for this account or from this address. Wait {} minutes and try again.",
            session::FAILURE_WINDOW.as_secs() / 60
        )));
    }
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    if !password_matches(&state, &email, creds.password).await? {
        state.console.limiter.fail(&limits);
        record_everywhere(&state, &email, "user.login_failed", &ip, agent).await?;
        let mut page = render(&LoginPage {
            csrf: &session.csrf,
            email: &email,
            problem: Some("Wrong email or password."),
        });
        *page.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(page);
    }
    let workspaces = admin_workspaces(state.store.as_ref(), &email).await?;
    if workspaces.is_empty() {
        return Err(not_an_admin());
    }
    record_everywhere(&state, &email, "user.login", &ip, agent).await?;
    state.console.sessions.end(&headers);
    let (id, _) = state.console.sessions.start(Some(email));
    let target = match workspaces.as_slice() {
        [(ws, _)] => format!("/w/{}/analytics", ws.id),
        _ => "/workspaces".to_string(),
    };
    let response = Redirect::to(&target).into_response();
    Ok(with_cookie(response, Some(&id), secure_cookies(&state)))
}

fn not_an_admin() -> ConsoleError {
    ConsoleError::Forbidden(
        "This account is not an active admin of any workspace. The console is for workspace admins only; ask one of them for the admin role.".into(),
    )
}

async fn password_matches(state: &AppState, email: &str, password: String) -> ConsoleResult<bool> {
    let stored = state.store.password_hash(email).await?;
    let known = stored.is_some();
    let hash = stored.unwrap_or_else(|| decoy_hash().to_string());
    let ok = tokio::task::spawn_blocking(move || crate::access::verify_password(&password, &hash))
        .await
        .map_err(|e| ConsoleError::Failed(e.to_string()))?;
    Ok(known && ok)
}

/// Records a login or failed login in each enterprise workspace where the email is an admin.
async fn record_everywhere(
    state: &AppState,
    email: &str,
    action: &'static str,
    ip: &str,
    agent: Option<&str>,
) -> ConsoleResult<()> {
    for (ws, user_id) in admin_workspaces(state.store.as_ref(), email).await? {
        let mut metadata = Map::new();
        metadata.insert("method".into(), json!("password"));
        let event = ConsoleAction {
            action,
            user_id: &user_id,
            location: ip,
            user_agent: agent,
            targets: vec![json!({"type": "workspace", "id": ws.id})],
            metadata,
        };
        record(state, &ws, event).await;
    }
    Ok(())
}

/// The logout form's field.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> ConsoleResult<Response> {
    if let Some(session) = state.console.sessions.get(&headers) {
        check_csrf(&session, &form.csrf)?;
        state.console.sessions.end(&headers);
    }
    let response = Redirect::to("/login").into_response();
    Ok(with_cookie(response, None, secure_cookies(&state)))
}

/// `GET /workspaces`: where a person who is admin in several workspaces picks one.
pub async fn picker(State(state): State<AppState>, headers: HeaderMap) -> ConsoleResult<Response> {
    let session = state
        .console
        .sessions
        .get(&headers)
        .filter(|s| s.email.is_some())
        .ok_or(ConsoleError::LoginRequired)?;
    let email = session.email.clone().unwrap_or_default();
    let found = admin_workspaces(state.store.as_ref(), &email).await?;
    if found.is_empty() {
        return Err(not_an_admin());
    }
    Ok(render(&PickerPage {
        csrf: &session.csrf,
        nav_workspace: None,
        workspaces: found.iter().map(|(ws, _)| ws).collect(),
    }))
}
