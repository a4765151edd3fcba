//! The audit log viewer: `/w/{wId}/audit` searches the workspace's log with the API's filters
//! and cursor (newest first; `from` and `to` may also be local dates and times in the
//! workspace's zone), and `/w/{wId}/audit/export.csv` downloads what the same filters select,
//! through the API's CSV export. Enterprise plan, admins only.
//!
//! Every page that shows entries records `audit_log.viewed`, next pages included: a cursor is
//! easy to write by hand, so recording only first pages would let an admin read the log without
//! leaving a trace. Every download records `audit_log.exported`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use jiff::tz::TimeZone;
use serde_json::json;

use super::audit_rows::{EntryRow, entry_row, local_input};
use super::audit_trail::{action, record};
use super::dashboard::encode;
use super::login::ClientIp;
use super::sections::{attachment, zone};
use super::{ConsoleError, ConsoleResult, render, require_admin};
use crate::audit::event::ACTOR_KINDS;
use crate::audit::log::search_page;
use crate::audit::search::{
    DEFAULT_LIMIT, FILTER_PARAMS, SearchParams, TimeInput, parse_filter_in, parse_search_in,
};
use crate::ingest::FieldError;
use crate::model::{Plan, Workspace};
use crate::web::AppState;
use crate::web::api::audit_csv_body;

/// The name a CSV download is saved as.
pub const EXPORT_FILE: &str = "tally_audit_log.csv";

type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The search form as the admin filled it in.
struct SearchForm {
    q: String,
    from: String,
    to: String,
    action: String,
    actor: String,
    actor_type: String,
    target: String,
    limit: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    csrf: &'a str,
    nav_workspace: Option<&'a Workspace>,
    ws: &'a Workspace,
    timezone: &'a str,
    form: SearchForm,
    actor_types: &'static [&'static str],
    /// What is wrong with the search, each problem naming its parameter.
    problems: Vec<String>,
    /// The page of entries, when the search ran.
    results: Option<Vec<EntryRow>>,
    export: String,
    next: Option<String>,
    newest: Option<String>,
}

/// `GET /w/{wId}/audit`
pub async fn page(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: QueryPairs,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    require_audit_logs(&admin.workspace)?;
    let tz = zone(&admin.workspace)?;
    let raw = query_pairs(query);
    let searched = raw
        .as_ref()
        .map_err(|p| vec![p.clone()])
        .and_then(|raw| read_search(raw, &tz));
    let raw = raw.unwrap_or_default();
    let base = format!("/w/{ws}/audit");
    let mut page = AuditPage {
        csrf: &admin.session.csrf,
        nav_workspace: Some(&admin.workspace),
        ws: &admin.workspace,
        timezone: &admin.workspace.timezone,
        form: search_form(&raw, &tz),
        actor_types: ACTOR_KINDS,
        problems: Vec::new(),
        results: None,
        export: link(&format!("{base}/export.csv"), &filters_query(&raw, false)),
        next: None,
        newest: None,
    };
    let params = match searched {
        Ok(params) => params,
        Err(problems) => {
            page.problems = problems;
            return Ok(no_store(render(&page), StatusCode::BAD_REQUEST));
        }
    };
    let (entries, next) = search_page(state.store.as_ref(), &ws, &params).await?;
    let rows = entries
        .iter()
        .map(|e| entry_row(e, &tz))
        .collect::<Result<Vec<_>, _>>()?;
    let filters = filters_query(&raw, true);
    page.next = next.map(|c| link(&base, &join(&filters, &format!("cursor={}", encode(&c)))));
    page.newest = params.after.map(|_| link(&base, &filters));
    let mut event = action("audit_log.viewed", &admin, &ip, &headers);
    event.metadata.insert("query".into(), json!(clip(&filters)));
    let which = if params.after.is_some() {
        "next"
    } else {
        "first"
    };
    event.metadata.insert("page".into(), json!(which));
    event.metadata.insert("results".into(), json!(rows.len()));
    record(&state, &admin.workspace, event).await;
    page.results = Some(rows);
    Ok(no_store(render(&page), StatusCode::OK))
}

/// `GET /w/{wId}/audit/export.csv`: the entries the filters select, in leaf order.
pub async fn export(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    query: QueryPairs,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    require_audit_logs(&admin.workspace)?;
    let tz = zone(&admin.workspace)?;
    let raw = query_pairs(query).map_err(ConsoleError::BadRequest)?;
    let filter = parse_filter_in(&raw, &[], TimeInput::LocalIn(&tz))
        .map_err(|errors| ConsoleError::BadRequest(problems(errors).join(" ")))?;
    let mut event = action("audit_log.exported", &admin, &ip, &headers);
    event.metadata.insert("format".into(), json!("csv"));
    let filters = filters_query(&raw, false);
    event.metadata.insert("query".into(), json!(clip(&filters)));
    record(&state, &admin.workspace, event).await;
    let body = audit_csv_body(state.clone(), ws, filter);
    Ok(attachment(body, EXPORT_FILE, "text/csv; charset=utf-8"))
}

