//! Answers from rollups: the same numbers as [`super::reference`], without a scan of raw events.

use roaring::RoaringBitmap;
use std::collections::BTreeMap;

use super::days::DayGrid;
use super::rollup::{
    AgentCount, DAY_US, ExecutionSlot, Interner, Rollup, SLOT_US, Slot, UserCount,
};
use super::{
    AgentStats, Answers, DailyActivity, ExecutionCount, MAU_DAYS, Query, SourceCount, Table,
    UserStats, WAU_DAYS,
};

/// The slots of `[from, to)`; both bounds lie on slot edges (every zone's offset since 2000 is
/// a whole number of quarter hours).
fn slots(rollup: &Rollup, from: i64, to: i64) -> impl Iterator<Item = &Slot> {
    debug_assert!(
        from % SLOT_US == 0 && to % SLOT_US == 0,
        "day bounds lie on slot edges"
    );
    rollup
        .slots
        .range(from.div_euclid(SLOT_US)..to.div_euclid(SLOT_US))
        .map(|(_, slot)| slot)
}

/// Which parts of the answers to compute: a table needs only some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Messages and conversations per day.
    pub volume: bool,
    /// DAU, WAU and MAU per day.
    pub active: bool,
    pub sources: bool,
    pub tools: bool,
    pub skills: bool,
    pub agents: bool,
    pub users: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        volume: true,
        active: true,
        sources: true,
        tools: true,
        skills: true,
        agents: true,
        users: true,
    };
    const NONE: Parts = Parts {
        volume: false,
        active: false,
        sources: false,
        tools: false,
        skills: false,
        agents: false,
        users: false,
    };

    /// What one table's rows are made of.
    pub fn for_table(table: Table) -> Parts {
        let none = Parts::NONE;
        match table {
            Table::UsageMetrics => Parts {
                volume: true,
                active: true,
                ..none
            },
            Table::ActiveUsers => Parts {
                active: true,
                ..none
            },
            Table::Source => Parts {
                sources: true,
                ..none
            },
            Table::ToolUsage => Parts {
                tools: true,
                ..none
            },
            Table::SkillUsage => Parts {
                skills: true,
                ..none
            },
            Table::Agents => Parts {
                agents: true,
                ..none
            },
            Table::Users | Table::Messages => Parts {
                users: true,
                ..none
            },
        }
    }
}

/// Computes every part of the answers for `query`.
pub fn answers(rollup: &Rollup, query: &Query) -> Answers {
    answers_for(rollup, query, Parts::ALL)
}

/// Computes the parts of the answers for `query` that `parts` names; the others stay empty
/// (or zero, for the daily counts).
pub fn answers_for(rollup: &Rollup, query: &Query, parts: Parts) -> Answers {
    let grid = query.grid();
    let history = if parts.active {
        query.history_grid()
    } else {
        grid.clone()
    };
    let offset = history.len() - grid.len();
    let active: Vec<RoaringBitmap> = if parts.active || parts.users {
        (0..history.len())
            .map(|i| active_users(rollup, &history, i))
            .collect()
    } else {
        vec![RoaringBitmap::new(); history.len()]
    };
    let mut answers = Answers::default();
    for i in 0..grid.len() {
        let day = daily_parts(rollup, &grid, i, parts);
        let window = |days: i64| {
            if !parts.active {
                return 0;
            }
            union_len(&active[(offset + i + 1).saturating_sub(days as usize)..=offset + i])
        };
        answers.daily.push(DailyActivity {
            date: grid.date(i),
            messages: day.messages,
            conversations: day.conversations,
            dau: active[offset + i].len(),
            wau: window(WAU_DAYS),
            mau: window(MAU_DAYS),
        });
        answers.sources.extend(
            named(&rollup.sources, &day.sources).map(|(source, messages)| SourceCount {
                date: grid.date(i),
                source,
                messages,
            }),
        );
        answers
            .tools
            .extend(executions(&rollup.tools, &day.tools, &grid, i));
        answers
            .skills
            .extend(executions(&rollup.skills, &day.skills, &grid, i));
    }
    if !(parts.agents || parts.users) {
        return answers;
    }
    let agents = agent_totals(rollup, grid.span());
    if parts.users {
        answers.users = user_stats(rollup, grid.span(), &active[offset..], &agents);
    }
    if parts.agents {
        answers.agents = agents
            .into_iter()
            .map(|(n, a)| {
                let stats = AgentStats {
                    messages: u64::from(a.messages),
                    distinct_users: a.users.len(),
                    distinct_conversations: a.conversations.len(),
                };
                (rollup.agents.name(n).to_string(), stats)
            })
            .collect();
    }
    answers
}

/// Users with a message on the grid's date `i`.
fn active_users(rollup: &Rollup, grid: &DayGrid, i: usize) -> RoaringBitmap {
    let (from, to) = grid.bounds(i);
    let mut users = RoaringBitmap::new();
    for slot in slots(rollup, from, to) {
        users |= &slot.users;
    }
    users
}

fn union_len(sets: &[RoaringBitmap]) -> u64 {
    let mut union = RoaringBitmap::new();
    for set in sets {
        union |= set;
    }
    union.len()
}

/// One local day's volume, sources and executions.
#[derive(Default)]
struct DayParts {
    messages: u64,
    conversations: u64,
    sources: BTreeMap<u32, u64>,
    tools: BTreeMap<u32, (u64, RoaringBitmap)>,
    skills: BTreeMap<u32, (u64, RoaringBitmap)>,
}

