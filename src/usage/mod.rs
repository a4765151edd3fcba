//! The usage export (Langdock-compatible): one CSV file, or inline JSON rows, per data type
//! (`users`, `assistants`, `workflows`, `projects`, `models`) for a range of local wall times.
//!
//! Pure parts: [`range`] reads the request body into exact instants; [`count`] folds raw
//! events into per-entity counters; [`rows`] joins them with directories into typed cells in
//! each data type's columns (Langdock's names first, tally's additions after them). The shell,
//! [`service`], scans the store a day at a time so memory stays bounded on any range.
//!
//! How messages count, so that the numbers agree with the analytics export: every message
//! counts once; "project" messages are those with a projectId; of the rest, "chat" messages
//! are those whose agent is `global` and "assistant" messages those of any other agent.
//! Messages without a user (programmatic calls) count in the assistants, projects and models
//! rows. "Actions" are tool and skill executions of any status.

pub mod count;
pub mod files;
pub mod range;
pub mod rows;
pub mod service;
pub mod store;

use crate::privacy::{UserColumn, UserColumns};

/// What an export lists, one row per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Users,
    Assistants,
    Workflows,
    Projects,
    Models,
}

impl DataType {
    pub const ALL: &'static [DataType] = &[
        DataType::Users,
        DataType::Assistants,
        DataType::Workflows,
        DataType::Projects,
        DataType::Models,
    ];

    /// The name in paths and answers (`agents` is read as `assistants`).
    pub fn name(self) -> &'static str {
        match self {
            DataType::Users => "users",
            DataType::Assistants => "assistants",
            DataType::Workflows => "workflows",
            DataType::Projects => "projects",
            DataType::Models => "models",
        }
    }

    /// The data type a path segment names; `agents` is an alias of `assistants`.
    pub fn from_path(segment: &str) -> Option<DataType> {
        if segment == "agents" {
            return Some(DataType::Assistants);
        }
        DataType::ALL.iter().copied().find(|d| d.name() == segment)
    }

    /// The columns, in order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            DataType::Users => USER_COLUMNS,
            DataType::Assistants => &[
                "period_start",
                "period_end",
                "org_id",
                "assistant_id",
                "assistant_name",
                "messages",
                "unique_users",
                "active_users",
                "conversations",
                "messages_per_user",
                "assistant_description",
                "assistant_owner_id",
                "assistant_owner_email",
                "sum_prompt_tokens",
                "sum_completion_tokens",
                "total_cost_usd",
            ],
            DataType::Workflows => &[
                "period_start",
                "period_end",
                "org_id",
                "workflow_id",
                "workflow_name",
                "workflow_owner_id",
                "workflow_owner_email",
                "runs",
                "runs_succeeded",
                "runs_failed",
                "success_rate",
                "unique_users",
            ],
            DataType::Projects => &[
                "period_start",
                "period_end",
                "org_id",
                "project_id",
                "project_name",
                "project_owner_id",
                "project_owner_email",
                "messages",
                "unique_users",
            ],
            DataType::Models => &[
                "period_start",
                "period_end",
                "org_id",
                "name",
                "provider",
                "requests",
                "sum_prompt_tokens",
                "sum_completion_tokens",
                "total_cost_usd",
            ],
        }
    }

    /// The columns that identify people, for the privacy policy.
    pub fn user_columns(self) -> UserColumns {
        match self {
            DataType::Users => &[
                (3, UserColumn::Id),
                (4, UserColumn::NameOf(3)),
                (5, UserColumn::Email),
            ],
            DataType::Assistants => &[(11, UserColumn::Id), (12, UserColumn::Email)],
            DataType::Workflows | DataType::Projects => {
                &[(5, UserColumn::Id), (6, UserColumn::Email)]
            }
            DataType::Models => &[],
        }
    }

    /// Whether the export is about people, one row each: refused under privacy `excluded`.
    pub fn is_user_level(self) -> bool {
        self == DataType::Users
    }
}

const USER_COLUMNS: &[&str] = &[
    "period_start",
    "period_end",
    "org_id",
    "user_id",
    "name",
    "email",
    "role",
    "joined_at",
    "messages_total",
    "messages_total_rank",
    "messages_chat",
    "messages_chat_rank",
    "messages_assistants",
    "messages_assistants_rank",
    "assistants_messaged",
    "assistants_to_messages",
    "messages_projects",
    "messages_projects_rank",
    "projects_messaged",
    "projects_to_messages",
    "model_to_messages_total",
    "action_messages",
    "action_messaged",
    "action_to_messages",
    "active_days",
    "first_message_at",
    "last_message_at",
    "messages_by_source",
    "tokens_in",
    "tokens_out",
    "cost",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_is_an_alias_of_assistants() {
        assert_eq!(DataType::from_path("agents"), Some(DataType::Assistants));
        assert_eq!(DataType::from_path("models"), Some(DataType::Models));
        assert_eq!(DataType::from_path("tools"), None);
    }

    #[test]
    fn user_columns_name_the_right_cells() {
        for data in DataType::ALL {
            let columns = data.columns();
            for (index, kind) in data.user_columns() {
                let name = columns[*index];
                let expected = match kind {
                    UserColumn::Id => name.ends_with("user_id") || name.ends_with("owner_id"),
                    UserColumn::NameOf(_) => name == "name",
                    UserColumn::Email => name.ends_with("email"),
                    UserColumn::Groups => name == "groups",
                };
                assert!(expected, "{} column {name}", data.name());
            }
        }
    }
}
