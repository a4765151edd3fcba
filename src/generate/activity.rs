//! The random source and one day of activity. [`Rng`] is SplitMix64 seeding xoshiro256**,
//! written here so that a seed gives the same workspace on every platform and with every crate
//! version: it uses only integer arithmetic, division and `sqrt`, which IEEE 754 rounds exactly.
//! [`day`] turns the cast and the shape of one day (working hours, weekends in the workspace's
//! timezone) into that day's messages, tool and skill executions and workflow runs.

use super::cast::{Cast, DAY, MODELS, Member, SKILLS, SOURCES, TOOLS, Workflow, numbered};
use crate::model::{ActivityBatch, Execution, ExecutionStatus, Message, WorkflowRun, from_micros};

const HOUR: i64 = DAY / 24;
const SECOND: i64 = 1_000_000;
/// Relative activity by local hour on a working day.
const HOURLY: [f64; 24] = [
    0.03, 0.02, 0.02, 0.02, 0.03, 0.06, 0.15, 0.35, 0.75, 1.0, 1.0, 0.95, 0.6, 0.8, 1.0, 0.95,
    0.85, 0.6, 0.35, 0.25, 0.2, 0.15, 0.1, 0.05,
];
/// Activity on Saturdays and Sundays relative to a working day.
const WEEKEND: [f64; 2] = [0.18, 0.12];

