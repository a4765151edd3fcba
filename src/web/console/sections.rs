//! The dashboard's sections as rows: the same numbers as the analytics export (one engine
//! answers both), shaped into each section's CSV columns, and the per-section CSV download.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::audit_trail::{action, record};
use super::login::ClientIp;
use super::{ConsoleError, ConsoleResult, require_admin};
use crate::analytics::engine::Parts;
use crate::analytics::format::csv;
use crate::analytics::rows::{Cell, table_rows};
use crate::analytics::service::{Directories, directories};
use crate::analytics::{Answers, Query as Range, Table};
use crate::model::Workspace;
use crate::privacy::{Policy, UserColumn, UserColumns};
use crate::web::AppState;
use serde_json::json;

/// The ranges the dashboard offers, in days; anything else falls back to [`DEFAULT_DAYS`].
pub const RANGES: &[u32] = &[7, 14, 30, 90];
pub const DEFAULT_DAYS: u32 = 30;
/// Rows the dashboard's top lists show; their CSVs hold all.
pub const TOP_ROWS: usize = 100;

/// A dashboard section: an element `id="{name}"` and a CSV `{name}.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Activity,
    Sources,
    ToolUsage,
    SkillUsage,
    TopUsers,
    TopAgents,
}

impl Section {
    pub const ALL: &'static [Section] = &[
        Section::Overview,
        Section::Activity,
        Section::Sources,
        Section::ToolUsage,
        Section::SkillUsage,
        Section::TopUsers,
        Section::TopAgents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Overview => "overview",
            Section::Activity => "activity",
            Section::Sources => "sources",
            Section::ToolUsage => "tool_usage",
            Section::SkillUsage => "skill_usage",
            Section::TopUsers => "top_users",
            Section::TopAgents => "top_agents",
        }
    }

    /// The parts of the answers the section is made of.
    pub fn parts(self) -> Parts {
        let table = match self {
            Section::Overview | Section::TopUsers => Table::Users,
            Section::Activity => Table::UsageMetrics,
            Section::Sources => Table::Source,
            Section::ToolUsage => Table::ToolUsage,
            Section::SkillUsage => Table::SkillUsage,
            Section::TopAgents => Table::Agents,
        };
        Parts::for_table(table)
    }

    /// The CSV columns: the analytics export's names.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Section::Overview => &["members", "activeUsers"],
            Section::Activity => &[
                "date",
                "messages",
                "conversations",
                "activeUsers",
                "dau",
                "wau",
                "mau",
            ],
            Section::Sources => Table::Source.columns(),
            Section::ToolUsage => Table::ToolUsage.columns(),
            Section::SkillUsage => Table::SkillUsage.columns(),
            Section::TopUsers => &[
                "userId",
                "userName",
                "userEmail",
                "messageCount",
                "distinctAgents",
            ],
            Section::TopAgents => &["agentId", "name", "messages", "distinctUsersReached"],
        }
    }

    /// The columns that identify people, for the privacy policy.
    pub fn user_columns(self) -> UserColumns {
        match self {
            Section::TopUsers => &[
                (0, UserColumn::Id),
                (1, UserColumn::NameOf(0)),
                (2, UserColumn::Email),
            ],
            _ => &[],
        }
    }

    /// The file a download is saved as.
    pub fn file_name(self, days: u32) -> String {
        format!("tally_{}_last_{days}_days.csv", self.name())
    }
}

/// The `days` parameter: one of [`RANGES`], or [`DEFAULT_DAYS`] with a notice saying why.
pub fn parse_days(raw: Option<&str>) -> (u32, Option<String>) {
    match raw {
        None => (DEFAULT_DAYS, None),
        Some(text) => match text.parse::<u32>() {
            Ok(days) if RANGES.contains(&days) => (days, None),
            _ => (
                DEFAULT_DAYS,
                Some(format!(
                    "days={text} is not one of 7, 14, 30 or 90: showing the last {DEFAULT_DAYS} days."
                )),
            ),
        },
    }
}

