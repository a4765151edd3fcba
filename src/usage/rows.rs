//! Counters joined with directories into each data type's rows. Members, agents, projects and
//! workflows without activity are listed with zeros; models only when used. Rows are sorted by
//! their main count, descending, then by id. Ranks are competition ranks (1, 1, 3) over every
//! listed member, 1 for the most.

use std::collections::{BTreeSet, HashMap};

use jiff::tz::TimeZone;

use super::DataType;
use super::count::{Counter, UserCounts};
use super::range::UsageRange;
use crate::analytics::rows::{Cell, Directory, index, stamp, text, time};
use crate::ingest::directory::{DirValue, DirectoryRecord};

/// The directories the rows join with.
#[derive(Debug, Clone, Default)]
pub struct UsageDirectories {
    pub members: Vec<DirectoryRecord>,
    pub agents: Vec<DirectoryRecord>,
    pub projects: Vec<DirectoryRecord>,
    pub workflows: Vec<DirectoryRecord>,
    pub models: Vec<DirectoryRecord>,
}

/// Whether the range holds activity of the kind a data type counts.
pub fn has_data(data: DataType, c: &Counter) -> bool {
    match data {
        DataType::Users => c.messages + c.executions > 0,
        DataType::Assistants => c.messages > 0,
        DataType::Workflows => c.runs > 0,
        DataType::Projects => !c.projects.is_empty(),
        DataType::Models => !c.models.is_empty(),
    }
}

/// What every row starts with, and how times print.
struct Frame<'a> {
    head: [Cell; 3],
    tz: &'a TimeZone,
}

/// The rows of a data type (not yet shaped by the privacy policy).
pub fn rows(
    data: DataType,
    c: &Counter,
    dirs: &UsageDirectories,
    range: &UsageRange,
    workspace: &str,
) -> Vec<Vec<Cell>> {
    let frame = Frame {
        head: [
            Cell::Plain(range.from_text()),
            Cell::Plain(range.to_text()),
            Cell::Plain(workspace.to_string()),
        ],
        tz: &range.from_tz,
    };
    match data {
        DataType::Users => user_rows(c, dirs, &frame),
        DataType::Assistants => agent_rows(c, dirs, &frame),
        DataType::Workflows => workflow_rows(c, dirs, &frame),
        DataType::Projects => project_rows(c, dirs, &frame),
        DataType::Models => model_rows(c, dirs, &frame),
    }
}

/// Every id of a directory and of the counters, sorted by count descending, then id.
fn listed<'a, V>(
    counts: &'a HashMap<String, V>,
    directory: &'a [DirectoryRecord],
    count: impl Fn(&V) -> u64,
) -> Vec<(&'a str, Option<&'a V>)> {
    let ids: BTreeSet<&str> = directory
        .iter()
        .map(|r| r.id.as_str())
        .chain(counts.keys().map(String::as_str))
        .collect();
    let mut out: Vec<(&str, Option<&V>)> = ids.into_iter().map(|id| (id, counts.get(id))).collect();
    out.sort_by(|a, b| {
        let (x, y) = (a.1.map_or(0, &count), b.1.map_or(0, &count));
        y.cmp(&x).then_with(|| a.0.cmp(b.0))
    });
    out
}

/// Competition ranks of `values` (1 for the largest; ties share a rank, the next skips).
pub fn competition_ranks(values: &[u64]) -> Vec<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    values
        .iter()
        .map(|v| sorted.partition_point(|x| x > v) as u64 + 1)
        .collect()
}

/// Counts by key, sorted by count descending then key; keys that share a name (two model ids
/// of one model name) add up under it.
fn counts(map: &HashMap<String, u64>, name: impl Fn(&str) -> String) -> Cell {
    let mut merged: HashMap<String, u64> = HashMap::with_capacity(map.len());
    for (key, n) in map {
        *merged.entry(name(key)).or_default() += n;
    }
    let mut pairs: Vec<(String, u64)> = merged.into_iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Cell::Counts(pairs)
}

fn int(n: u64) -> Cell {
    Cell::Int(n)
}

fn tokens(n: i64) -> Cell {
    Cell::Int(n.max(0) as u64)
}

