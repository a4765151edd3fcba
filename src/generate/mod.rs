//! A deterministic, seeded generator of realistic workspaces, for demos, benchmarks and tests:
//! the directories (members, agents, tools, skills, projects, workflows, models) and the
//! activity of a period, in the wire format of PRODUCT.md. Pure code: no I/O and no clock (the
//! period's end is given). The same options give byte-identical output on every platform.
//! This file owns the public API and the wire format; `cast` draws the workspace's people and
//! catalogs, `activity` the random source and each day's events.

mod activity;
mod cast;

use serde_json::{Value, json};

use self::activity::{DayShape, Ids, Rng};
use self::cast::{Agent, Cast, DAY, MODELS, Member, Owned, SKILLS, TOOLS};
use crate::ingest::directory::DirectoryKind;
use crate::ingest::fields::EARLIEST_MICROS;
use crate::model::{ActivityBatch, Execution, Message, WorkflowRun, from_micros, to_micros};

/// Messages per member per day, averaged over all members (inactive ones included) and the
/// period's days (weekends included). With 10,000 members and 90 days: about 12 million.
const MESSAGES_PER_MEMBER_DAY: f64 = 13.5;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub seed: u64,
    /// How many members the workspace has (at least one is generated).
    pub members: usize,
    /// How many days of activity, each 24 hours long, end before `end`.
    pub days: u32,
    /// The exclusive end of the period: activity covers `[end - days * 24h, end)`.
    pub end: jiff::Timestamp,
    /// The IANA zone whose working hours and weekends shape the activity.
    pub timezone: String,
}

impl GenerateOptions {
    pub fn new(seed: u64, members: usize, days: u32, end: jiff::Timestamp, timezone: &str) -> Self {
        GenerateOptions {
            seed,
            members,
            days,
            end,
            timezone: timezone.to_string(),
        }
    }
}

/// A generated workspace: its cast is drawn once; its days are drawn on demand.
pub struct Generator {
    cast: Cast,
    shapes: Vec<DayShape>,
    seed: u64,
}

impl Generator {
    /// Draws the workspace. An unknown timezone counts as UTC (check it first with
    /// [`crate::model::check_timezone`]). Days that would start before 2000-01-02 are left
    /// out, so `end` must be later than that for the period to hold `days` days.
    pub fn new(opts: GenerateOptions) -> Self {
        let tz = jiff::tz::TimeZone::get(&opts.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let end = to_micros(opts.end);
        let days = i64::from(opts.days).min((end - EARLIEST_MICROS) / DAY - 1);
        let start = end - days.max(0) * DAY;
        let shapes = (0..days).map(|d| DayShape::new(&tz, start + d * DAY));
        let shapes: Vec<_> = shapes.collect();
        let (seed, members) = (opts.seed, opts.members);
        let mut cast = Cast::new(&mut Rng::new(seed, 0), members, start, end);
        scale_rates(&mut cast, &shapes);
        Generator { cast, shapes, seed }
    }

    /// Directory records in the wire format of PRODUCT.md, one list per directory kind, in the
    /// order members, agents, tools, skills, projects, workflows, models.
    pub fn directories(&self) -> Vec<(DirectoryKind, Vec<Value>)> {
        let kinds = DirectoryKind::ALL.iter();
        kinds.map(|&kind| (kind, self.records(kind))).collect()
    }

    /// Activity, one batch per day in time order, each list sorted by `occurred_at` then id.
    /// Drawn lazily, one day at a time. A day can hold more events than one ingest request
    /// takes ([`crate::ingest::MAX_BATCH_ITEMS`]): split it before sending.
    pub fn days(&self) -> impl Iterator<Item = ActivityBatch> + '_ {
        let mut ids = Ids::default();
        self.shapes.iter().zip(1..).map(move |(shape, stream)| {
            activity::day(&self.cast, shape, Rng::new(self.seed, stream), &mut ids)
        })
    }