/// xoshiro256** seeded through SplitMix64.
pub(super) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The stream `stream` of `seed`: stream 0 draws the cast, stream `d + 1` draws day `d`.
    pub(super) fn new(seed: u64, stream: u64) -> Rng {
        let mut x = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut next = move || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let s = [next(), next(), next(), next()];
        Rng { s }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..len` (0 when `len` is 0).
    pub(super) fn index(&mut self, len: usize) -> usize {
        ((u128::from(self.next_u64()) * len as u128) >> 64) as usize
    }

    /// Uniform in `[from, to)`; `from` when the span is empty.
    pub(super) fn between(&mut self, from: i64, to: i64) -> i64 {
        let span = u128::from(to.saturating_sub(from).max(0).unsigned_abs());
        from + ((u128::from(self.next_u64()) * span) >> 64) as i64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// `yes` with probability `p`, else `no`.
    pub(super) fn either<T>(&mut self, p: f64, yes: T, no: T) -> T {
        if self.chance(p) { yes } else { no }
    }

    /// 1 plus as many further steps, each with probability `p`, as happen; at most `max`.
    fn geometric(&mut self, p: f64, max: usize) -> usize {
        let mut n = 1;
        while n < max && self.chance(p) {
            n += 1;
        }
        n
    }

    /// `x` (at least 0) rounded down or up at random, so that the mean is `x`.
    fn round(&mut self, x: f64) -> usize {
        (x + self.unit()) as usize
    }
}

/// Draws indices with probability proportional to their weights; a zero weight is never drawn.
pub(super) struct Table {
    cumulative: Vec<f64>,
}

impl Table {
    pub(super) fn new(weights: impl IntoIterator<Item = f64>) -> Table {
        let mut sum = 0.0;
        let cumulative = weights.into_iter().map(|w| {
            sum += w;
            sum
        });
        Table {
            cumulative: cumulative.collect(),
        }
    }

    /// Zipf popularity over `n` entries, the last `unused` of which are never drawn.
    pub(super) fn zipf(n: usize, unused: usize) -> Table {
        Table::new((0..n).map(|k| f64::from(u8::from(k + unused < n)) / (k + 1) as f64))
    }

    pub(super) fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        i.min(self.cumulative.len().saturating_sub(1))
    }
}

/// When people work during one day of the period: a weight for each hour from its start.
pub(super) struct DayShape {
    pub start: i64,
    hours: Table,
    /// The day's activity relative to a full working day.
    pub factor: f64,
}

impl DayShape {
    pub(super) fn new(tz: &jiff::tz::TimeZone, start: i64) -> DayShape {
        let weights: [f64; 24] = std::array::from_fn(|h| {
            let local = tz.to_datetime(from_micros(start + h as i64 * HOUR + HOUR / 2));
            let weekday = local.weekday().to_monday_zero_offset() as usize;
            HOURLY[local.hour() as usize] * weekday.checked_sub(5).map_or(1.0, |w| WEEKEND[w])
        });
        let factor = weights.iter().sum::<f64>() / HOURLY.iter().sum::<f64>();
        DayShape {
            start,
            hours: Table::new(weights),
            factor,
        }
    }

    /// An instant in the day, drawn along its working hours.
    fn instant(&self, rng: &mut Rng) -> i64 {
        self.start + self.hours.pick(rng) as i64 * HOUR + rng.between(0, HOUR)
    }
}

/// The last number used for each kind of id, carried from one day to the next: messages,
/// conversations, tool executions, skill executions and workflow runs.
pub(super) type Ids = [u64; 5];
const MSG: usize = 0;
const CONV: usize = 1;
/// Skill executions come right after: `TOOL + 1`.
const TOOL: usize = 2;
const RUN: usize = 4;

fn next(ids: &mut Ids, kind: usize) -> u64 {
    ids[kind] += 1;
    ids[kind]
}

/// A message before its strings are made: small, so that a day of them sorts fast.
#[derive(Clone, Copy)]
struct Draft {
    at: i64,
    id: u64,
    conversation: u64,
    parent: Option<u64>,
    member: Option<u32>,
    agent: u32,
    source: u8,
    model: u8,
    project: Option<u32>,
    tokens_in: i64,
    tokens_out: i64,
}

/// A tool or skill execution before its strings are made, with the message it led to.
#[derive(Clone, Copy)]
struct Call {
    at: i64,
    id: u64,
    skill: bool,
    name: u8,
    status: ExecutionStatus,
    message: Draft,
}

/// One day of activity, each list sorted by time (ties in id order).
pub(super) fn day(cast: &Cast, shape: &DayShape, rng: Rng, ids: &mut Ids) -> ActivityBatch {
    let (drafts, calls, runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut day = Day {
        cast,
        shape,
        rng,
        ids,
        drafts,
        calls,
        runs,
    };
    (0..).zip(&cast.members).for_each(|(i, m)| day.member(i, m));
    cast.workflows.iter().for_each(|w| day.workflow(w));
    // Ids are unique, so the order is fully decided; runs were drawn in id order.
    day.drafts.sort_unstable_by_key(|d| (d.at, d.id));
    day.calls.sort_unstable_by_key(|c| (c.at, c.id, c.skill));
    day.runs.sort_by_key(|r| r.occurred_at);
    let (skills, tools): (Vec<&Call>, Vec<&Call>) = day.calls.iter().partition(|c| c.skill);
    ActivityBatch {
        messages: day.drafts.iter().map(|d| day.message(d)).collect(),
        tool_executions: tools.into_iter().map(|c| day.execution(c)).collect(),
        skill_executions: skills.into_iter().map(|c| day.execution(c)).collect(),
        workflow_runs: day.runs,
    }
}

struct Day<'a> {
    cast: &'a Cast,
    shape: &'a DayShape,
    rng: Rng,
    ids: &'a mut Ids,
    drafts: Vec<Draft>,
    calls: Vec<Call>,
    runs: Vec<WorkflowRun>,
}

impl Day<'_> {
    /// Member `i`'s conversations of the day: none on most days off, more on busy days.
    fn member(&mut self, i: u32, m: &Member) {
        let presence = m.regularity * (1.5 * self.shape.factor).min(1.0);
        if !m.active_on(self.shape.start) || !self.rng.chance(presence) {
            return;
        }
        let expected = m.rate * self.shape.factor / presence * (0.5 + self.rng.unit());
        let mut left = self.rng.round(expected);
        while left > 0 {
            let len = self.rng.geometric(0.8, 40).min(left);
            let thread = self.thread(i, m);
            self.conversation(thread, len);
            left -= len;
        }
    }

    /// What the messages of a new conversation share.
    fn thread(&mut self, i: u32, m: &Member) -> Draft {
        let (cast, rng) = (self.cast, &mut self.rng);
        let any_source = cast.source_table.pick(rng);
        let source = rng.either(0.6, m.home_source, any_source);
        let (favourite, any_agent) = (m.favourites[rng.index(3)], cast.agent_table.pick(rng));
        let agent = rng.either(0.65, favourite, any_agent);
        let any_model = cast.model_table.pick(rng);
        // Programmatic calls (sources nobody uses by hand) mostly come without a user.
        let with_user = SOURCES[source].2 > 0.0 || rng.chance(0.3);
        let with_project = rng.chance(0.375);
        Draft {
            at: 0,
            id: 0,
            conversation: next(self.ids, CONV),
            parent: None,
            member: with_user.then_some(i),
            agent: agent as u32,
            source: source as u8,
            model: rng.either(0.85, cast.agents[agent].model, any_model) as u8,
            project: m.project.filter(|_| with_project).map(|p| p as u32),
            tokens_in: 0,
            tokens_out: 0,
        }
    }

    /// Up to `len` replies a few minutes apart; the input grows with the conversation.
    fn conversation(&mut self, mut draft: Draft, len: usize) {
        let mut at = self.shape.instant(&mut self.rng);
        for position in 0..len as i64 {
            if at >= self.shape.start + DAY {
                break;
            }
            let attachments = self.rng.either(0.05, 8, 1);
            let u = self.rng.unit();
            draft.at = at;
            draft.id = next(self.ids, MSG);
            draft.tokens_in = attachments * (300 + 350 * position + self.rng.between(0, 1500));
            draft.tokens_out = 40 + (u * u * 1500.0) as i64;
            self.drafts.push(draft);
            self.calls(draft);
            draft.parent = Some(draft.id);
            let pause = self.rng.either(0.1, 2400 * SECOND, 0);
            at += 15 * SECOND + self.rng.between(0, 240 * SECOND + pause);
        }
    }

    /// The tool calls (often several) and skill calls made in the seconds before a reply.
    fn calls(&mut self, message: Draft) {
        let agent = &self.cast.agents[message.agent as usize];
        let uses_tools = self.rng.chance(agent.tool_rate);
        let tool_calls = self.rng.geometric(0.35, 4) * usize::from(uses_tools);
        for steps in (1..=tool_calls).rev() {
            self.call(message, (false, &agent.tools), steps);
        }
        if !agent.skills.is_empty() && self.rng.chance(agent.skill_rate) {
            self.call(message, (true, &agent.skills), 1);
        }
    }

    /// A call of one of `names`, made `steps` steps of one to four seconds before a reply.
    fn call(&mut self, message: Draft, (skill, names): (bool, &[usize]), steps: usize) {
        let id = next(self.ids, TOOL + usize::from(skill));
        let back = steps as i64 * self.rng.between(SECOND, 4 * SECOND);
        let at = (message.at - back).max(self.shape.start);
        let name = names[self.rng.index(names.len())] as u8;
        let status = self.status(0.03);
        let call = Call {
            at,
            id,
            skill,
            name,
            status,
            message,
        };
        self.calls.push(call);
    }

    /// Failed with probability `fail_rate`, cancelled once in a hundred, else succeeded.
    fn status(&mut self, fail_rate: f64) -> ExecutionStatus {
        use ExecutionStatus::{Cancelled, Failed, Succeeded};
        let u = self.rng.unit();
        [Failed, Cancelled, Succeeded]
            [usize::from(u >= fail_rate) + usize::from(u >= fail_rate + 0.01)]
    }

    fn message(&self, d: &Draft) -> Message {
        let model = &MODELS[usize::from(d.model)];
        // Prices are per million tokens; the cost is rounded up to a millionth of a dollar.
        let cost = (d.tokens_in * model.4 + d.tokens_out * model.5 + 999_999) / 1_000_000;
        Message {
            id: numbered("msg_", d.id, 10),
            occurred_at: d.at,
            conversation_id: numbered("conv_", d.conversation, 10),
            parent_message_id: d.parent.map(|p| numbered("msg_", p, 10)),
            user_id: d.member.map(|i| self.cast.members[i as usize].id.clone()),
            agent_id: self.cast.agents[d.agent as usize].id.clone(),
            source: SOURCES[usize::from(d.source)].0.to_string(),
            model_id: Some(model.0.to_string()),
            provider_id: Some(model.2.to_string()),
            project_id: d.project.map(|p| self.cast.projects[p as usize].id.clone()),
            tokens_in: Some(d.tokens_in),
            tokens_out: Some(d.tokens_out),
            cost_micros: Some(cost),
        }
    }

    fn execution(&self, c: &Call) -> Execution {
        let m = &c.message;
        let (prefix, names) = if c.skill {
            ("skx_", SKILLS)
        } else {
            ("tex_", TOOLS)
        };
        Execution {
            id: numbered(prefix, c.id, 10),
            occurred_at: c.at,
            name: names[usize::from(c.name)].to_string(),
            user_id: m.member.map(|i| self.cast.members[i as usize].id.clone()),
            agent_id: Some(self.cast.agents[m.agent as usize].id.clone()),
            conversation_id: Some(numbered("conv_", m.conversation, 10)),
            message_id: Some(numbered("msg_", m.id, 10)),
            status: c.status,
        }
    }

    /// The runs of a scheduled workflow that fall in the day, a few seconds late each.
    fn workflow(&mut self, w: &Workflow) {
        let mut at = self.shape.start + w.offset;
        while at < self.shape.start + DAY {
            let late = self.rng.between(0, 30 * SECOND);
            self.run(w, at + late);
            at += w.every;
        }
    }

    fn run(&mut self, w: &Workflow, at: i64) {
        let owner = &self.cast.members[w.entity.owner];
        let run = WorkflowRun {
            id: numbered("run_", next(self.ids, RUN), 10),
            occurred_at: at,
            workflow_id: w.entity.id.clone(),
            user_id: w.runs_as_owner.then(|| owner.id.clone()),
            status: self.status(w.fail_rate),
        };
        self.runs.push(run);
    }
}
