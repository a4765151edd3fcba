//! The numbers of every table computed straight from their definitions over raw events. Slow
//! and obviously correct: the yardstick faster engines are checked against, in random zones.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::days::DayGrid;
use super::{
    AgentStats, Answers, DailyActivity, ExecutionCount, MAU_DAYS, Query, SourceCount, UserStats,
    WAU_DAYS,
};
use crate::model::{ActivityBatch, Execution};

/// Computes the answers for `query` from `events`, which must hold every event from the start
/// of the monthly window before the range to the end of the range (more is ignored).
pub fn answers(query: &Query, events: &ActivityBatch) -> Answers {
    let grid = query.grid();
    let history = query.history_grid();
    let (from, to) = grid.span();
    let in_range = |t: i64| t >= from && t < to;
    let mut agents: BTreeMap<String, (AgentStats, HashSet<&str>, HashSet<&str>)> = BTreeMap::new();
    let mut users: BTreeMap<String, (UserStats, HashSet<&str>, BTreeSet<usize>)> = BTreeMap::new();
    for m in events.messages.iter().filter(|m| in_range(m.occurred_at)) {
        let agent = agents.entry(m.agent_id.clone()).or_default();
        agent.0.messages += 1;
        agent.2.insert(&m.conversation_id);
        if let Some(user) = &m.user_id {
            agent.1.insert(user);
            let u = users.entry(user.clone()).or_default();
            u.0.messages += 1;
            u.0.last_message_at = u.0.last_message_at.max(Some(m.occurred_at));
            u.1.insert(&m.agent_id);
            u.2.extend(grid.index_of(m.occurred_at));
        }
    }
    Answers {
        daily: daily(&grid, &history, events),
        sources: sources(&grid, events),
        tools: executions(&grid, &events.tool_executions),
        skills: executions(&grid, &events.skill_executions),
        agents: agents
            .into_iter()
            .map(|(id, (mut s, users, convs))| {
                s.distinct_users = users.len() as u64;
                s.distinct_conversations = convs.len() as u64;
                (id, s)
            })
            .collect(),
        users: users
            .into_iter()
            .map(|(id, (mut s, agents, days))| {
                s.distinct_agents = agents.len() as u64;
                s.active_days = days.len() as u64;
                (id, s)
            })
            .collect(),
    }
}

fn daily(grid: &DayGrid, history: &DayGrid, events: &ActivityBatch) -> Vec<DailyActivity> {
    // Users active on each history date.
    let offset = history.len() - grid.len();
    let mut active: Vec<HashSet<&str>> = vec![HashSet::new(); history.len()];
    for m in &events.messages {
        if let (Some(user), Some(day)) = (&m.user_id, history.index_of(m.occurred_at)) {
            active[day].insert(user);
        }
    }
    let window = |end: usize, days: i64| -> u64 {
        let first = (end + 1).saturating_sub(days as usize);
        let mut union: HashSet<&str> = HashSet::new();
        for set in &active[first..=end] {
            union.extend(set.iter().copied());
        }
        union.len() as u64
    };
    (0..grid.len())
        .map(|i| {
            let (start, end) = grid.bounds(i);
            let day: Vec<_> = events
                .messages
                .iter()
                .filter(|m| m.occurred_at >= start && m.occurred_at < end)
                .collect();
            let conversations: HashSet<&str> =
                day.iter().map(|m| m.conversation_id.as_str()).collect();
            DailyActivity {
                date: grid.date(i),
                messages: day.len() as u64,
                conversations: conversations.len() as u64,
                dau: active[offset + i].len() as u64,
                wau: window(offset + i, WAU_DAYS),
                mau: window(offset + i, MAU_DAYS),
            }
        })
        .collect()
}

fn sources(grid: &DayGrid, events: &ActivityBatch) -> Vec<SourceCount> {
    let mut counts: BTreeMap<(usize, &str), u64> = BTreeMap::new();
    for m in &events.messages {
        if let Some(day) = grid.index_of(m.occurred_at) {
            *counts.entry((day, &m.source)).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .map(|((day, source), messages)| SourceCount {
            date: grid.date(day),
            source: source.to_string(),
            messages,
        })
        .collect()
}

fn executions(grid: &DayGrid, list: &[Execution]) -> Vec<ExecutionCount> {
    let mut counts: BTreeMap<(usize, &str), (u64, HashSet<&str>)> = BTreeMap::new();
    for e in list {
        if let Some(day) = grid.index_of(e.occurred_at) {
            let entry = counts.entry((day, &e.name)).or_default();
            entry.0 += 1;
            entry.1.extend(e.user_id.as_deref());
        }
    }
    counts
        .into_iter()
        .map(|((day, name), (executions, users))| ExecutionCount {
            date: grid.date(day),
            name: name.to_string(),
            executions,
            unique_users: users.len() as u64,
        })
        .collect()
}
