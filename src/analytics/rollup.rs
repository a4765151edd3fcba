//! Rollups: what the analytics tables need, kept per 15-minute UTC slot and per UTC day, with
//! exact distinct sets as roaring bitmaps over dense per-workspace numbers.
//!
//! Since 2000 every zone's offset is a whole number of quarter hours, so every local day is a
//! whole run of slots: daily tables union the slots of each local day. Range tables (agents,
//! users) take whole UTC days from the day level and only the partial days at either edge from
//! the slot level. Events are applied once each (the store reports which ones it newly stored,
//! by ingest sequence number), in any order: sets and sums do not care.

use roaring::RoaringBitmap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::model::{ActivityBatch, Execution, Message};

/// Microseconds in a slot: 15 minutes.
pub const SLOT_US: i64 = 900_000_000;
/// Microseconds in a UTC day.
pub const DAY_US: i64 = 86_400_000_000;

/// Dense numbers for ids, in order of first sight.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    numbers: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// The number of `name`, assigned on first sight.
    pub fn number(&mut self, name: &str) -> u32 {
        if let Some(n) = self.numbers.get(name) {
            return *n;
        }
        let n = self.names.len() as u32;
        self.names.push(name.into());
        self.numbers.insert(name.into(), n);
        n
    }

    /// The name a number stands for.
    pub fn name(&self, n: u32) -> &str {
        &self.names[n as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Dense numbers for ids whose names are never shown (conversations): the ids' bytes kept
/// once, end to end in one buffer, and a table holding only numbers (millions of ids cost
/// their bytes and about twelve bytes each).
#[derive(Debug, Default, Clone)]
pub struct Numbering {
    table: hashbrown::HashTable<u32>,
    /// The id of number `n` is `bytes[ends[n - 1]..ends[n]]` (from 0 for the first).
    bytes: Vec<u8>,
    ends: Vec<u64>,
    state: std::hash::RandomState,
}

fn id_of<'a>(bytes: &'a [u8], ends: &[u64], n: u32) -> &'a [u8] {
    let n = n as usize;
    let start = if n == 0 { 0 } else { ends[n - 1] as usize };
    &bytes[start..ends[n] as usize]
}

impl Numbering {
    /// The number of `name`, assigned on first sight.
    pub fn number(&mut self, name: &str) -> u32 {
        use std::hash::BuildHasher;
        let Numbering {
            table,
            bytes,
            ends,
            state,
        } = self;
        let hash = state.hash_one(name.as_bytes());
        if let Some(n) = table.find(hash, |&n| id_of(bytes, ends, n) == name.as_bytes()) {
            return *n;
        }
        let n = ends.len() as u32;
        bytes.extend_from_slice(name.as_bytes());
        ends.push(bytes.len() as u64);
        let (bytes, ends) = (&*bytes, &*ends);
        table.insert_unique(hash, n, |&n| state.hash_one(id_of(bytes, ends, n)));
        n
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// A set of (agent, other number) pairs packed as `agent << 32 | other`: appended as they
/// come, sorted and deduplicated whenever it doubles, so it holds at most twice its distinct
/// pairs. Readers may see a pair more than once, which set unions do not mind.
#[derive(Debug, Default, Clone)]
pub struct Pairs {
    packed: Vec<u64>,
    compacted: usize,
}

impl Pairs {
    pub fn insert(&mut self, agent: u32, other: u32) {
        self.packed.push(u64::from(agent) << 32 | u64::from(other));
        if self.packed.len() >= 2 * self.compacted + 64 {
            self.compact();
        }
    }

    /// Sorts, deduplicates and trims the spare capacity.
    pub fn compact(&mut self) {
        self.packed.sort_unstable();
        self.packed.dedup();
        self.packed.shrink_to_fit();
        self.compacted = self.packed.len();
    }

    /// Every pair as (agent, other), possibly repeated.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.packed.iter().map(|p| ((p >> 32) as u32, *p as u32))
    }
}

/// One slot's messages by agent: counts, and which users and conversations, as packed pairs
/// (a slot holds few messages per agent, so pairs take far less room than bitmaps per agent).
#[derive(Debug, Default, Clone)]
pub struct SlotAgents {
    /// (agent, messages), sorted by agent.
    pub messages: Vec<(u32, u32)>,
    pub users: Pairs,
    pub conversations: Pairs,
}

impl SlotAgents {
    fn count(&mut self, agent: u32, user: Option<u32>, conversation: u32) {
        match self.messages.binary_search_by_key(&agent, |(a, _)| *a) {
            Ok(i) => self.messages[i].1 += 1,
            Err(i) => self.messages.insert(i, (agent, 1)),
        }
        self.conversations.insert(agent, conversation);
        if let Some(user) = user {
            self.users.insert(agent, user);
        }
    }

