//! Activity events as stored: validated, typed, instants in microseconds since the epoch.
//! A message never carries its text; there is no field for it.

use super::word_enum;

word_enum! {
    /// Outcome of a tool or skill execution, or of a workflow run.
    ExecutionStatus { Succeeded => "succeeded", Failed => "failed", Cancelled => "cancelled" }
}

/// One agent reply in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub occurred_at: i64,
    pub conversation_id: String,
    pub parent_message_id: Option<String>,
    /// Absent for programmatic calls.
    pub user_id: Option<String>,
    pub agent_id: String,
    pub source: String,
    pub model_id: Option<String>,
    pub provider_id: Option<String>,
    pub project_id: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    /// US dollars in millionths: exact, never a float.
    pub cost_micros: Option<i64>,
}

/// One call of a tool or a skill; which one is decided by the batch list it sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub id: String,
    pub occurred_at: i64,
    /// The tool's or skill's name.
    pub name: String,
    pub user_id: Option<String>,
    pub agent_id: Option<String>,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub status: ExecutionStatus,
}

/// One triggered or scheduled workflow run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRun {
    pub id: String,
    pub occurred_at: i64,
    pub workflow_id: String,
    pub user_id: Option<String>,
    pub status: ExecutionStatus,
}

/// A validated ingest batch, split by event type (ids are unique per workspace and type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityBatch {
    pub messages: Vec<Message>,
    pub tool_executions: Vec<Execution>,
    pub skill_executions: Vec<Execution>,
    pub workflow_runs: Vec<WorkflowRun>,
}

impl ActivityBatch {
    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        self.messages.len()
            + self.tool_executions.len()
            + self.skill_executions.len()
            + self.workflow_runs.len()
    }

    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves every event of `other` into `self`.
    pub fn append(&mut self, other: &mut ActivityBatch) {
        self.messages.append(&mut other.messages);
        self.tool_executions.append(&mut other.tool_executions);
        self.skill_executions.append(&mut other.skill_executions);
        self.workflow_runs.append(&mut other.workflow_runs);
    }
}
