//! Rows of the analytics tables: numbers joined with directory data, shaped into typed cells.
//! Members and agents without messages in the range are listed too (with zeros), and so are
//! users and agents that sent messages but are unknown to the directory.

use jiff::tz::TimeZone;
use std::collections::{BTreeSet, HashMap};

use super::{AgentStats, Answers, ExecutionCount, Table, UserStats};
use crate::ingest::directory::{DirValue, DirectoryRecord};
use crate::model::Message;

/// One typed cell. Writers decide how each prints (see `format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Null,
    /// Free text from people: names, descriptions, emails. Formula-protected in CSV.
    Text(String),
    /// An id, word or date: printed as is.
    Plain(String),
    Int(u64),
    /// US dollars in millionths.
    Money(i64),
    /// Emails (CSV: joined with "; ").
    Emails(Vec<String>),
    /// Groups (CSV: joined with ", ").
    Groups(Vec<String>),
    /// Tool or skill names (CSV: joined with ",").
    Names(Vec<String>),
    /// Counts by key (CSV: a JSON object as text; JSON: an object), in the order given.
    Counts(Vec<(String, u64)>),
    /// A ratio of two counts with 4 decimals; the denominator is never 0 (callers write
    /// `Null` when the ratio is undefined).
    Ratio(u64, u64),
}

/// Directory entries by id.
pub type Directory<'a> = HashMap<&'a str, &'a DirectoryRecord>;

/// Indexes directory records by id.
pub fn index(records: &[DirectoryRecord]) -> Directory<'_> {
    records.iter().map(|r| (r.id.as_str(), r)).collect()
}

/// An instant as RFC 3339 with the zone's offset.
pub fn stamp(us: i64, tz: &TimeZone) -> String {
    let zoned = crate::model::from_micros(us).to_zoned(tz.clone());
    zoned.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
}

/// An instant as Dust writes `createdAt`: `YYYY-MM-DD HH:mm:ss` local (digits written directly:
/// the messages table writes one per row).
pub fn local_time(us: i64, tz: &TimeZone) -> String {
    let at = crate::model::from_micros(us);
    let t = tz.to_offset(at).to_datetime(at);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.strftime("%Y-%m-%d %H:%M:%S").to_string();
    }
    let mut out = String::with_capacity(19);
    let parts = [
        (year / 100, ""),
        (year % 100, "-"),
        (i16::from(t.month()), "-"),
        (i16::from(t.day()), " "),
        (i16::from(t.hour()), ":"),
        (i16::from(t.minute()), ":"),
        (i16::from(t.second()), ""),
    ];
    for (n, after) in parts {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
        out.push_str(after);
    }
    out
}

/// A directory field as free text, or `Null`.
pub fn text(record: Option<&&DirectoryRecord>, wire: &str) -> Cell {
    match record.and_then(|r| r.get(wire)) {
        Some(DirValue::Text(s)) => Cell::Text(s.clone()),
        _ => Cell::Null,
    }
}

fn plain(record: Option<&&DirectoryRecord>, wire: &str) -> Cell {
    match record.and_then(|r| r.get(wire)) {
        Some(DirValue::Text(s)) => Cell::Plain(s.clone()),
        _ => Cell::Null,
    }
}

/// A directory time as RFC 3339 in `tz`, or `Null`.
pub fn time(record: Option<&&DirectoryRecord>, wire: &str, tz: &TimeZone) -> Cell {
    match record.and_then(|r| r.get(wire)) {
        Some(DirValue::Time(us)) => Cell::Plain(stamp(*us, tz)),
        _ => Cell::Null,
    }
}

fn list(record: Option<&&DirectoryRecord>, wire: &str, make: fn(Vec<String>) -> Cell) -> Cell {
    match record.and_then(|r| r.get(wire)) {
        Some(DirValue::List(items)) => make(items.clone()),
        _ => Cell::Null,
    }
}

/// The rows of a daily or entity table (everything but `messages`).
pub fn table_rows(
    table: Table,
    answers: &Answers,
    agents: &[DirectoryRecord],
    members: &[DirectoryRecord],
    tz: &TimeZone,
) -> Vec<Vec<Cell>> {
    let date = |d: jiff::civil::Date| Cell::Plain(d.to_string());
    match table {
        Table::UsageMetrics => answers
            .daily
            .iter()
            .map(|d| {
                vec![
                    date(d.date),
                    Cell::Int(d.messages),
                    Cell::Int(d.conversations),
                    Cell::Int(d.dau),
                ]
            })
            .collect(),
        Table::ActiveUsers => answers
            .daily
            .iter()
            .map(|d| {
                vec![
                    date(d.date),
                    Cell::Int(d.dau),
                    Cell::Int(d.wau),
                    Cell::Int(d.mau),
                ]
            })
            .collect(),
        Table::Source => answers
            .sources
            .iter()
            .map(|s| {
                vec![
                    date(s.date),
                    Cell::Plain(s.source.clone()),
                    Cell::Int(s.messages),
                ]
            })
            .collect(),
        Table::ToolUsage => execution_rows(&answers.tools),
        Table::SkillUsage => execution_rows(&answers.skills),
        Table::Agents => agent_rows(&answers.agents, agents, tz),
        Table::Users => user_rows(&answers.users, members, tz),
        Table::Messages => Vec::new(),
    }
}