    fn records(&self, kind: DirectoryKind) -> Vec<Value> {
        let cast = &self.cast;
        let owned =
            |o: &Owned| json!({"id": o.id, "name": o.name, "ownerId": cast.members[o.owner].id});
        let named = |name: &&str| json!({"id": name, "name": name});
        match kind {
            DirectoryKind::Members => cast.members.iter().map(member_record).collect(),
            DirectoryKind::Agents => cast.agents.iter().map(|a| self.agent_record(a)).collect(),
            DirectoryKind::Tools => TOOLS.iter().map(named).collect(),
            DirectoryKind::Skills => SKILLS.iter().map(named).collect(),
            DirectoryKind::Projects => cast.projects.iter().map(owned).collect(),
            DirectoryKind::Workflows => cast.workflows.iter().map(|w| owned(&w.entity)).collect(),
            DirectoryKind::Models => MODELS
                .iter()
                .map(|m| json!({"id": m.0, "name": m.1, "providerId": m.2}))
                .collect(),
        }
    }

    fn agent_record(&self, a: &Agent) -> Value {
        let model = &MODELS[a.model];
        let emails = |list: &[usize]| -> Vec<&str> {
            list.iter()
                .map(|&i| self.cast.members[i].email.as_str())
                .collect()
        };
        let description = match a.settings {
            "global" => "Built-in agent available to everyone".to_string(),
            _ => format!("{}, built by the team for the team", a.name),
        };
        json!({"agentId": a.id, "name": a.name, "description": description,
               "settings": a.settings, "modelId": model.0, "providerId": model.2,
               "authorEmails": emails(&a.authors), "editorEmails": emails(&a.editors),
               "createdAt": instant(a.created_at), "lastEdit": instant(a.last_edit)})
    }
}

/// Scales the members' relative activity so that the period holds
/// [`MESSAGES_PER_MEMBER_DAY`] messages per member and day on average.
fn scale_rates(cast: &mut Cast, shapes: &[DayShape]) {
    let mut demand = 0.0;
    for m in &cast.members {
        let days = shapes.iter().filter(|s| m.active_on(s.start));
        demand += m.rate * days.map(|s| s.factor).sum::<f64>();
    }
    let wanted = MESSAGES_PER_MEMBER_DAY * cast.members.len() as f64 * shapes.len() as f64;
    for m in cast.members.iter_mut().filter(|_| demand > 0.0) {
        m.rate *= wanted / demand;
    }
}

fn member_record(m: &Member) -> Value {
    let status = if m.revoked_at.is_some() {
        "revoked"
    } else {
        "active"
    };
    without_nulls(
        json!({"userId": m.id, "email": m.email, "name": m.name, "role": m.role,
        "status": status, "groups": m.groups, "joinedAt": instant(m.joined_at),
        "lastLoginAt": m.last_login_at.map(instant)}),
    )
}

/// An instant as RFC 3339 in UTC, with as many fractional digits as it needs.
///
/// # Panics
/// For microseconds outside jiff's range (years -9999..=9999), which no valid event holds.
fn instant(us: i64) -> Value {
    Value::String(from_micros(us).to_string())
}

/// Dollars as a JSON number: `micros / 1e6` parses back to exactly `micros` millionths.
fn dollars(micros: i64) -> Value {
    // A finite float always makes a JSON number, so the Null branch is never taken.
    serde_json::Number::from_f64(micros as f64 / 1e6).map_or(Value::Null, Value::Number)
}

/// Leaves out the optional fields an event does not carry.
fn without_nulls(mut event: Value) -> Value {
    if let Value::Object(fields) = &mut event {
        fields.retain(|_, v| !v.is_null());
    }
    event
}

/// A message in the wire format `POST /api/v1/w/{wId}/events` takes.
pub fn message_to_wire(m: &Message) -> Value {
    without_nulls(
        json!({"type": "message", "id": m.id, "occurredAt": instant(m.occurred_at),
        "conversationId": m.conversation_id, "parentMessageId": m.parent_message_id,
        "userId": m.user_id, "agentId": m.agent_id, "source": m.source, "modelId": m.model_id,
        "providerId": m.provider_id, "projectId": m.project_id, "tokensIn": m.tokens_in,
        "tokensOut": m.tokens_out, "cost": m.cost_micros.map(dollars)}),
    )
}

