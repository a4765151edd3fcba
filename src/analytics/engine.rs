//! Answers from rollups: the same numbers as [`super::reference`], without a scan of raw events.

use roaring::{MultiOps, RoaringBitmap};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::rollup::{
    AgentTotal, DAY_US, ExecutionSlot, Interner, LocalDay, Memo, Rollup, SLOT_US, Slot, SpanTotals,
    UserCount,
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
///
/// Each local day is computed from its slots once and kept in the rollup's memo until an
/// event lands in it, so a range's days cost one look-up each after the first answer.
pub fn answers_for(rollup: &Rollup, query: &Query, parts: Parts) -> Answers {
    let grid = query.grid();
    let history = if parts.active {
        query.history_grid()
    } else {
        grid.clone()
    };
    let offset = history.len() - grid.len();
    let need_users = parts.active || parts.users;
    let mut memo = rollup.memo.days.lock().unwrap_or_else(|e| e.into_inner());
    Memo::bound(&mut memo);
    for i in 0..history.len() {
        let in_grid = i >= offset;
        let need = Parts {
            volume: in_grid && parts.volume,
            active: need_users,
            sources: in_grid && parts.sources,
            tools: in_grid && parts.tools,
            skills: in_grid && parts.skills,
            ..Parts::NONE
        };
        let bounds = history.bounds(i);
        fill(rollup, bounds, memo.entry(bounds).or_default(), need);
    }
    let memo = &*memo;
    let day = |i: usize| &memo[&history.bounds(i)];
    let active: Vec<&[u64]> = if need_users {
        (0..history.len())
            .map(|i| day(i).users.as_deref().unwrap_or_default())
            .collect()
    } else {
        Vec::new()
    };
    let (wau, mau) = if parts.active {
        (
            rolling_distinct(&active, WAU_DAYS as usize),
            rolling_distinct(&active, MAU_DAYS as usize),
        )
    } else {
        (vec![0; history.len()], vec![0; history.len()])
    };
    let mut answers = Answers::default();
    for i in 0..grid.len() {
        let date = grid.date(i);
        let local = day(offset + i);
        let (messages, conversations) = local.volume.unwrap_or_default();
        answers.daily.push(DailyActivity {
            date,
            messages,
            conversations,
            dau: active.get(offset + i).map_or(0, |set| ones(set)),
            wau: wau[offset + i],
            mau: mau[offset + i],
        });
        let sources = local.sources.as_deref().unwrap_or_default();
        answers.sources.extend(
            by_name(&rollup.sources, sources, |s| s.0).map(|(source, s)| SourceCount {
                date,
                source: source.to_string(),
                messages: s.1,
            }),
        );
        for (names, counts, into) in [
            (&rollup.tools, &local.tools, &mut answers.tools),
            (&rollup.skills, &local.skills, &mut answers.skills),
        ] {
            let counts = counts.as_deref().unwrap_or_default();
            into.extend(
                by_name(names, counts, |c| c.0).map(|(name, c)| ExecutionCount {
                    date,
                    name: name.to_string(),
                    executions: c.1,
                    unique_users: c.2,
                }),
            );
        }
    }
    if !(parts.agents || parts.users) {
        return answers;
    }
    let agents = agent_totals(rollup, grid.span(), parts.agents);
    if parts.users {
        answers.users = user_stats(rollup, grid.span(), &active[offset..], &agents);
    }
    if parts.agents {
        answers.agents = agents
            .into_iter()
            .map(|(n, a)| {
                let stats = AgentStats {
                    messages: a.messages,
                    distinct_users: a.users.len(),
                    distinct_conversations: a.conversations.len(),
                };
                (rollup.agents.name(n).to_string(), stats)
            })
            .collect();
    }
    answers
}

/// Computes the parts of one local day `[from, to)` that `need` names and `day` lacks.
fn fill(rollup: &Rollup, (from, to): (i64, i64), day: &mut LocalDay, need: Parts) {
    if need.volume && day.volume.is_none() {
        let messages = slots(rollup, from, to).map(|s| u64::from(s.messages)).sum();
        let conversations = slots(rollup, from, to)
            .map(|s| &s.conversations)
            .union()
            .len();
        day.volume = Some((messages, conversations));
    }
    if need.active && day.users.is_none() {
        let users = slots(rollup, from, to).map(|s| &s.users).union();
        let mut words = vec![0u64; rollup.users.len().div_ceil(64)];
        for user in &users {
            words[user as usize / 64] |= 1 << (user % 64);
        }
        day.users = Some(words);
    }
    if need.sources && day.sources.is_none() {
        let mut sources: BTreeMap<u32, u64> = BTreeMap::new();
        for slot in slots(rollup, from, to) {
            for (source, n) in &slot.sources {
                *sources.entry(*source).or_default() += u64::from(*n);
            }
        }
        day.sources = Some(sources.into_iter().collect());
    }
    if need.tools && day.tools.is_none() {
        day.tools = Some(executions(slots(rollup, from, to).map(|s| &s.tools)));
    }
    if need.skills && day.skills.is_none() {
        day.skills = Some(executions(slots(rollup, from, to).map(|s| &s.skills)));
    }
}

/// (name, executions, distinct users) over some slots' executions.
fn executions<'a>(
    slots: impl Iterator<Item = &'a BTreeMap<u32, ExecutionSlot>>,
) -> Vec<(u32, u64, u64)> {
    let mut by_name: BTreeMap<u32, (u64, Vec<&RoaringBitmap>)> = BTreeMap::new();
    for executions in slots {
        for (name, e) in executions {
            let entry = by_name.entry(*name).or_default();
            entry.0 += u64::from(e.executions);
            entry.1.push(&e.users);
        }
    }
    by_name
        .into_iter()
        .map(|(name, (n, users))| (name, n, users.union().len()))
        .collect()
}