fn execution_rows(counts: &[ExecutionCount]) -> Vec<Vec<Cell>> {
    counts
        .iter()
        .map(|c| {
            vec![
                Cell::Plain(c.date.to_string()),
                Cell::Text(c.name.clone()),
                Cell::Int(c.executions),
                Cell::Int(c.unique_users),
            ]
        })
        .collect()
}

/// Every id of the directory and of the stats, sorted by count descending, then id.
fn ranked<'a, S>(
    stats: &'a std::collections::BTreeMap<String, S>,
    directory: &'a [DirectoryRecord],
    count: fn(&S) -> u64,
) -> Vec<(&'a str, Option<&'a S>)> {
    let ids: BTreeSet<&str> = directory
        .iter()
        .map(|r| r.id.as_str())
        .chain(stats.keys().map(String::as_str))
        .collect();
    let mut rows: Vec<(&str, Option<&S>)> = ids.into_iter().map(|id| (id, stats.get(id))).collect();
    rows.sort_by(|a, b| {
        let (ca, cb) = (a.1.map_or(0, count), b.1.map_or(0, count));
        cb.cmp(&ca).then_with(|| a.0.cmp(b.0))
    });
    rows
}

fn agent_rows(
    stats: &std::collections::BTreeMap<String, AgentStats>,
    agents: &[DirectoryRecord],
    tz: &TimeZone,
) -> Vec<Vec<Cell>> {
    let dir = index(agents);
    ranked(stats, agents, |s| s.messages)
        .into_iter()
        .map(|(id, s)| {
            let r = dir.get(id);
            let s = s.cloned().unwrap_or_default();
            vec![
                Cell::Plain(id.to_string()),
                text(r, "name"),
                text(r, "description"),
                plain(r, "settings"),
                plain(r, "modelId"),
                plain(r, "providerId"),
                list(r, "authorEmails", Cell::Emails),
                list(r, "editorEmails", Cell::Emails),
                Cell::Int(s.messages),
                Cell::Int(s.distinct_users),
                Cell::Int(s.distinct_conversations),
                time(r, "lastEdit", tz),
            ]
        })
        .collect()
}

fn user_rows(
    stats: &std::collections::BTreeMap<String, UserStats>,
    members: &[DirectoryRecord],
    tz: &TimeZone,
) -> Vec<Vec<Cell>> {
    let dir = index(members);
    ranked(stats, members, |s| s.messages)
        .into_iter()
        .map(|(id, s)| {
            let r = dir.get(id);
            let s = s.cloned().unwrap_or_default();
            vec![
                Cell::Plain(id.to_string()),
                text(r, "name"),
                text(r, "email"),
                plain(r, "status"),
                time(r, "lastLoginAt", tz),
                Cell::Int(s.messages),
                s.last_message_at
                    .map_or(Cell::Null, |us| Cell::Plain(stamp(us, tz))),
                Cell::Int(s.active_days),
                list(r, "groups", Cell::Groups),
            ]
        })
        .collect()
}

/// Everything a `messages` row needs besides the message: agent names and member emails by
/// id, built once for a whole export.
#[derive(Clone)]
pub struct MessageContext {
    agent_names: HashMap<String, Cell>,
    member_emails: HashMap<String, Cell>,
    pub tz: TimeZone,
}

impl MessageContext {
    pub fn new(agents: &[DirectoryRecord], members: &[DirectoryRecord], tz: TimeZone) -> Self {
        let by_id = |records: &[DirectoryRecord], wire: &str| {
            records
                .iter()
                .map(|r| (r.id.clone(), text(Some(&r), wire)))
                .filter(|(_, cell)| *cell != Cell::Null)
                .collect()
        };
        MessageContext {
            agent_names: by_id(agents, "name"),
            member_emails: by_id(members, "email"),
            tz,
        }
    }
}

/// One row of the `messages` table.
pub fn message_row(
    m: Message,
    tools: Vec<String>,
    skills: Vec<String>,
    ctx: &MessageContext,
) -> Vec<Cell> {
    let opt = |v: Option<String>| v.map_or(Cell::Null, Cell::Plain);
    let num = |v: Option<i64>| v.map_or(Cell::Null, |n| Cell::Int(n.max(0) as u64));
    let known = |map: &HashMap<String, Cell>, id: &str| map.get(id).cloned().unwrap_or(Cell::Null);
    let email = m
        .user_id
        .as_deref()
        .map_or(Cell::Null, |u| known(&ctx.member_emails, u));
    let agent_name = known(&ctx.agent_names, &m.agent_id);
    vec![
        Cell::Plain(m.id),
        Cell::Plain(local_time(m.occurred_at, &ctx.tz)),
        Cell::Plain(m.agent_id),
        agent_name,
        Cell::Plain(m.conversation_id),
        opt(m.parent_message_id),
        opt(m.user_id),
        email,
        Cell::Plain(m.source),
        Cell::Names(tools),
        Cell::Names(skills),
        opt(m.model_id),
        opt(m.provider_id),
        num(m.tokens_in),
        num(m.tokens_out),
        m.cost_micros.map_or(Cell::Null, Cell::Money),
    ]
}
