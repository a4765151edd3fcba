//! Folding raw events into per-entity counters, one chunk of events at a time, so a scan of any
//! range holds only the counters. Distinct users are counted exactly over dense per-export user
//! numbers; distinct conversations per agent over 128-bit keyed hashes of their ids (the odds
//! of two ids sharing a hash are below 10^-20 even at a billion conversations), which keeps
//! the memory of a 10M-message export flat without an estimate's error.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

use crate::analytics::days::DayGrid;
use crate::model::{ActivityBatch, ExecutionStatus, Message};

/// How a message counts for its user (each message counts once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// With a projectId.
    Project,
    /// Without a project, with a `global` agent.
    Chat,
    /// Without a project, with any other agent.
    Assistant,
}

/// One user's activity.
#[derive(Debug, Clone, Default)]
pub struct UserCounts {
    pub total: u64,
    pub chat: u64,
    pub assistants: u64,
    pub projects: u64,
    /// Assistant messages by agent id.
    pub by_agent: HashMap<String, u64>,
    /// Project messages by project id.
    pub by_project: HashMap<String, u64>,
    /// Messages by model id.
    pub by_model: HashMap<String, u64>,
    /// Tool and skill executions by name.
    pub actions: HashMap<String, u64>,
    pub action_count: u64,
    /// Positions of the local dates (in the `from` zone) with a message.
    pub days: HashSet<u32>,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub by_source: HashMap<String, u64>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost: i64,
}

/// Messages, tokens and cost.
#[derive(Debug, Clone, Default)]
pub struct Volume {
    pub messages: u64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cost: i64,
}

impl Volume {
    fn add(&mut self, m: &Message) {
        self.messages += 1;
        self.tokens_in += m.tokens_in.unwrap_or(0);
        self.tokens_out += m.tokens_out.unwrap_or(0);
        self.cost += m.cost_micros.unwrap_or(0);
    }
}

/// One agent's activity.
#[derive(Debug, Clone, Default)]
pub struct AgentCounts {
    pub volume: Volume,
    pub users: HashSet<u32>,
    pub conversations: HashSet<u128>,
}

/// One project's activity.
#[derive(Debug, Clone, Default)]
pub struct ProjectCounts {
    pub messages: u64,
    pub users: HashSet<u32>,
}

/// One workflow's runs.
#[derive(Debug, Clone, Default)]
pub struct WorkflowCounts {
    pub runs: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub users: HashSet<u32>,
}

/// One model's use.
#[derive(Debug, Clone, Default)]
pub struct ModelCounts {
    pub volume: Volume,
    /// The providerId the first message with this model named.
    pub provider: Option<String>,
}

/// Every counter of one export, fed chunk by chunk.
pub struct Counter {
    /// Dates of the `from` zone over the range, for active days.
    days: DayGrid,
    /// Which agents are `global`, so their messages count as chat.
    global_agents: HashSet<String>,
    /// Dense numbers for user ids, for exact distinct counts.
    user_numbers: HashMap<String, u32>,
    hasher: (std::hash::RandomState, std::hash::RandomState),
    pub users: HashMap<String, UserCounts>,
    pub agents: HashMap<String, AgentCounts>,
    pub projects: HashMap<String, ProjectCounts>,
    pub workflows: HashMap<String, WorkflowCounts>,
    pub models: HashMap<String, ModelCounts>,
    /// Events seen, by type: what the "no data" answer looks at.
    pub messages: u64,
    pub executions: u64,
    pub runs: u64,
}