fn execution_to_wire(e: &Execution, kind: &str, name_field: &str) -> Value {
    let mut event = json!({"type": kind, "id": e.id, "occurredAt": instant(e.occurred_at),
        "userId": e.user_id, "agentId": e.agent_id, "conversationId": e.conversation_id,
        "messageId": e.message_id, "status": e.status.as_str()});
    event[name_field] = Value::from(e.name.as_str());
    without_nulls(event)
}

/// A tool execution in the wire format (`type` `tool_execution`, the name in `tool`).
pub fn tool_to_wire(e: &Execution) -> Value {
    execution_to_wire(e, "tool_execution", "tool")
}

/// A skill execution in the wire format (`type` `skill_execution`, the name in `skill`).
pub fn skill_to_wire(e: &Execution) -> Value {
    execution_to_wire(e, "skill_execution", "skill")
}

/// A workflow run in the wire format.
pub fn run_to_wire(r: &WorkflowRun) -> Value {
    without_nulls(
        json!({"type": "workflow_run", "id": r.id, "occurredAt": instant(r.occurred_at),
        "workflowId": r.workflow_id, "userId": r.user_id, "status": r.status.as_str()}),
    )
}

/// Every event of a batch in the wire format: messages, tool executions, skill executions,
/// then workflow runs, so that `validate_batch` gives back the identical batch.
pub fn batch_to_wire(b: &ActivityBatch) -> Vec<Value> {
    let messages = b.messages.iter().map(message_to_wire);
    let tools = b.tool_executions.iter().map(tool_to_wire);
    let skills = b.skill_executions.iter().map(skill_to_wire);
    let runs = b.workflow_runs.iter().map(run_to_wire);
    messages.chain(tools).chain(skills).chain(runs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::directory::{missing_required, validate_records};
    use crate::ingest::validate_batch;
    use crate::model::ExecutionStatus;
    use std::collections::HashSet;
    use std::ops::Range;

    /// Ends mid-afternoon in a zone 5:45 ahead of UTC, so that days never align with local days.
    fn options(seed: u64, members: usize, days: u32) -> GenerateOptions {
        let end = "2026-03-04T15:27:13.5Z".parse().expect("a valid instant");
        GenerateOptions::new(seed, members, days, end, "Asia/Kathmandu")
    }

    fn now(o: &GenerateOptions) -> i64 {
        to_micros(o.end) + 3_600_000_000
    }

    fn everything(o: &GenerateOptions) -> String {
        let g = Generator::new(o.clone());
        let directories = g.directories().into_iter().map(|(_, records)| records);
        let all: Vec<_> = directories
            .chain(g.days().map(|b| batch_to_wire(&b)))
            .collect();
        serde_json::to_string(&all).expect("JSON values always serialize")
    }

    /// Whether events (time, id) all lie in `day`, sorted by time then id.
    fn in_order<'a>(events: impl Iterator<Item = (i64, &'a String)>, day: &Range<i64>) -> bool {
        let events: Vec<_> = events.collect();
        events.iter().all(|(at, _)| day.contains(at)) && events.is_sorted()
    }

    #[test]
    fn same_options_give_identical_output_and_other_seeds_differ() {
        let first = everything(&options(7, 60, 4));
        assert_eq!(first, everything(&options(7, 60, 4)));
        assert_ne!(first, everything(&options(8, 60, 4)));
        assert_eq!(cast::numbered("msg_", 123, 10), "msg_0000000123");
        assert_eq!(cast::numbered("u", 123_456, 3), "u123456");
    }

    #[test]
    fn directory_records_pass_validation() {
        let o = options(3, 400, 1);
        let directories = Generator::new(o.clone()).directories();
        let kinds: Vec<_> = directories.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, DirectoryKind::ALL);
        for (kind, items) in &directories {
            let records = validate_records(*kind, items, now(&o))
                .unwrap_or_else(|errors| panic!("{kind}: {errors:?}"));
            assert!(
                missing_required(*kind, &records, |_| false).is_empty(),
                "{kind}"
            );
            let ids: HashSet<_> = records.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids.len(), records.len(), "{kind} ids are unique");
        }
        let (members, agents) = (&directories[0].1, &directories[1].1);
        let emails: HashSet<_> = members.iter().map(|m| m["email"].as_str()).collect();
        assert_eq!(emails.len(), 400);
        let count = |list: &[Value], field: &str, word: &str| {
            list.iter().filter(|r| r[field] == word).count()
        };
        assert!(count(members, "status", "revoked") > 0 && count(members, "role", "admin") > 0);
        assert!(count(members, "role", "builder") > 0);
        assert!(
            count(agents, "settings", "global") == 2
                && count(agents, "settings", "unpublished") > 0
        );
    }

    #[test]
    fn wire_events_round_trip_and_days_hold_their_own_events_in_order() {
        let o = options(11, 120, 9);
        let start = to_micros(o.end) - 9 * DAY;
        let batches: Vec<_> = Generator::new(o.clone()).days().collect();
        assert_eq!(batches.len(), 9);
        for (d, batch) in (0..).zip(&batches) {
            let wire = batch_to_wire(batch);
            assert_eq!(validate_batch(&wire, now(&o)).as_ref(), Ok(batch));
            let day = start + d * DAY..start + (d + 1) * DAY;
            assert!(in_order(
                batch.messages.iter().map(|m| (m.occurred_at, &m.id)),
                &day
            ));
            assert!(in_order(
                batch.tool_executions.iter().map(|e| (e.occurred_at, &e.id)),
                &day
            ));
            assert!(in_order(
                batch
                    .skill_executions
                    .iter()
                    .map(|e| (e.occurred_at, &e.id)),
                &day
            ));
            assert!(in_order(
                batch.workflow_runs.iter().map(|r| (r.occurred_at, &r.id)),
                &day
            ));
        }
    }

    /// Measured: 200 members over 7 days with seed 1 give 19,480 messages. 10,000 members over
    /// 90 days give about 11.9 million (16 million events with executions and runs), drawn at
    /// about 0.9 million messages a second by a release build on a shared 2-core machine.
    #[test]
    fn a_small_workspace_has_eleven_messages_per_member_and_day() {
        let count: usize = Generator::new(options(1, 200, 7))
            .days()
            .map(|b| b.messages.len())
            .sum();
        assert!(count >= 200 * 7 * 11 * 8 / 10, "{count}");
    }

    #[test]
    fn activity_has_the_shape_of_a_workspace() {
        let batches: Vec<_> = Generator::new(options(5, 300, 14)).days().collect();
        let messages: Vec<_> = batches.iter().flat_map(|b| &b.messages).collect();
        let share = |f: fn(&Message) -> bool| {
            messages.iter().filter(|m| f(m)).count() as f64 / messages.len() as f64
        };
        assert!((0.1..0.2).contains(&share(|m| m.project_id.is_some())));
        assert!((0.02..0.15).contains(&share(|m| m.user_id.is_none())));
        let users: HashSet<_> = messages.iter().filter_map(|m| m.user_id.as_ref()).collect();
        let sources: HashSet<_> = messages.iter().map(|m| &m.source).collect();
        assert!(
            (200..290).contains(&users.len()) && sources.len() == 11,
            "{}",
            users.len()
        );
        let per_day: Vec<_> = batches.iter().map(|b| b.messages.len()).collect();
        let (busiest, quietest) = (per_day.iter().max(), per_day.iter().min());
        assert!(
            busiest > quietest.map(|n| 3 * n).as_ref(),
            "weekends are quiet: {per_day:?}"
        );
        let failed = |s: &ExecutionStatus| *s == ExecutionStatus::Failed;
        assert!(
            batches
                .iter()
                .flat_map(|b| &b.tool_executions)
                .any(|e| failed(&e.status))
        );
        assert!(
            batches
                .iter()
                .flat_map(|b| &b.workflow_runs)
                .any(|r| failed(&r.status))
        );
    }
}