/// The workspace's zone.
///
/// # Errors
/// A stored zone the bundled database does not know (a bug or a hand edit).
pub fn zone(ws: &Workspace) -> ConsoleResult<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(&ws.timezone)
        .map_err(|e| ConsoleError::Failed(format!("workspace timezone: {e}")))
}

/// The last `days` whole local days ending today, in the workspace's zone.
///
/// # Errors
/// When the workspace's zone is unknown.
pub fn last_days(ws: &Workspace, days: u32) -> ConsoleResult<Range> {
    let tz = zone(ws)?;
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let start = today
        .checked_sub(jiff::Span::new().days(i64::from(days) - 1))
        .map_err(|e| ConsoleError::Failed(e.to_string()))?;
    Ok(Range::new(tz, start, today))
}

/// Everything the sections are made of.
pub struct Data {
    pub answers: Answers,
    pub dirs: Directories,
    pub tz: jiff::tz::TimeZone,
    /// How user-identifying cells leave.
    pub policy: Policy,
}

/// Loads the numbers and directories for a range.
///
/// # Errors
/// When the store fails.
pub async fn load(
    state: &AppState,
    ws: &Workspace,
    range: &Range,
    parts: Parts,
) -> ConsoleResult<Data> {
    let answers = state
        .analytics
        .answers(state.store.as_ref(), &ws.id, range, parts)
        .await?;
    let dirs = directories(state.store.as_ref(), &ws.id).await?;
    Ok(Data {
        answers,
        dirs,
        tz: range.tz.clone(),
        policy: Policy::of(ws, &state.config)?,
    })
}

impl Data {
    /// Members with status `active`.
    pub fn active_members(&self) -> u64 {
        self.dirs
            .members
            .iter()
            .filter(|m| m.text("status") == Some("active"))
            .count() as u64
    }

    /// People with at least one message in the range.
    pub fn active_users(&self) -> u64 {
        self.answers
            .users
            .values()
            .filter(|u| u.messages > 0)
            .count() as u64
    }

    fn table(&self, table: Table) -> Vec<Vec<Cell>> {
        table_rows(
            table,
            &self.answers,
            &self.dirs.agents,
            &self.dirs.members,
            &self.tz,
        )
    }

    /// A section's rows, shaped by the workspace's privacy policy; `only` keeps one tool or
    /// skill.
    pub fn rows(&self, section: Section, only: Option<&str>) -> Vec<Vec<Cell>> {
        let mut rows = self.raw_rows(section, only);
        self.policy.shape(section.user_columns(), &mut rows);
        rows
    }

    fn raw_rows(&self, section: Section, only: Option<&str>) -> Vec<Vec<Cell>> {
        match section {
            Section::Overview => vec![vec![
                Cell::Int(self.active_members()),
                Cell::Int(self.active_users()),
            ]],
            Section::Activity => self
                .answers
                .daily
                .iter()
                .map(|d| {
                    let n = [d.messages, d.conversations, d.dau, d.dau, d.wau, d.mau];
                    let mut row = vec![Cell::Plain(d.date.to_string())];
                    row.extend(n.into_iter().map(Cell::Int));
                    row
                })
                .collect(),
            Section::Sources => self.table(Table::Source),
            Section::ToolUsage => only_named(self.table(Table::ToolUsage), only),
            Section::SkillUsage => only_named(self.table(Table::SkillUsage), only),
            Section::TopUsers => self.top_users(),
            Section::TopAgents => self
                .table(Table::Agents)
                .into_iter()
                .map(|r| pick(r, &[0, 1, 8, 9]))
                .collect(),
        }
    }

    fn top_users(&self) -> Vec<Vec<Cell>> {
        self.table(Table::Users)
            .into_iter()
            .map(|r| {
                let agents = match &r[0] {
                    Cell::Plain(id) => self.answers.users.get(id).map_or(0, |u| u.distinct_agents),
                    _ => 0,
                };
                let mut row = pick(r, &[0, 1, 2, 5]);
                row.push(Cell::Int(agents));
                row
            })
            .collect()
    }
}

fn pick(row: Vec<Cell>, columns: &[usize]) -> Vec<Cell> {
    columns.iter().map(|&i| row[i].clone()).collect()
}

