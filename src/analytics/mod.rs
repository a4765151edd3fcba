//! Analytics: the eight tables of the analytics export, exact in any IANA timezone.
//!
//! A [`Query`] names a zone and a range of local dates. Answers come in two steps: the numbers
//! ([`Answers`]: daily counts and per-entity stats, which an engine computes), then rows
//! ([`rows`]): numbers joined with directory data and shaped into typed cells that the CSV and
//! JSON writers of [`format`] print. [`reference`] computes the numbers by the definitions, from
//! raw events: obviously correct, and the yardstick every faster engine is tested against.

pub mod days;
pub mod engine;
#[cfg(test)]
mod engine_tests;
pub mod format;
pub mod params;
pub mod reference;
pub mod rollup;
pub mod rows;
pub mod service;
#[cfg(test)]
mod tests;

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::privacy::{UserColumn, UserColumns};
use days::DayGrid;

/// The tables of the analytics export, in the order PRODUCT.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    UsageMetrics,
    ActiveUsers,
    Source,
    ToolUsage,
    SkillUsage,
    Agents,
    Users,
    Messages,
}

impl Table {
    pub const ALL: &'static [Table] = &[
        Table::UsageMetrics,
        Table::ActiveUsers,
        Table::Source,
        Table::ToolUsage,
        Table::SkillUsage,
        Table::Agents,
        Table::Users,
        Table::Messages,
    ];

    /// The name the `table` parameter takes.
    pub fn name(self) -> &'static str {
        match self {
            Table::UsageMetrics => "usage_metrics",
            Table::ActiveUsers => "active_users",
            Table::Source => "source",
            Table::ToolUsage => "tool_usage",
            Table::SkillUsage => "skill_usage",
            Table::Agents => "agents",
            Table::Users => "users",
            Table::Messages => "messages",
        }
    }

    /// The columns, in order; names match Dust's so existing scripts keep working.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::UsageMetrics => &["date", "messages", "conversations", "activeUsers"],
            Table::ActiveUsers => &["date", "dau", "wau", "mau"],
            Table::Source => &["date", "source", "messageCount"],
            Table::ToolUsage => &["date", "toolName", "executions", "uniqueUsers"],
            Table::SkillUsage => &["date", "skillName", "executions", "uniqueUsers"],
            Table::Agents => &[
                "agentId",
                "name",
                "description",
                "settings",
                "modelId",
                "providerId",
                "authorEmails",
                "editorEmails",
                "messages",
                "distinctUsersReached",
                "distinctConversations",
                "lastEdit",
            ],
            Table::Users => &[
                "userId",
                "userName",
                "userEmail",
                "userStatus",
                "lastLoginAt",
                "messageCount",
                "lastMessageSent",
                "activeDaysCount",
                "groups",
            ],
            Table::Messages => &[
                "messageId",
                "createdAt",
                "assistantId",
                "assistantName",
                "conversationId",
                "parentMessageId",
                "userId",
                "userEmail",
                "source",
                "toolsUsed",
                "skillsUsed",
                "modelId",
                "modelProviderId",
                "tokensIn",
                "tokensOut",
                "cost",
            ],
        }
    }
}

impl Table {
    /// The columns that identify people, for [`crate::privacy::Policy::shape`].
    pub fn user_columns(self) -> UserColumns {
        match self {
            Table::Users => &[
                (0, UserColumn::Id),
                (1, UserColumn::NameOf(0)),
                (2, UserColumn::Email),
                (8, UserColumn::Groups),
            ],
            Table::Messages => &[(6, UserColumn::Id), (7, UserColumn::Email)],
            Table::Agents => &[(6, UserColumn::Email), (7, UserColumn::Email)],
            _ => &[],
        }
    }

    /// Whether the table is about people, one row each: refused under privacy `excluded`.
    pub fn is_user_level(self) -> bool {
        self == Table::Users
    }
}

impl std::str::FromStr for Table {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Table::ALL
            .iter()
            .copied()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
                format!("unknown table {s:?}: use one of {}", names.join(", "))
            })
    }
}

/// Days a rolling window reaches back: MAU counts the 28 dates ending on a day.
pub const MAU_DAYS: i64 = 28;
/// WAU counts the 7 dates ending on a day.
pub const WAU_DAYS: i64 = 7;

/// What to compute: a zone and a range of local dates, both ends included.
#[derive(Debug, Clone)]
pub struct Query {
    pub tz: TimeZone,
    pub start: Date,
    pub end: Date,
}

impl Query {
    pub fn new(tz: TimeZone, start: Date, end: Date) -> Self {
        Query { tz, start, end }
    }

    /// The dates of the range.
    pub fn grid(&self) -> DayGrid {
        DayGrid::new(&self.tz, self.start, self.end)
    }

    /// The dates of the range preceded by the 27 dates a monthly window reaches back.
    pub fn history_grid(&self) -> DayGrid {
        let first = self
            .start
            .checked_sub(jiff::Span::new().days(MAU_DAYS - 1))
            .expect("ranges start after 2000");
        DayGrid::new(&self.tz, first, self.end)
    }
}

/// One day of the activity chart: volume and active users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyActivity {
    pub date: Date,
    pub messages: u64,
    pub conversations: u64,
    pub dau: u64,
    pub wau: u64,
    pub mau: u64,
}

/// Messages from one source on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCount {
    pub date: Date,
    pub source: String,
    pub messages: u64,
}

/// Executions of one tool or skill on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionCount {
    pub date: Date,
    pub name: String,
    pub executions: u64,
    pub unique_users: u64,
}

/// One agent's activity over the range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentStats {
    pub messages: u64,
    pub distinct_users: u64,
    pub distinct_conversations: u64,
}

/// One user's activity over the range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserStats {
    pub messages: u64,
    pub last_message_at: Option<i64>,
    pub active_days: u64,
    pub distinct_agents: u64,
}

/// The numbers behind every table but `messages`, which streams raw rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answers {
    /// One entry per date of the range, zeros included.
    pub daily: Vec<DailyActivity>,
    /// Non-zero counts, by date then source.
    pub sources: Vec<SourceCount>,
    /// Non-zero counts, by date then name.
    pub tools: Vec<ExecutionCount>,
    pub skills: Vec<ExecutionCount>,
    /// Agents with messages in the range, by id.
    pub agents: std::collections::BTreeMap<String, AgentStats>,
    /// Users with messages in the range, by id.
    pub users: std::collections::BTreeMap<String, UserStats>,
}
