//! The analytics dashboard: `/w/{wId}/analytics?days=N[&tool=][&skill=]`.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::chart::{BarChart, LineChart, bar_chart, line_chart};
use super::report::months;
use super::sections::{
    Data, RANGES, Section, TOP_ROWS, last_days, load, parse_days, user_level_allowed,
};
use super::{ConsoleResult, render, require_admin};
use crate::analytics::engine::Parts;
use crate::analytics::rows::Cell;
use crate::analytics::{DailyActivity, ExecutionCount};
use crate::model::Workspace;
use crate::web::AppState;

/// A link of the range selector.
struct RangeLink {
    days: u32,
    href: String,
    current: bool,
}

/// Tool or skill usage, with its drill-down.
struct Drill {
    /// `tool` or `skill`.
    param: &'static str,
    names: Vec<String>,
    selected: Option<String>,
    chart: LineChart,
    /// Each name with its executions over the range, most first.
    totals: Vec<(String, u64)>,
    csv: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage<'a> {
    csrf: &'a str,
    nav_workspace: Option<&'a Workspace>,
    ws: &'a Workspace,
    days: u32,
    ranges: Vec<RangeLink>,
    notice: Option<String>,
    start: String,
    end: String,
    members: u64,
    active_users: u64,
    volume: LineChart,
    active: LineChart,
    sources: BarChart,
    tools: Drill,
    skills: Drill,
    top_users: Vec<Vec<String>>,
    top_agents: Vec<Vec<String>>,
    months: Vec<String>,
    /// Why user-level sections are withheld, when they are.
    withheld: Option<String>,
    csv: BTreeMap<&'static str, String>,
}

/// `GET /w/{wId}/analytics`
pub async fn page(
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ConsoleResult<Response> {
    let admin = require_admin(&state, &headers, &ws).await?;
    let (days, notice) = parse_days(params.get("days").map(String::as_str));
    let range = last_days(&admin.workspace, days)?;
    let data = load(&state, &admin.workspace, &range, Parts::ALL).await?;
    let pick = |k: &str| params.get(k).filter(|s| !s.is_empty()).cloned();
    let (tool, skill) = (pick("tool"), pick("skill"));
    let dates: Vec<String> = data
        .answers
        .daily
        .iter()
        .map(|d| d.date.to_string())
        .collect();
    let base = format!("/w/{ws}/analytics");
    let keep = drill_query(tool.as_deref(), skill.as_deref());
    let csv = Section::ALL
        .iter()
        .map(|s| (s.name(), format!("{base}/{}.csv?days={days}", s.name())))
        .collect::<BTreeMap<_, _>>();
    let first = super::report::first_month(&state, &admin.workspace).await?;
    let withheld = user_level_allowed(&state, &admin.workspace)
        .err()
        .map(|e| e.to_string());
    let page = DashboardPage {
        csrf: &admin.session.csrf,
        nav_workspace: Some(&admin.workspace),
        ws: &admin.workspace,
        days,
        ranges: RANGES
            .iter()
            .map(|&d| RangeLink {
                days: d,
                href: format!("{base}?days={d}{keep}"),
                current: d == days && notice.is_none(),
            })
            .collect(),
        notice,
        start: range.start.to_string(),
        end: range.end.to_string(),
        members: data.active_members(),
        active_users: data.active_users(),
        volume: volume_chart(&dates, &data.answers.daily),
        active: active_chart(&dates, &data.answers.daily),
        sources: sources_chart(&data),
        tools: drill(
            "tool",
            &dates,
            &data.answers.tools,
            tool,
            &csv["tool_usage"],
        ),
        skills: drill(
            "skill",
            &dates,
            &data.answers.skills,
            skill,
            &csv["skill_usage"],
        ),
        top_users: match withheld {
            None => top(&data, Section::TopUsers),
            Some(_) => Vec::new(),
        },
        top_agents: top(&data, Section::TopAgents),
        months: months(first, &range.tz),
        withheld,
        csv,
    };
    Ok(render(&page))
}

fn volume_chart(dates: &[String], daily: &[DailyActivity]) -> LineChart {
    let pick = |f: fn(&DailyActivity) -> u64| daily.iter().map(f).collect::<Vec<_>>();
    line_chart(
        dates,
        &[
            ("messages", pick(|d| d.messages)),
            ("conversations", pick(|d| d.conversations)),
        ],
    )
}

fn active_chart(dates: &[String], daily: &[DailyActivity]) -> LineChart {
    let pick = |f: fn(&DailyActivity) -> u64| daily.iter().map(f).collect::<Vec<_>>();
    line_chart(
        dates,
        &[
            ("DAU", pick(|d| d.dau)),
            ("WAU", pick(|d| d.wau)),
            ("MAU", pick(|d| d.mau)),
        ],
    )
}

fn sources_chart(data: &Data) -> BarChart {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for s in &data.answers.sources {
        let label =
            crate::model::source_label(&s.source).map_or_else(|| s.source.clone(), str::to_string);
        *totals.entry(label).or_default() += s.messages;
    }
    bar_chart(totals.into_iter().collect())
}

fn drill(
    param: &'static str,
    dates: &[String],
    counts: &[ExecutionCount],
    selected: Option<String>,
    csv: &str,
) -> Drill {
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for c in counts {
        *totals.entry(c.name.clone()).or_default() += c.executions;
    }
    let names: Vec<String> = totals.keys().cloned().collect();
    let selected = selected.filter(|s| totals.contains_key(s));
    let index: HashMap<&str, usize> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut executions = vec![0u64; dates.len()];
    let mut users = vec![0u64; dates.len()];
    for c in counts
        .iter()
        .filter(|c| selected.as_ref().is_none_or(|s| *s == c.name))
    {
        if let Some(&i) = index.get(c.date.to_string().as_str()) {
            executions[i] += c.executions;
            users[i] += c.unique_users;
        }
    }
    let chart = match &selected {
        Some(_) => line_chart(
            dates,
            &[("executions", executions), ("unique users", users)],
        ),
        None => line_chart(dates, &[("executions", executions)]),
    };
    let mut totals: Vec<(String, u64)> = totals.into_iter().collect();
    totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let csv = match &selected {
        Some(name) => format!("{csv}&{param}={}", encode(name)),
        None => csv.to_string(),
    };
    Drill {
        param,
        names,
        selected,
        chart,
        totals,
        csv,
    }
}

fn top(data: &Data, section: Section) -> Vec<Vec<String>> {
    data.rows(section, None)
        .into_iter()
        .take(TOP_ROWS)
        .map(|row| row.iter().map(shown).collect())
        .collect()
}

/// A cell as the page shows it (the template escapes it).
fn shown(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) | Cell::Plain(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Money(m) => crate::analytics::format::money(*m),
        Cell::Emails(v) => v.join("; "),
        Cell::Groups(v) => v.join(", "),
        Cell::Names(v) => v.join(","),
        Cell::Counts(_) | Cell::Ratio(..) => crate::analytics::format::csv_text(cell),
    }
}

/// The drill-down parameters a range link keeps.
fn drill_query(tool: Option<&str>, skill: Option<&str>) -> String {
    let mut q = String::new();
    for (k, v) in [("tool", tool), ("skill", skill)] {
        if let Some(v) = v {
            q.push_str(&format!("&{k}={}", encode(v)));
        }
    }
    q
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("web search&x=1"), "web%20search%26x%3D1");
        assert_eq!(drill_query(Some("a b"), None), "&tool=a%20b");
    }
}