    fn compact(&mut self) {
        self.messages.shrink_to_fit();
        self.users.compact();
        self.conversations.compact();
    }
}

/// Executions of one tool or skill in a slot.
#[derive(Debug, Default, Clone)]
pub struct ExecutionSlot {
    pub executions: u32,
    pub users: RoaringBitmap,
}

/// One user's messages in a slot or a day.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserCount {
    pub messages: u32,
    pub last_at: i64,
}

/// One slot's messages by user, packed as (user, messages, microseconds from the slot's start
/// to the latest): appended as messages come, merged by user whenever it doubles. Readers may
/// see a user more than once, each entry a part of the count.
#[derive(Debug, Default, Clone)]
pub struct SlotUsers {
    packed: Vec<(u32, u32, u32)>,
    compacted: usize,
}

impl SlotUsers {
    fn count(&mut self, user: u32, offset: u32) {
        self.packed.push((user, 1, offset));
        if self.packed.len() >= 2 * self.compacted + 64 {
            self.compact();
        }
    }

    /// Merges each user's entries into one and trims the spare capacity.
    pub fn compact(&mut self) {
        self.packed.sort_unstable_by_key(|e| e.0);
        let mut merged: Vec<(u32, u32, u32)> = Vec::with_capacity(self.packed.len());
        for &(user, n, offset) in &self.packed {
            match merged.last_mut() {
                Some(last) if last.0 == user => {
                    last.1 += n;
                    last.2 = last.2.max(offset);
                }
                _ => merged.push((user, n, offset)),
            }
        }
        merged.shrink_to_fit();
        self.packed = merged;
        self.compacted = self.packed.len();
    }

    /// Every entry as (user, count), `start` being the slot's first instant.
    pub fn iter(&self, start: i64) -> impl Iterator<Item = (u32, UserCount)> + '_ {
        self.packed.iter().map(move |&(user, messages, offset)| {
            let last_at = start + i64::from(offset);
            (user, UserCount { messages, last_at })
        })
    }
}

/// One agent's messages in a day.
#[derive(Debug, Default, Clone)]
pub struct AgentCount {
    pub messages: u32,
    pub users: RoaringBitmap,
    pub conversations: RoaringBitmap,
}

/// Everything of one 15-minute slot.
#[derive(Debug, Default, Clone)]
pub struct Slot {
    pub messages: u32,
    pub users: RoaringBitmap,
    pub conversations: RoaringBitmap,
    pub sources: BTreeMap<u32, u32>,
    pub tools: BTreeMap<u32, ExecutionSlot>,
    pub skills: BTreeMap<u32, ExecutionSlot>,
    pub agents: SlotAgents,
    pub user_counts: SlotUsers,
}

/// The range-table parts of one whole UTC day.
#[derive(Debug, Default, Clone)]
pub struct Day {
    pub agents: BTreeMap<u32, AgentCount>,
    pub user_counts: HashMap<u32, UserCount>,
}

/// A workspace's rollups.
#[derive(Debug, Default, Clone)]
pub struct Rollup {
    /// The last ingest sequence number applied.
    pub seq: i64,
    pub users: Interner,
    pub agents: Interner,
    pub conversations: Numbering,
    pub sources: Interner,
    pub tools: Interner,
    pub skills: Interner,
    pub slots: BTreeMap<i64, Slot>,
    pub days: BTreeMap<i64, Day>,
    /// Local days already computed from their slots.
    pub memo: Memo,
}

/// What the engine computed for one local day `[from, to)` of some zone: each part filled
/// when a table first needs it.
#[derive(Debug, Default, Clone)]
pub struct LocalDay {
    /// Messages and distinct conversations.
    pub volume: Option<(u64, u64)>,
    /// Who had a message: bit `n` of word `n / 64` for user number `n`.
    pub users: Option<Vec<u64>>,
    /// (source, messages).
    pub sources: Option<Vec<(u32, u64)>>,
    /// (name, executions, distinct users).
    pub tools: Option<Vec<(u32, u64, u64)>>,
    pub skills: Option<Vec<(u32, u64, u64)>>,
}