fn bump(map: &mut HashMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn entry<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl Counter {
    /// Counters for a range whose active days are the dates of `days`.
    pub fn new(days: DayGrid, global_agents: HashSet<String>) -> Self {
        Counter {
            days,
            global_agents,
            user_numbers: HashMap::new(),
            hasher: Default::default(),
            users: HashMap::new(),
            agents: HashMap::new(),
            projects: HashMap::new(),
            workflows: HashMap::new(),
            models: HashMap::new(),
            messages: 0,
            executions: 0,
            runs: 0,
        }
    }

    /// How a message counts.
    pub fn kind(&self, m: &Message) -> Kind {
        if m.project_id.is_some() {
            Kind::Project
        } else if self.global_agents.contains(&m.agent_id) {
            Kind::Chat
        } else {
            Kind::Assistant
        }
    }

    fn user_number(&mut self, user: &str) -> u32 {
        if let Some(n) = self.user_numbers.get(user) {
            return *n;
        }
        let n = self.user_numbers.len() as u32;
        self.user_numbers.insert(user.to_string(), n);
        n
    }

    fn conversation_hash(&self, id: &str) -> u128 {
        let half = |state: &std::hash::RandomState| {
            let mut h = state.build_hasher();
            h.write(id.as_bytes());
            h.finish()
        };
        (u128::from(half(&self.hasher.0)) << 64) | u128::from(half(&self.hasher.1))
    }

    /// Folds in a chunk of events, all inside the range.
    pub fn add(&mut self, batch: &ActivityBatch) {
        for m in &batch.messages {
            self.add_message(m);
        }
        for e in batch.tool_executions.iter().chain(&batch.skill_executions) {
            self.executions += 1;
            if let Some(user) = &e.user_id {
                let counts = entry(&mut self.users, user);
                counts.action_count += 1;
                bump(&mut counts.actions, &e.name);
            }
        }
        for r in &batch.workflow_runs {
            self.runs += 1;
            let number = r.user_id.as_deref().map(|u| self.user_number(u));
            let w = entry(&mut self.workflows, &r.workflow_id);
            w.runs += 1;
            match r.status {
                ExecutionStatus::Succeeded => w.succeeded += 1,
                ExecutionStatus::Failed => w.failed += 1,
                ExecutionStatus::Cancelled => {}
            }
            w.users.extend(number);
        }
    }

    fn add_message(&mut self, m: &Message) {
        self.messages += 1;
        let kind = self.kind(m);
        let number = m.user_id.as_deref().map(|u| self.user_number(u));
        let conversation = self.conversation_hash(&m.conversation_id);
        let agent = entry(&mut self.agents, &m.agent_id);
        agent.volume.add(m);
        agent.users.extend(number);
        agent.conversations.insert(conversation);
        if let Some(project) = &m.project_id {
            let p = entry(&mut self.projects, project);
            p.messages += 1;
            p.users.extend(number);
        }
        if let Some(model) = &m.model_id {
            let counts = entry(&mut self.models, model);
            counts.volume.add(m);
            if counts.provider.is_none() {
                counts.provider.clone_from(&m.provider_id);
            }
        }
        if let Some(user) = &m.user_id {
            let day = self.days.index_of(m.occurred_at);
            add_user_message(entry(&mut self.users, user), m, kind, day);
        }
    }

    /// The user ids with a dense number, for rows that list distinct users.
    pub fn user_number_of(&self, user: &str) -> Option<u32> {
        self.user_numbers.get(user).copied()
    }
}

fn add_user_message(u: &mut UserCounts, m: &Message, kind: Kind, day: Option<usize>) {
    u.total += 1;
    match kind {
        Kind::Project => {
            u.projects += 1;
            bump(
                &mut u.by_project,
                m.project_id.as_deref().unwrap_or_default(),
            );
        }
        Kind::Chat => u.chat += 1,
        Kind::Assistant => {
            u.assistants += 1;
            bump(&mut u.by_agent, &m.agent_id);
        }
    }
    if let Some(model) = &m.model_id {
        bump(&mut u.by_model, model);
    }
    if let Some(day) = day {
        u.days.insert(day as u32);
    }
    u.first = Some(u.first.map_or(m.occurred_at, |f| f.min(m.occurred_at)));
    u.last = Some(u.last.map_or(m.occurred_at, |l| l.max(m.occurred_at)));
    bump(&mut u.by_source, &m.source);
    u.tokens_in += m.tokens_in.unwrap_or(0);
    u.tokens_out += m.tokens_out.unwrap_or(0);
    u.cost += m.cost_micros.unwrap_or(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Execution, WorkflowRun};

    pub fn msg(id: &str, user: Option<&str>, agent: &str, project: Option<&str>) -> Message {
        Message {
            id: id.into(),
            occurred_at: 1_000_000,
            conversation_id: format!("c-{agent}"),
            parent_message_id: None,
            user_id: user.map(str::to_string),
            agent_id: agent.into(),
            source: "web".into(),
            model_id: Some("gpt".into()),
            provider_id: Some("openai".into()),
            project_id: project.map(str::to_string),
            tokens_in: Some(10),
            tokens_out: Some(20),
            cost_micros: Some(5),
        }
    }

    fn counter() -> Counter {
        let tz = jiff::tz::TimeZone::UTC;
        let day: jiff::civil::Date = "1970-01-01".parse().unwrap();
        Counter::new(
            DayGrid::new(&tz, day, day),
            HashSet::from(["g".to_string()]),
        )
    }

    #[test]
    fn every_message_counts_once_as_project_chat_or_assistant() {
        let mut c = counter();
        let batch = ActivityBatch {
            messages: vec![
                msg("1", Some("u"), "g", None),
                msg("2", Some("u"), "a", None),
                msg("3", Some("u"), "g", Some("p")),
                msg("4", None, "a", None),
            ],
            ..ActivityBatch::default()
        };
        c.add(&batch);
        let u = &c.users["u"];
        assert_eq!((u.total, u.chat, u.assistants, u.projects), (3, 1, 1, 1));
        assert_eq!(u.by_agent, HashMap::from([("a".to_string(), 1)]));
        assert_eq!(u.by_project, HashMap::from([("p".to_string(), 1)]));
        assert_eq!(u.days, HashSet::from([0]));
        assert_eq!(
            c.agents["a"].volume.messages, 2,
            "programmatic messages count for agents"
        );
        assert_eq!(c.agents["a"].users.len(), 1);
        assert_eq!(c.agents["g"].conversations.len(), 1);
        assert_eq!(c.models["gpt"].volume.messages, 4);
        assert_eq!(c.projects["p"].messages, 1);
    }

    #[test]
    fn actions_and_runs_are_counted_whatever_their_status() {
        let mut c = counter();
        let exec = |id: &str, name: &str, status| Execution {
            id: id.into(),
            occurred_at: 1,
            name: name.into(),
            user_id: Some("u".into()),
            agent_id: None,
            conversation_id: None,
            message_id: None,
            status,
        };
        let run = |id: &str, user: &str, status| WorkflowRun {
            id: id.into(),
            occurred_at: 1,
            workflow_id: "w".into(),
            user_id: Some(user.into()),
            status,
        };
        c.add(&ActivityBatch {
            tool_executions: vec![exec("1", "search", ExecutionStatus::Failed)],
            skill_executions: vec![
                exec("2", "search", ExecutionStatus::Succeeded),
                exec("3", "pdf", ExecutionStatus::Cancelled),
            ],
            workflow_runs: vec![
                run("1", "u", ExecutionStatus::Succeeded),
                run("2", "v", ExecutionStatus::Failed),
                run("3", "v", ExecutionStatus::Cancelled),
            ],
            ..ActivityBatch::default()
        });
        let u = &c.users["u"];
        assert_eq!(u.action_count, 3);
        assert_eq!(u.actions["search"], 2);
        let w = &c.workflows["w"];
        assert_eq!((w.runs, w.succeeded, w.failed, w.users.len()), (3, 1, 1, 2));
    }
}