fn daily_parts(rollup: &Rollup, grid: &DayGrid, i: usize, need: Parts) -> DayParts {
    let (from, to) = grid.bounds(i);
    let mut parts = DayParts::default();
    let mut conversations = RoaringBitmap::new();
    for slot in slots(rollup, from, to) {
        if need.volume {
            parts.messages += u64::from(slot.messages);
            conversations |= &slot.conversations;
        }
        if need.sources {
            for (source, n) in &slot.sources {
                *parts.sources.entry(*source).or_default() += u64::from(*n);
            }
        }
        if need.tools {
            add_executions(&mut parts.tools, &slot.tools);
        }
        if need.skills {
            add_executions(&mut parts.skills, &slot.skills);
        }
    }
    parts.conversations = conversations.len();
    parts
}

fn add_executions(
    into: &mut BTreeMap<u32, (u64, RoaringBitmap)>,
    from: &BTreeMap<u32, ExecutionSlot>,
) {
    for (name, e) in from {
        let entry = into.entry(*name).or_default();
        entry.0 += u64::from(e.executions);
        entry.1 |= &e.users;
    }
}

/// Counts by name instead of number, sorted by name.
fn named<'a>(
    names: &'a Interner,
    counts: &'a BTreeMap<u32, u64>,
) -> impl Iterator<Item = (String, u64)> + 'a {
    let sorted: BTreeMap<&str, u64> = counts.iter().map(|(n, c)| (names.name(*n), *c)).collect();
    sorted.into_iter().map(|(name, c)| (name.to_string(), c))
}

fn executions(
    names: &Interner,
    counts: &BTreeMap<u32, (u64, RoaringBitmap)>,
    grid: &DayGrid,
    i: usize,
) -> Vec<ExecutionCount> {
    let sorted: BTreeMap<&str, &(u64, RoaringBitmap)> =
        counts.iter().map(|(n, c)| (names.name(*n), c)).collect();
    sorted
        .into_iter()
        .map(|(name, (executions, users))| ExecutionCount {
            date: grid.date(i),
            name: name.to_string(),
            executions: *executions,
            unique_users: users.len(),
        })
        .collect()
}

/// `[from, to)` split into whole UTC days and the slot runs at either edge.
struct Split {
    days: std::ops::Range<i64>,
    edges: [(i64, i64); 2],
}

fn split((from, to): (i64, i64)) -> Split {
    let first = (from + DAY_US - 1).div_euclid(DAY_US);
    let last = to.div_euclid(DAY_US);
    if first < last {
        Split {
            days: first..last,
            edges: [(from, first * DAY_US), (last * DAY_US, to)],
        }
    } else {
        Split {
            days: 0..0,
            edges: [(from, to), (to, to)],
        }
    }
}

fn merge_agent(into: &mut AgentCount, from: &AgentCount) {
    into.messages += from.messages;
    into.users |= &from.users;
    into.conversations |= &from.conversations;
}

fn agent_totals(rollup: &Rollup, span: (i64, i64)) -> BTreeMap<u32, AgentCount> {
    let parts = split(span);
    let mut totals: BTreeMap<u32, AgentCount> = BTreeMap::new();
    for (_, day) in rollup.days.range(parts.days) {
        for (agent, counts) in &day.agents {
            merge_agent(totals.entry(*agent).or_default(), counts);
        }
    }
    for (from, to) in parts.edges {
        for slot in slots(rollup, from, to) {
            let agents = &slot.agents;
            for (agent, n) in &agents.messages {
                totals.entry(*agent).or_default().messages += n;
            }
            for (agent, user) in agents.users.iter() {
                totals.entry(agent).or_default().users.insert(user);
            }
            for (agent, conversation) in agents.conversations.iter() {
                totals
                    .entry(agent)
                    .or_default()
                    .conversations
                    .insert(conversation);
            }
        }
    }
    totals
}

fn merge_user(into: &mut UserCount, from: &UserCount) {
    into.last_at = if into.messages == 0 {
        from.last_at
    } else {
        into.last_at.max(from.last_at)
    };
    into.messages += from.messages;
}

fn user_stats(
    rollup: &Rollup,
    span: (i64, i64),
    active_days: &[RoaringBitmap],
    agents: &BTreeMap<u32, AgentCount>,
) -> BTreeMap<String, UserStats> {
    let parts = split(span);
    let mut counts: BTreeMap<u32, UserCount> = BTreeMap::new();
    for (_, day) in rollup.days.range(parts.days) {
        for (user, c) in &day.user_counts {
            merge_user(counts.entry(*user).or_default(), c);
        }
    }
    for (from, to) in parts.edges {
        for slot in slots(rollup, from, to) {
            for (user, c) in &slot.user_counts {
                merge_user(counts.entry(*user).or_default(), c);
            }
        }
    }
    let mut days = vec![0u64; rollup.users.len()];
    for set in active_days {
        for user in set {
            days[user as usize] += 1;
        }
    }
    let mut distinct_agents = vec![0u64; rollup.users.len()];
    for a in agents.values() {
        for user in &a.users {
            distinct_agents[user as usize] += 1;
        }
    }
    counts
        .into_iter()
        .map(|(user, c)| {
            let stats = UserStats {
                messages: u64::from(c.messages),
                last_message_at: Some(c.last_at),
                active_days: days[user as usize],
                distinct_agents: distinct_agents[user as usize],
            };
            (rollup.users.name(user).to_string(), stats)
        })
        .collect()
}
