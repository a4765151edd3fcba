//! Activity events from the wire format of PRODUCT.md to typed [`ActivityBatch`]es.

use serde_json::Value;

use super::fields::{FieldError, Fields};
use crate::model::{
    ActivityBatch, Execution, ExecutionStatus, Message, WorkflowRun, is_valid_source,
};

const MESSAGE_FIELDS: &[&str] = &[
    "type",
    "id",
    "occurredAt",
    "conversationId",
    "parentMessageId",
    "userId",
    "agentId",
    "source",
    "modelId",
    "providerId",
    "projectId",
    "tokensIn",
    "tokensOut",
    "cost",
];
const TOOL_FIELDS: &[&str] = &[
    "type",
    "id",
    "occurredAt",
    "tool",
    "userId",
    "agentId",
    "conversationId",
    "messageId",
    "status",
];
const SKILL_FIELDS: &[&str] = &[
    "type",
    "id",
    "occurredAt",
    "skill",
    "userId",
    "agentId",
    "conversationId",
    "messageId",
    "status",
];
const WORKFLOW_FIELDS: &[&str] = &["type", "id", "occurredAt", "workflowId", "userId", "status"];

/// The longest tool or skill name accepted.
pub const MAX_NAME_CHARS: usize = 256;

/// Validates a batch of parsed events. Either every event is valid and the typed batch comes
/// back, or every problem of every event comes back and nothing is to be stored.
///
/// # Errors
/// Every field error found, in batch order.
pub fn validate_batch(events: &[Value], now_micros: i64) -> Result<ActivityBatch, Vec<FieldError>> {
    let mut batch = ActivityBatch::default();
    let mut errors = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let Some(obj) = event.as_object() else {
            errors.push(FieldError {
                index: Some(index),
                field: String::new(),
                reason: "each event must be a JSON object".into(),
            });
            continue;
        };
        let mut f = Fields::new(obj, Some(index), &mut errors);
        match f.str("type", true) {
            Some("message") => push(&mut batch.messages, message(&mut f, now_micros)),
            Some("tool_execution") => push(
                &mut batch.tool_executions,
                execution(&mut f, "tool", TOOL_FIELDS, now_micros),
            ),
            Some("skill_execution") => push(
                &mut batch.skill_executions,
                execution(&mut f, "skill", SKILL_FIELDS, now_micros),
            ),
            Some("workflow_run") => {
                push(&mut batch.workflow_runs, workflow_run(&mut f, now_micros))
            }
            Some(_) => f.error(
                "type",
                "must be one of message|tool_execution|skill_execution|workflow_run",
            ),
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(batch)
    } else {
        Err(errors)
    }
}

fn push<T>(list: &mut Vec<T>, item: Option<T>) {
    list.extend(item);
}

fn message(f: &mut Fields<'_>, now: i64) -> Option<Message> {
    f.refuse_unknown(MESSAGE_FIELDS);
    // Every field is read before any is required, so that all problems are reported.
    let id = f.id("id", true);
    let occurred_at = f.instant("occurredAt", true, now);
    let conversation_id = f.id("conversationId", true);
    let parent_message_id = f.id("parentMessageId", false);
    let user_id = f.id("userId", false);
    let agent_id = f.id("agentId", true);
    let source = f.str("source", true).and_then(|s| {
        if is_valid_source(s) {
            Some(s.to_string())
        } else {
            f.error(
                "source",
                "must be 1 to 32 characters of a-z 0-9 _, such as web or slack",
            );
            None
        }
    });
    let model_id = f.id("modelId", false);
    let provider_id = f.id("providerId", false);
    let project_id = f.id("projectId", false);
    let tokens_in = f.count("tokensIn");
    let tokens_out = f.count("tokensOut");
    let cost_micros = f.dollars("cost");
    if !f.clean() {
        return None;
    }
    Some(Message {
        id: id?,
        occurred_at: occurred_at?,
        conversation_id: conversation_id?,
        parent_message_id,
        user_id,
        agent_id: agent_id?,
        source: source?,
        model_id,
        provider_id,
        project_id,
        tokens_in,
        tokens_out,
        cost_micros,
    })
}

fn execution(
    f: &mut Fields<'_>,
    name_field: &str,
    allowed: &[&str],
    now: i64,
) -> Option<Execution> {
    f.refuse_unknown(allowed);
    let id = f.id("id", true);
    let occurred_at = f.instant("occurredAt", true, now);
    let name = f.text(name_field, true, MAX_NAME_CHARS);
    let user_id = f.id("userId", false);
    let agent_id = f.id("agentId", false);
    let conversation_id = f.id("conversationId", false);
    let message_id = f.id("messageId", false);
    let status = f.word("status", false);
    if !f.clean() {
        return None;
    }
    Some(Execution {
        id: id?,
        occurred_at: occurred_at?,
        name: name?,
        user_id,
        agent_id,
        conversation_id,
        message_id,
        status: status.unwrap_or(ExecutionStatus::Succeeded),
    })
}

fn workflow_run(f: &mut Fields<'_>, now: i64) -> Option<WorkflowRun> {
    f.refuse_unknown(WORKFLOW_FIELDS);
    let id = f.id("id", true);
    let occurred_at = f.instant("occurredAt", true, now);
    let workflow_id = f.id("workflowId", true);
    let user_id = f.id("userId", false);
    let status = f.word("status", true);
    if !f.clean() {
        return None;
    }
    Some(WorkflowRun {
        id: id?,
        occurred_at: occurred_at?,
        workflow_id: workflow_id?,
        user_id,
        status: status?,
    })
}