fn only_named(rows: Vec<Vec<Cell>>, only: Option<&str>) -> Vec<Vec<Cell>> {
    match only {
        None => rows,
        Some(name) => rows
            .into_iter()
            .filter(|r| matches!(&r[1], Cell::Text(n) if n == name))
            .collect(),
    }
}

/// `GET /w/{wId}/analytics/{section}.csv?days=N[&tool=|&skill=]`
pub async fn download(
    State(state): State<AppState>,
    Path((ws, file)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    if file == "report" {
        return report_form(&ws, &params);
    }
    let section = file
        .strip_suffix(".csv")
        .and_then(|name| Section::ALL.iter().copied().find(|s| s.name() == name))
        .ok_or_else(|| {
            let names: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
            ConsoleError::NotFound(format!(
                "No such download: use one of {}.csv",
                names.join(".csv, ")
            ))
        })?;
    if section == Section::TopUsers {
        user_level_allowed(&state, &admin.workspace)?;
    }
    let (days, _) = parse_days(params.get("days").map(String::as_str));
    let only = match section {
        Section::ToolUsage => params.get("tool"),
        Section::SkillUsage => params.get("skill"),
        _ => None,
    }
    .filter(|s| !s.is_empty());
    let range = last_days(&admin.workspace, days)?;
    let data = load(&state, &admin.workspace, &range, section.parts()).await?;
    let body = csv(
        section.columns(),
        &data.rows(section, only.map(String::as_str)),
    );
    let mut event = action("analytics.exported", &admin, &ip, &headers);
    event
        .metadata
        .insert("section".into(), json!(section.name()));
    event
        .metadata
        .insert("start_date".into(), json!(range.start.to_string()));
    event
        .metadata
        .insert("end_date".into(), json!(range.end.to_string()));
    event
        .metadata
        .insert("timezone".into(), json!(admin.workspace.timezone));
    event.metadata.insert("format".into(), json!("csv"));
    record(&state, &admin.workspace, event).await;
    Ok(attachment(
        body,
        &section.file_name(days),
        "text/csv; charset=utf-8",
    ))
}

/// Whether the top users may leave under the workspace's privacy policy (not under
/// `excluded`).
///
/// # Errors
/// `Forbidden`, naming the workspace's privacy setting.
pub fn user_level_allowed(state: &AppState, ws: &Workspace) -> ConsoleResult<()> {
    Ok(Policy::of(ws, &state.config)?.admit("top users")?)
}

/// The report form without JavaScript: `report?month=YYYY-MM[&includeInactive=true]` goes
/// to the month's ZIP.
fn report_form(ws: &str, params: &HashMap<String, String>) -> ConsoleResult<Response> {
    let month = params.get("month").map_or("", String::as_str);
    let well_formed = month.len() == 7
        && month.bytes().enumerate().all(|(i, b)| {
            if i == 4 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(ConsoleError::BadRequest(
            "Pick a month (YYYY-MM) for the report.".into(),
        ));
    }
    let all = params.get("includeInactive").is_some_and(|v| v == "true");
    let query = if all { "?includeInactive=true" } else { "" };
    let to = format!("/w/{ws}/analytics/report/{month}.zip{query}");
    Ok(axum::response::Redirect::to(&to).into_response())
}

/// A download response.
pub fn attachment(
    body: impl Into<axum::body::Body>,
    name: &str,
    content_type: &'static str,
) -> Response {
    let mut response = body.into().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_fall_back_to_thirty_with_a_notice() {
        assert_eq!(parse_days(Some("14")), (14, None));
        assert_eq!(parse_days(None), (30, None));
        let (days, notice) = parse_days(Some("5"));
        assert_eq!(days, 30);
        assert!(notice.unwrap().contains("days=5"));
        assert_eq!(parse_days(Some("abc")).0, 30);
    }

    #[test]
    fn files_are_named_after_section_and_range() {
        assert_eq!(
            Section::TopUsers.file_name(7),
            "tally_top_users_last_7_days.csv"
        );
    }
}