/// Local days by their UTC bounds, kept until an event lands in one: a cache, so answers are
/// the same with or without it. Any zone's days share it; days of zones with the same offset
/// are the same entries.
#[derive(Debug, Default)]
pub struct Memo {
    pub days: Mutex<BTreeMap<(i64, i64), LocalDay>>,
    /// Runs of whole UTC days `[first, last)` (day numbers) merged for the range tables.
    pub spans: Mutex<BTreeMap<(i64, i64), std::sync::Arc<SpanTotals>>>,
}

/// One agent over some days.
#[derive(Debug, Default, Clone)]
pub struct AgentTotal {
    pub messages: u64,
    pub users: RoaringBitmap,
    pub conversations: RoaringBitmap,
}

/// The range-table parts of a run of whole UTC days, merged.
#[derive(Debug, Default)]
pub struct SpanTotals {
    pub agents: BTreeMap<u32, AgentTotal>,
    /// By user number.
    pub users: Vec<UserCount>,
}

/// Runs of days kept at most; past it the memo starts over.
const MEMO_SPANS: usize = 64;

/// Local days kept at most; past it the memo starts over.
const MEMO_DAYS: usize = 8_192;

impl Clone for Memo {
    /// A copy starts empty: the memo is recomputed on demand.
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl Memo {
    fn is_empty(&mut self) -> bool {
        self.days
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
            && self
                .spans
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    /// Forgets every run of days holding the UTC day `day`.
    fn forget_day(&mut self, day: i64) {
        let spans = self.spans.get_mut().unwrap_or_else(|e| e.into_inner());
        spans.retain(|&(first, last), _| !(first <= day && day < last));
    }

    /// Makes room when the memo has grown past its bound.
    pub fn bound_spans(spans: &mut BTreeMap<(i64, i64), std::sync::Arc<SpanTotals>>) {
        if spans.len() > MEMO_SPANS {
            spans.clear();
        }
    }

    /// Forgets every local day holding the slot `key`.
    fn forget(&mut self, key: i64) {
        let days = self.days.get_mut().unwrap_or_else(|e| e.into_inner());
        if days.is_empty() {
            return;
        }
        let t = key * SLOT_US;
        // A local day lasts at most 25 hours, so it starts less than two days before `t`.
        let stale: Vec<(i64, i64)> = days
            .range((t - 2 * DAY_US, i64::MIN)..=(t, i64::MAX))
            .map(|(k, _)| *k)
            .filter(|&(from, to)| from <= t && t < to)
            .collect();
        for k in stale {
            days.remove(&k);
        }
    }

    /// Makes room when the memo has grown past its bound.
    pub fn bound(days: &mut BTreeMap<(i64, i64), LocalDay>) {
        if days.len() > MEMO_DAYS {
            days.clear();
        }
    }
}

fn count_user(counts: &mut UserCount, at: i64) {
    counts.messages += 1;
    counts.last_at = if counts.messages == 1 {
        at
    } else {
        counts.last_at.max(at)
    };
}

fn count_agent(counts: &mut AgentCount, user: Option<u32>, conversation: u32) {
    counts.messages += 1;
    counts.conversations.insert(conversation);
    if let Some(user) = user {
        counts.users.insert(user);
    }
}

impl Rollup {
    /// Trims what appending left behind (pairs seen twice, spare capacity) in the slots
    /// `events` touched; answers are the same before and after.
    pub fn compact(&mut self, events: &ActivityBatch) {
        let mut touched: Vec<i64> = events
            .messages
            .iter()
            .map(|m| m.occurred_at.div_euclid(SLOT_US))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            if let Some(slot) = self.slots.get_mut(&key) {
                slot.agents.compact();
                slot.user_counts.compact();
            }
        }
    }

    /// Applies events stored for the first time. Applying an event twice counts it twice, so
    /// callers pass only what the store newly stored.
    pub fn apply(&mut self, events: &ActivityBatch) {
        for m in &events.messages {
            self.apply_message(m);
        }
        for e in &events.tool_executions {
            let name = self.tools.number(&e.name);
            self.apply_execution(e, name, |slot| &mut slot.tools);
        }
        for e in &events.skill_executions {
            let name = self.skills.number(&e.name);
            self.apply_execution(e, name, |slot| &mut slot.skills);
        }
        self.forget(
            (events.messages.iter().map(|m| m.occurred_at))
                .chain(events.tool_executions.iter().map(|e| e.occurred_at))
                .chain(events.skill_executions.iter().map(|e| e.occurred_at)),
        );
    }

    /// Forgets what the memo holds for the days of these instants (events landed there).
    pub fn forget(&mut self, instants: impl Iterator<Item = i64>) {
        if self.memo.is_empty() {
            return;
        }
        let mut touched: Vec<i64> = instants.map(|t| t.div_euclid(SLOT_US)).collect();
        touched.sort_unstable();
        touched.dedup();
        for &key in &touched {
            self.memo.forget(key);
        }
        let mut days: Vec<i64> = touched
            .iter()
            .map(|key| (key * SLOT_US).div_euclid(DAY_US))
            .collect();
        days.dedup();
        for day in days {
            self.memo.forget_day(day);
        }
    }

    fn apply_message(&mut self, m: &Message) {
        let user = m.user_id.as_deref().map(|u| self.users.number(u));
        let agent = self.agents.number(&m.agent_id);
        let conversation = self.conversations.number(&m.conversation_id);
        let source = self.sources.number(&m.source);
        let slot = self
            .slots
            .entry(m.occurred_at.div_euclid(SLOT_US))
            .or_default();
        slot.messages += 1;
        slot.conversations.insert(conversation);
        *slot.sources.entry(source).or_default() += 1;
        slot.agents.count(agent, user, conversation);
        let day = self
            .days
            .entry(m.occurred_at.div_euclid(DAY_US))
            .or_default();
        count_agent(day.agents.entry(agent).or_default(), user, conversation);
        if let Some(user) = user {
            slot.users.insert(user);
            let offset = m.occurred_at.rem_euclid(SLOT_US) as u32;
            slot.user_counts.count(user, offset);
            count_user(day.user_counts.entry(user).or_default(), m.occurred_at);
        }
    }

    fn apply_execution(
        &mut self,
        e: &Execution,
        name: u32,
        list: fn(&mut Slot) -> &mut BTreeMap<u32, ExecutionSlot>,
    ) {
        let user = e.user_id.as_deref().map(|u| self.users.number(u));
        let slot = self
            .slots
            .entry(e.occurred_at.div_euclid(SLOT_US))
            .or_default();
        let counts = list(slot).entry(name).or_default();
        counts.executions += 1;
        if let Some(user) = user {
            counts.users.insert(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_gives_each_id_one_dense_number_however_many() {
        let mut numbers = Numbering::default();
        for i in 0..100_000u32 {
            assert_eq!(numbers.number(&format!("c{i}")), i);
        }
        for i in (0..100_000u32).rev() {
            assert_eq!(numbers.number(&format!("c{i}")), i, "the same number again");
        }
        assert_eq!(
            numbers.number("c1x"),
            100_000,
            "a prefix of another id is another id"
        );
        assert_eq!(numbers.len(), 100_001);
    }

    #[test]
    fn slot_users_sum_counts_and_keep_the_latest_before_and_after_merging() {
        let mut users = SlotUsers::default();
        for i in 0..1_000u32 {
            users.count(i % 7, 1_000 - i);
        }
        let totals = |users: &SlotUsers| {
            let mut totals: BTreeMap<u32, (u32, i64)> = BTreeMap::new();
            for (user, c) in users.iter(5_000) {
                let entry = totals.entry(user).or_insert((0, i64::MIN));
                entry.0 += c.messages;
                entry.1 = entry.1.max(c.last_at);
            }
            totals
        };
        let before = totals(&users);
        users.compact();
        assert_eq!(users.packed.len(), 7, "one entry per user once merged");
        assert_eq!(totals(&users), before);
        for user in 0..7u32 {
            let messages = (0..1_000u32).filter(|i| i % 7 == user).count() as u32;
            let latest = 5_000 + i64::from(1_000 - user);
            assert_eq!(before[&user], (messages, latest), "user {user}");
        }
    }
}