fn user_rows(c: &Counter, dirs: &UsageDirectories, frame: &Frame) -> Vec<Vec<Cell>> {
    let members = index(&dirs.members);
    let models = index(&dirs.models);
    let model_name = |id: &str| {
        models
            .get(id)
            .and_then(|r| r.text("name"))
            .unwrap_or(id)
            .to_string()
    };
    let listed = listed(&c.users, &dirs.members, |u| u.total);
    let empty = UserCounts::default();
    let stats: Vec<&UserCounts> = listed.iter().map(|(_, u)| u.unwrap_or(&empty)).collect();
    let rank = |f: fn(&UserCounts) -> u64| {
        competition_ranks(&stats.iter().map(|u| f(u)).collect::<Vec<_>>())
    };
    let ranks = [
        rank(|u| u.total),
        rank(|u| u.chat),
        rank(|u| u.assistants),
        rank(|u| u.projects),
    ];
    let same = |id: &str| id.to_string();
    listed
        .iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, ((id, _), u))| {
            let member = members.get(id);
            let mut row: Vec<Cell> = frame.head.to_vec();
            row.extend([
                Cell::Plain(id.to_string()),
                text(member, "name"),
                text(member, "email"),
                member
                    .and_then(|r| r.text("role"))
                    .map_or(Cell::Null, |r| Cell::Plain(r.to_string())),
                time(member, "joinedAt", frame.tz),
                int(u.total),
                int(ranks[0][i]),
                int(u.chat),
                int(ranks[1][i]),
                int(u.assistants),
                int(ranks[2][i]),
                int(u.by_agent.len() as u64),
                counts(&u.by_agent, same),
                int(u.projects),
                int(ranks[3][i]),
                int(u.by_project.len() as u64),
                counts(&u.by_project, same),
                counts(&u.by_model, model_name),
                int(u.action_count),
                int(u.actions.len() as u64),
                counts(&u.actions, same),
                int(u.days.len() as u64),
                u.first
                    .map_or(Cell::Null, |t| Cell::Plain(stamp(t, frame.tz))),
                u.last
                    .map_or(Cell::Null, |t| Cell::Plain(stamp(t, frame.tz))),
                counts(&u.by_source, same),
                tokens(u.tokens_in),
                tokens(u.tokens_out),
                Cell::Money(u.cost),
            ]);
            row
        })
        .collect()
}

/// The owner of an agent: the member whose email is first in its authorEmails.
fn agent_owner(agent: Option<&&DirectoryRecord>, by_email: &HashMap<&str, &str>) -> [Cell; 2] {
    let first = match agent.and_then(|r| r.get("authorEmails")) {
        Some(DirValue::List(emails)) => emails.first(),
        _ => None,
    };
    match first {
        None => [Cell::Null, Cell::Null],
        Some(email) => [
            by_email
                .get(email.as_str())
                .map_or(Cell::Null, |id| Cell::Plain(id.to_string())),
            Cell::Text(email.clone()),
        ],
    }
}

/// The owner of a project or workflow: the member its ownerId names.
fn owner(record: Option<&&DirectoryRecord>, members: &Directory) -> [Cell; 2] {
    match record.and_then(|r| r.text("ownerId")) {
        None => [Cell::Null, Cell::Null],
        Some(id) => [Cell::Plain(id.to_string()), text(members.get(id), "email")],
    }
}

fn agent_rows(c: &Counter, dirs: &UsageDirectories, frame: &Frame) -> Vec<Vec<Cell>> {
    let agents = index(&dirs.agents);
    let by_email: HashMap<&str, &str> = dirs
        .members
        .iter()
        .filter_map(|m| m.text("email").map(|e| (e, m.id.as_str())))
        .collect();
    let active: Vec<u32> = dirs
        .members
        .iter()
        .filter(|m| m.text("status") == Some("active"))
        .filter_map(|m| c.user_number_of(&m.id))
        .collect();
    listed(&c.agents, &dirs.agents, |a| a.volume.messages)
        .into_iter()
        .map(|(id, a)| {
            let record = agents.get(id);
            let a = a.cloned().unwrap_or_default();
            let users = a.users.len() as u64;
            let active_users = active.iter().filter(|n| a.users.contains(n)).count() as u64;
            let mut row: Vec<Cell> = frame.head.to_vec();
            row.extend([
                Cell::Plain(id.to_string()),
                text(record, "name"),
                int(a.volume.messages),
                int(users),
                int(active_users),
                int(a.conversations.len() as u64),
                if users == 0 {
                    Cell::Null
                } else {
                    Cell::Ratio(a.volume.messages, users)
                },
                text(record, "description"),
            ]);
            row.extend(agent_owner(record, &by_email));
            row.extend([
                tokens(a.volume.tokens_in),
                tokens(a.volume.tokens_out),
                Cell::Money(a.volume.cost),
            ]);
            row
        })
        .collect()
}