/// How many users a day's bit set holds.
fn ones(words: &[u64]) -> u64 {
    words.iter().map(|w| u64::from(w.count_ones())).sum()
}

/// For each day, the distinct users of the `window` days ending on it.
fn rolling_distinct(days: &[&[u64]], window: usize) -> Vec<u64> {
    let width = days.iter().map(|d| d.len()).max().unwrap_or(0);
    let mut union = vec![0u64; width];
    (0..days.len())
        .map(|i| {
            union.iter_mut().for_each(|w| *w = 0);
            for day in &days[(i + 1).saturating_sub(window)..=i] {
                for (into, w) in union.iter_mut().zip(day.iter()) {
                    *into |= w;
                }
            }
            ones(&union)
        })
        .collect()
}

/// Every user number set in a day's bit set.
fn members(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(i, &w)| {
        let mut rest = w;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            Some(i * 64 + bit)
        })
    })
}

/// Items keyed by number, sorted by the names the numbers stand for.
fn by_name<'a, T>(
    names: &'a Interner,
    items: &'a [T],
    number: impl Fn(&T) -> u32,
) -> impl Iterator<Item = (&'a str, &'a T)> {
    let mut sorted: Vec<(&str, &T)> = items.iter().map(|t| (names.name(number(t)), t)).collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    sorted.into_iter()
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

/// Every agent's totals over whole UTC `days` and the slot runs `edges`, each agent's day sets
/// unioned at once.
fn merged(
    rollup: &Rollup,
    days: Range<i64>,
    edges: &[(i64, i64)],
    conversations: bool,
) -> BTreeMap<u32, AgentTotal> {
    type Sets<'a> = (u64, Vec<&'a RoaringBitmap>, Vec<&'a RoaringBitmap>);
    let mut by_day: BTreeMap<u32, Sets> = BTreeMap::new();
    for (_, day) in rollup.days.range(days) {
        for (agent, counts) in &day.agents {
            let entry = by_day.entry(*agent).or_default();
            entry.0 += u64::from(counts.messages);
            entry.1.push(&counts.users);
            if conversations {
                entry.2.push(&counts.conversations);
            }
        }
    }
    let mut totals: BTreeMap<u32, AgentTotal> = BTreeMap::new();
    for &(from, to) in edges {
        for slot in slots(rollup, from, to) {
            let agents = &slot.agents;
            for (agent, n) in &agents.messages {
                totals.entry(*agent).or_default().messages += u64::from(*n);
            }
            for (agent, user) in agents.users.iter() {
                totals.entry(agent).or_default().users.insert(user);
            }
            if conversations {
                for (agent, conversation) in agents.conversations.iter() {
                    let total = totals.entry(agent).or_default();
                    total.conversations.insert(conversation);
                }
            }
        }
    }
    for (agent, (messages, users, conversations)) in by_day {
        let total = totals.entry(agent).or_default();
        total.messages += messages;
        total.users = users.into_iter().chain([&total.users]).union();
        total.conversations = conversations
            .into_iter()
            .chain([&total.conversations])
            .union();
    }
    totals
}

/// The whole UTC days of `days` but the last, merged once and kept until an event lands in
/// one of them, and the days left to merge fresh (the last one, where events usually land).
fn settled(rollup: &Rollup, days: Range<i64>) -> (Arc<SpanTotals>, Range<i64>) {
    let cut = (days.end - 1).max(days.start);
    if cut <= days.start {
        return (Arc::default(), days);
    }
    let mut spans = rollup.memo.spans.lock().unwrap_or_else(|e| e.into_inner());
    Memo::bound_spans(&mut spans);
    let totals = spans
        .entry((days.start, cut))
        .or_insert_with(|| {
            let mut users = vec![UserCount::default(); rollup.users.len()];
            for (_, day) in rollup.days.range(days.start..cut) {
                for (user, c) in &day.user_counts {
                    merge_user(&mut users[*user as usize], c);
                }
            }
            Arc::new(SpanTotals {
                agents: merged(rollup, days.start..cut, &[], true),
                users,
            })
        })
        .clone();
    (totals, cut..days.end)
}

/// Every agent's totals over `span` (conversations only when asked for).
fn agent_totals(
    rollup: &Rollup,
    span: (i64, i64),
    conversations: bool,
) -> BTreeMap<u32, AgentTotal> {
    let parts = split(span);
    let (settled, rest) = settled(rollup, parts.days);
    let mut totals = merged(rollup, rest, &parts.edges, conversations);
    for (agent, kept) in &settled.agents {
        let total = totals.entry(*agent).or_default();
        total.messages += kept.messages;
        total.users |= &kept.users;
        if conversations {
            total.conversations |= &kept.conversations;
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
    active_days: &[&[u64]],
    agents: &BTreeMap<u32, AgentTotal>,
) -> BTreeMap<String, UserStats> {
    let parts = split(span);
    let users = rollup.users.len();
    let (settled, rest) = settled(rollup, parts.days);
    let mut counts = settled.users.clone();
    counts.resize(users, UserCount::default());
    for (_, day) in rollup.days.range(rest) {
        for (user, c) in &day.user_counts {
            merge_user(&mut counts[*user as usize], c);
        }
    }
    for (from, to) in parts.edges {
        let keys = from.div_euclid(SLOT_US)..to.div_euclid(SLOT_US);
        for (key, slot) in rollup.slots.range(keys) {
            for (user, c) in slot.user_counts.iter(key * SLOT_US) {
                merge_user(&mut counts[user as usize], &c);
            }
        }
    }
    let mut days = vec![0u64; users];
    for set in active_days {
        for user in members(set) {
            days[user] += 1;
        }
    }
    let mut distinct_agents = vec![0u64; users];
    for a in agents.values() {
        for user in &a.users {
            distinct_agents[user as usize] += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .filter(|(_, c)| c.messages > 0)
        .map(|(user, c)| {
            let stats = UserStats {
                messages: u64::from(c.messages),
                last_message_at: Some(c.last_at),
                active_days: days[user],
                distinct_agents: distinct_agents[user],
            };
            (rollup.users.name(user as u32).to_string(), stats)
        })
        .collect()
}