/// Refuses workspaces below the enterprise plan, which have no audit log.
///
/// # Errors
/// `Forbidden`, naming the plan and how to change it.
fn require_audit_logs(ws: &Workspace) -> ConsoleResult<()> {
    if ws.plan == Plan::Enterprise {
        return Ok(());
    }
    Err(ConsoleError::Forbidden(format!(
        "Audit logs need the enterprise plan; this workspace is on the {} plan. The operator can change it with `tally workspace update {} --plan enterprise`.",
        ws.plan, ws.id
    )))
}

/// The query's parameters with a value (an empty form field means "any").
fn query_pairs(query: QueryPairs) -> Result<BTreeMap<String, String>, String> {
    let Query(pairs) = query.map_err(|e| format!("The address's query cannot be read: {e}"))?;
    Ok(pairs
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect())
}

/// The search the parameters ask for, or every problem with them.
fn read_search(raw: &BTreeMap<String, String>, tz: &TimeZone) -> Result<SearchParams, Vec<String>> {
    let params = parse_search_in(raw, TimeInput::LocalIn(tz)).map_err(problems)?;
    if let (Some(from), Some(to)) = (params.filter.from, params.filter.to)
        && from >= to
    {
        return Err(vec![
            "to: must be after from (from is included, to is not), or nothing can match".into(),
        ]);
    }
    Ok(params)
}

fn problems(errors: Vec<FieldError>) -> Vec<String> {
    errors
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.reason))
        .collect()
}

/// The form's fields: times shown as the datetime-local inputs take them, in the workspace's
/// zone (RFC 3339 in the address included), so that submitting the form again keeps them.
fn search_form(raw: &BTreeMap<String, String>, tz: &TimeZone) -> SearchForm {
    let get = |name: &str| raw.get(name).cloned().unwrap_or_default();
    let time = |name: &str| {
        raw.get(name)
            .and_then(|v| local_input(v, tz))
            .unwrap_or_else(|| get(name))
    };
    SearchForm {
        q: get("q"),
        from: time("from"),
        to: time("to"),
        action: get("action"),
        actor: get("actor"),
        actor_type: get("actorType"),
        target: get("target"),
        limit: raw
            .get("limit")
            .cloned()
            .unwrap_or_else(|| DEFAULT_LIMIT.to_string()),
    }
}

/// The filters (and `limit` when asked) as a query string, in the form's order.
fn filters_query(raw: &BTreeMap<String, String>, with_limit: bool) -> String {
    let limit: &[&str] = if with_limit { &["limit"] } else { &[] };
    FILTER_PARAMS
        .iter()
        .chain(limit)
        .filter_map(|name| raw.get(*name).map(|v| format!("{name}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn join(query: &str, more: &str) -> String {
    if query.is_empty() {
        more.to_string()
    } else {
        format!("{query}&{more}")
    }
}

fn link(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A metadata value fits the audit log's limit of 1,000 characters.
fn clip(text: &str) -> String {
    text.chars().take(1_000).collect()
}

fn no_store(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn links_carry_the_filters_in_the_form_order() {
        let q = raw(&[
            ("target", "Finance team"),
            ("q", "a&b"),
            ("limit", "10"),
            ("cursor", "x"),
        ]);
        assert_eq!(
            filters_query(&q, true),
            "q=a%26b&target=Finance%20team&limit=10"
        );
        assert_eq!(filters_query(&q, false), "q=a%26b&target=Finance%20team");
        assert_eq!(link("/w/a/audit", ""), "/w/a/audit");
        assert_eq!(join("", "cursor=c"), "cursor=c");
    }

    #[test]
    fn a_range_that_ends_before_it_starts_is_a_problem() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let q = raw(&[("from", "2026-03-02"), ("to", "2026-03-01")]);
        let problems = read_search(&q, &tz).unwrap_err();
        assert!(problems[0].starts_with("to:"), "{problems:?}");
        let ok = read_search(&raw(&[("from", "2026-03-01"), ("to", "2026-03-02")]), &tz);
        assert_eq!(ok.unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn the_form_shows_times_in_the_workspace_zone() {
        let tz = TimeZone::get("Asia/Kathmandu").unwrap();
        let q = raw(&[("from", "2026-03-01T00:00:00Z"), ("to", "soon")]);
        let form = search_form(&q, &tz);
        assert_eq!(form.from, "2026-03-01T05:45:00");
        assert_eq!(form.to, "soon", "kept as typed, for the notice");
        assert_eq!(form.limit, "50");
    }
}