fn workflow_rows(c: &Counter, dirs: &UsageDirectories, frame: &Frame) -> Vec<Vec<Cell>> {
    let workflows = index(&dirs.workflows);
    let members = index(&dirs.members);
    listed(&c.workflows, &dirs.workflows, |w| w.runs)
        .into_iter()
        .map(|(id, w)| {
            let record = workflows.get(id);
            let w = w.cloned().unwrap_or_default();
            let mut row: Vec<Cell> = frame.head.to_vec();
            row.extend([Cell::Plain(id.to_string()), text(record, "name")]);
            row.extend(owner(record, &members));
            row.extend([
                int(w.runs),
                int(w.succeeded),
                int(w.failed),
                if w.runs == 0 {
                    Cell::Null
                } else {
                    Cell::Ratio(w.succeeded, w.runs)
                },
                int(w.users.len() as u64),
            ]);
            row
        })
        .collect()
}

fn project_rows(c: &Counter, dirs: &UsageDirectories, frame: &Frame) -> Vec<Vec<Cell>> {
    let projects = index(&dirs.projects);
    let members = index(&dirs.members);
    listed(&c.projects, &dirs.projects, |p| p.messages)
        .into_iter()
        .map(|(id, p)| {
            let record = projects.get(id);
            let p = p.cloned().unwrap_or_default();
            let mut row: Vec<Cell> = frame.head.to_vec();
            row.extend([Cell::Plain(id.to_string()), text(record, "name")]);
            row.extend(owner(record, &members));
            row.extend([int(p.messages), int(p.users.len() as u64)]);
            row
        })
        .collect()
}

fn model_rows(c: &Counter, dirs: &UsageDirectories, frame: &Frame) -> Vec<Vec<Cell>> {
    let models = index(&dirs.models);
    let mut used: Vec<(&String, &super::count::ModelCounts)> = c.models.iter().collect();
    used.sort_by(|a, b| {
        b.1.volume
            .messages
            .cmp(&a.1.volume.messages)
            .then_with(|| a.0.cmp(b.0))
    });
    used.into_iter()
        .map(|(id, m)| {
            let record = models.get(id.as_str());
            let name = record
                .and_then(|r| r.text("name"))
                .map_or_else(|| Cell::Plain(id.clone()), |n| Cell::Text(n.to_string()));
            let provider = record
                .and_then(|r| r.text("providerId"))
                .map(str::to_string)
                .or_else(|| m.provider.clone())
                .map_or(Cell::Null, Cell::Plain);
            let mut row: Vec<Cell> = frame.head.to_vec();
            row.extend([
                name,
                provider,
                int(m.volume.messages),
                tokens(m.volume.tokens_in),
                tokens(m.volume.tokens_out),
                Cell::Money(m.volume.cost),
            ]);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_competition_ranks() {
        assert_eq!(competition_ranks(&[5, 5, 3, 0, 3]), vec![1, 1, 3, 5, 3]);
        assert_eq!(competition_ranks(&[]), Vec::<u64>::new());
        assert_eq!(competition_ranks(&[0, 0]), vec![1, 1]);
    }

    #[test]
    fn counts_sort_by_count_and_merge_shared_names() {
        let map = HashMap::from([
            ("a".to_string(), 1),
            ("b".to_string(), 3),
            ("c".to_string(), 1),
        ]);
        let merged = counts(&map, |k| if k == "c" { "a".into() } else { k.into() });
        assert_eq!(merged, Cell::Counts(vec![("b".into(), 3), ("a".into(), 2)]));
    }
}
