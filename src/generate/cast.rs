//! The cast of a generated workspace: its members, agents, projects and workflows, drawn once
//! from the seed, and the fixed catalogs (names, groups, sources, models, tools, skills) they
//! are drawn from. Popularity is skewed everywhere: a few members, agents and tools make most
//! of the activity, and some members and agents never show up at all.

use std::collections::HashSet;

use super::activity::{Rng, Table};

/// One day in microseconds.
pub(super) const DAY: i64 = 86_400_000_000;
/// Members join and agents are created no earlier than a day after 2000-01-01.
const EARLIEST: i64 = crate::ingest::fields::EARLIEST_MICROS + DAY;

#[rustfmt::skip]
const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Hedy",
    "Tim", "Radia", "John", "Katherine", "Donald", "Sophie", "Lucas", "Emma", "Hugo", "Chloe",
    "Louis", "Lea", "Gabriel", "Manon", "Jules", "Camille", "Arthur", "Ines", "Nathan", "Sara",
    "Omar", "Yuki", "Priya", "Mateo", "Amara", "Noah", "Elena", "Ravi", "Zoe", "Liam",
];
#[rustfmt::skip]
const LAST: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie",
    "Allen", "Dijkstra", "Lamarr", "Berners", "Perlman", "McCarthy", "Johnson", "Knuth", "Martin",
    "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefevre", "Garcia", "Nguyen",
    "Khan", "Tanaka", "Patel", "Rossi", "Muller", "Schmidt", "Okafor", "Silva", "Jensen", "Chen",
];
/// Most popular first, as in every list below that a skewed pick reads.
#[rustfmt::skip]
const GROUPS: &[&str] = &[
    "Engineering", "Sales", "Support", "Marketing", "Product", "Operations", "Customer Success",
    "Finance", "Design", "People", "Legal", "Security",
];
const ROLES: [&str; 3] = ["admin", "builder", "user"];
#[rustfmt::skip]
const DOMAINS: &[&str] = &["northwind", "acme", "globex", "initech", "umbrella", "hooli"];
#[rustfmt::skip]
const AGENT_NAMES: &[&str] = &[
    "Sales Coach", "Contract Reviewer", "Support Triage", "Code Reviewer", "SQL Helper",
    "Onboarding Buddy", "Release Notes Writer", "Meeting Summarizer", "Brand Voice",
    "Recruiting Assistant", "Security Advisor", "Data Analyst", "Pitch Deck Helper",
    "Incident Scribe", "Customer Insights", "Legal Q&A", "Finance Reporter", "Spec Writer",
    "Translation Desk", "Competitor Watch", "HR Policies", "IT Helpdesk", "Account Planner",
];
#[rustfmt::skip]
const PROJECTS: &[&str] = &[
    "Q3 Launch", "Website Revamp", "EMEA Expansion", "Data Platform", "Mobile App",
    "Pricing Study", "Customer Onboarding", "SOC 2 Audit", "Partner Program", "Brand Refresh",
];
#[rustfmt::skip]
const WORKFLOWS: &[&str] = &[
    "Ticket triage sync", "Morning news digest", "Pipeline summary", "Standup notes",
    "New lead enrichment", "Inbox classifier", "Competitor digest", "Usage anomaly report",
    "Support backlog review", "Contract intake",
];
/// The eleven known sources: (name, share of conversations, share as a member's usual source).
/// The ones that are nobody's usual source are programmatic.
#[rustfmt::skip]
pub(super) const SOURCES: &[(&str, f64, f64)] = &[
    ("web", 40.0, 62.0), ("extension", 12.0, 14.0), ("slack", 11.0, 12.0), ("teams", 8.0, 9.0),
    ("email", 4.0, 3.0), ("triggered", 6.0, 0.0), ("scheduled", 5.0, 0.0), ("api", 7.0, 0.0),
    ("zapier", 3.0, 0.0), ("n8n", 2.0, 0.0), ("make", 2.0, 0.0),
];
/// A model: id, name, provider, popularity, then the input and the output price in
/// millionths of a US dollar per million tokens.
pub(super) type Model = (&'static str, &'static str, &'static str, f64, i64, i64);
#[rustfmt::skip]
pub(super) const MODELS: &[Model] = &[
    ("gpt-4o", "GPT-4o", "openai", 30.0, 2_500_000, 10_000_000),
    ("claude-3-7-sonnet", "Claude 3.7 Sonnet", "anthropic", 25.0, 3_000_000, 15_000_000),
    ("gpt-4o-mini", "GPT-4o mini", "openai", 15.0, 150_000, 600_000),
    ("mistral-large", "Mistral Large", "mistral", 8.0, 2_000_000, 6_000_000),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", "google", 8.0, 100_000, 400_000),
    ("claude-3-5-haiku", "Claude 3.5 Haiku", "anthropic", 6.0, 800_000, 4_000_000),
    ("o3-mini", "o3-mini", "openai", 5.0, 1_100_000, 4_400_000),
    ("gemini-1.5-pro", "Gemini 1.5 Pro", "google", 3.0, 1_250_000, 5_000_000),
];
#[rustfmt::skip]
pub(super) const TOOLS: &[&str] = &[
    "web_search", "file_search", "run_python", "browse_page", "query_tables", "search_drive",
    "search_notion", "search_confluence", "search_jira", "create_ticket", "github_search",
    "read_slack_thread", "post_slack_message", "generate_image", "extract_pdf", "sql_query",
    "crm_lookup", "calendar_lookup", "send_email", "translate", "summarize_url",
    "create_pull_request", "read_spreadsheet", "calculator", "weather",
];
#[rustfmt::skip]
pub(super) const SKILLS: &[&str] = &[
    "summarize_meeting", "draft_reply", "explain_code", "triage_ticket", "write_sql",
    "translate_document", "review_contract", "qualify_lead", "write_release_notes",
    "plan_sprint", "analyze_survey", "onboard_employee",
];

/// A person of the workspace and how they use it.
pub(super) struct Member {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: &'static str,
    pub groups: Vec<&'static str>,
    pub joined_at: i64,
    pub revoked_at: Option<i64>,
    pub last_login_at: Option<i64>,
    /// Relative activity (0: never active); messages per full working day once scaled.
    pub rate: f64,
    /// Chance of showing up on a working day.
    pub regularity: f64,
    pub home_source: usize,
    pub favourites: [usize; 3],
    pub project: Option<usize>,
}

impl Member {
    /// Whether the member is active through the whole day starting at `start`.
    pub(super) fn active_on(&self, start: i64) -> bool {
        let still_there = self.revoked_at.is_none_or(|r| r >= start + DAY);
        self.rate > 0.0 && self.joined_at <= start && still_there
    }
}

/// An AI agent, the model it runs and the tools and skills it calls.
pub(super) struct Agent {
    pub id: String,
    pub name: String,
    pub settings: &'static str,
    pub model: usize,
    pub created_at: i64,
    pub last_edit: i64,
    pub authors: Vec<usize>,
    pub editors: Vec<usize>,
    pub tools: Vec<usize>,
    pub skills: Vec<usize>,
    pub tool_rate: f64,
    pub skill_rate: f64,
}

/// A named entity with an owning member: a project or a workflow.
pub(super) struct Owned {
    pub id: String,
    pub name: String,
    pub owner: usize,
}

/// A scheduled workflow: it runs `every` (an hour or a day) at `offset` into the period.
pub(super) struct Workflow {
    pub entity: Owned,
    pub every: i64,
    pub offset: i64,
    pub fail_rate: f64,
    pub runs_as_owner: bool,
}

/// Everyone and everything a generated workspace holds.
pub(super) struct Cast {
    pub members: Vec<Member>,
    pub agents: Vec<Agent>,
    pub projects: Vec<Owned>,
    pub workflows: Vec<Workflow>,
    pub agent_table: Table,
    pub model_table: Table,
    pub source_table: Table,
}

impl Cast {
    /// Draws a workspace of `members` members (at least one) for the period `[start, end)`.
    pub(super) fn new(rng: &mut Rng, members: usize, start: i64, end: i64) -> Cast {
        let n_agents = (members / 20).max(5);
        let mut cast = Cast {
            members: Vec::with_capacity(members),
            agents: Vec::with_capacity(n_agents),
            projects: Vec::new(),
            workflows: Vec::new(),
            agent_table: Table::zipf(n_agents, (n_agents / 10).max(1)),
            model_table: Table::new(MODELS.iter().map(|m| m.3)),
            source_table: Table::new(SOURCES.iter().map(|s| s.1)),
        };
        let domain = format!("{}.example.com", DOMAINS[rng.index(DOMAINS.len())]);
        let homes = Table::new(SOURCES.iter().map(|s| s.2));
        let n_projects = (members / 50).max(1);
        let mut emails = HashSet::new();
        for i in 0..members.max(1) {
            let mut m = cast.member(rng, i, (start, end), (&homes, n_projects));
            m.email = unique_email(&m.name, &domain, &mut emails);
            cast.members.push(m);
        }
        for k in 0..n_agents {
            let agent = cast.agent(rng, k, start, end);
            cast.agents.push(agent);
        }
        let projects = (0..n_projects).map(|k| cast.owned(rng, "prj_", k, PROJECTS));
        cast.projects = projects.collect();
        let workflows = (0..WORKFLOWS.len()).map(|k| cast.workflow(rng, k));
        cast.workflows = workflows.collect();
        cast
    }

    fn member(
        &self,
        rng: &mut Rng,
        i: usize,
        period: (i64, i64),
        (homes, n_projects): (&Table, usize),
    ) -> Member {
        let (start, end) = period;
        let (first, last) = (rng.index(FIRST.len()), rng.index(LAST.len()));
        let name = format!("{} {}", FIRST[first], LAST[last]);
        let joined_before = rng.between((start - 730 * DAY).max(EARLIEST), start);
        let joined_during = rng.between(start, end);
        let joined_at = rng.either(0.87, joined_before, joined_during);
        let revoked = rng.chance(0.05);
        let revoked_at = revoked.then(|| rng.between(joined_at.max(start), end));
        // Pareto of shape 2 (a heavy tail), capped.
        let rate = (1.0 / (1.0 - rng.unit()).sqrt()).min(20.0);
        let rate = rng.either(0.9, rate, 0.0);
        let role = if i == 0 { 0.0 } else { rng.unit() };
        Member {
            id: numbered("user_", i as u64, 5),
            email: String::new(),
            name,
            role: ROLES[usize::from(role >= 0.03) + usize::from(role >= 0.13)],
            groups: groups(rng),
            joined_at,
            revoked_at,
            last_login_at: last_login(rng, joined_at, revoked_at.unwrap_or(end), rate),
            rate,
            regularity: 0.35 + 0.6 * rng.unit(),
            home_source: homes.pick(rng),
            favourites: [0; 3].map(|_| self.agent_table.pick(rng)),
            project: rng.chance(0.4).then(|| rng.index(n_projects)),
        }
    }

    fn agent(&self, rng: &mut Rng, k: usize, start: i64, end: i64) -> Agent {
        let global = k < 2;
        let created_at = rng.between((start - 500 * DAY).max(EARLIEST), start);
        let name = match k {
            0 | 1 => ["Assistant", "Deep Research"][k].to_string(),
            _ => numbered_name(AGENT_NAMES, k - 2),
        };
        let n_authors = if global { 0 } else { 1 + rng.index(2) };
        let authors = self.some(rng, n_authors, true);
        let n_editors = rng.index(4);
        let n_tools = rng.index(6);
        let tools: Vec<_> = (0..n_tools).map(|_| skewed(rng, TOOLS.len())).collect();
        let skills = rng.chance(0.35).then(|| skewed(rng, SKILLS.len()));
        let settings = if global { 0 } else { rng.either(0.3, 2, 1) };
        let (model, tool_rate) = (self.model_table.pick(rng), 0.05 + 0.35 * rng.unit());
        Agent {
            id: numbered("agt_", k as u64, 4),
            name,
            settings: ["global", "published", "unpublished"][settings],
            model: if k == 1 { 1 } else { model },
            created_at,
            last_edit: rng.between(created_at, end),
            authors,
            editors: self.some(rng, n_editors, false),
            tool_rate: if tools.is_empty() { 0.0 } else { tool_rate },
            skill_rate: 0.04 + 0.12 * rng.unit(),
            skills: skills.into_iter().collect(),
            tools,
        }
    }

    /// Up to `n` distinct members; builders or admins when `builders`.
    fn some(&self, rng: &mut Rng, n: usize, builders: bool) -> Vec<usize> {
        let mut picked: Vec<usize> = (0..n).map(|_| self.member_index(rng, builders)).collect();
        picked.sort_unstable();
        picked.dedup();
        picked
    }

    /// A random member; a builder or an admin when `builder` (member 0 is always an admin).
    fn member_index(&self, rng: &mut Rng, builder: bool) -> usize {
        let fits = |i: &usize| !builder || self.members[*i].role != "user";
        (0..16)
            .map(|_| rng.index(self.members.len()))
            .find(fits)
            .unwrap_or(0)
    }

    fn owned(&self, rng: &mut Rng, prefix: &str, k: usize, names: &[&str]) -> Owned {
        let (id, name) = (numbered(prefix, k as u64, 3), numbered_name(names, k));
        let owner = self.member_index(rng, true);
        Owned { id, name, owner }
    }

    /// The `k`-th workflow: one in three runs hourly, the others daily; the third is flaky.
    fn workflow(&self, rng: &mut Rng, k: usize) -> Workflow {
        let every = [DAY / 24, DAY, DAY][k % 3];
        Workflow {
            entity: self.owned(rng, "wf_", k, WORKFLOWS),
            every,
            offset: rng.between(0, every - 60_000_000),
            fail_rate: if k == 2 { 0.3 } else { 0.01 + 0.1 * rng.unit() },
            runs_as_owner: rng.chance(0.5),
        }
    }
}

/// An index into `0..n` favouring small ones (`n` is never 0 here).
fn skewed(rng: &mut Rng, n: usize) -> usize {
    let u = rng.unit();
    ((u * u * n as f64) as usize).min(n - 1)
}

fn groups(rng: &mut Rng) -> Vec<&'static str> {
    let mut groups = Vec::with_capacity(2);
    if rng.chance(0.95) {
        groups.push(GROUPS[skewed(rng, GROUPS.len())]);
    }
    let second = GROUPS[skewed(rng, GROUPS.len())];
    if rng.chance(0.2) && !groups.contains(&second) {
        groups.push(second);
    }
    groups
}

/// Lately for members who use the workspace; for half the others, soon after they joined.
fn last_login(rng: &mut Rng, joined_at: i64, until: i64, rate: f64) -> Option<i64> {
    let (lately, soon) = (
        (until - 3 * DAY).max(joined_at),
        (joined_at + DAY).min(until),
    );
    let (from, to) = if rate > 0.0 {
        (lately, until)
    } else {
        (joined_at, soon)
    };
    (rate > 0.0 || rng.chance(0.5)).then(|| rng.between(from, to))
}

/// `first.last@domain`, numbered when taken (`ada.lovelace2@...`).
fn unique_email(name: &str, domain: &str, taken: &mut HashSet<String>) -> String {
    let local = name.to_ascii_lowercase().replace(' ', ".");
    let mut email = format!("{local}@{domain}");
    for n in 2.. {
        if taken.insert(email.clone()) {
            break;
        }
        email = format!("{local}{n}@{domain}");
    }
    email
}

/// The `k`-th name of a list, numbered once the list runs out ("Sales Coach 2").
fn numbered_name(names: &[&str], k: usize) -> String {
    match k / names.len() {
        0 => names[k].to_string(),
        round => format!("{} {}", names[k % names.len()], round + 1),
    }
}

/// `prefix` then `n` in at least `width` digits: `numbered("msg_", 7, 4)` is `msg_0007`.
/// Written out by hand: ids are made by the million and `format!` is slower.
pub(super) fn numbered(prefix: &str, n: u64, width: usize) -> String {
    let mut digits = [b'0'; 20];
    let (mut rest, mut first) = (n, digits.len() - width.clamp(1, 20));
    for (at, digit) in digits.iter_mut().enumerate().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            first = first.min(at);
            break;
        }
    }
    let mut s = String::with_capacity(prefix.len() + digits.len() - first);
    s.push_str(prefix);
    // Only ASCII digits were written, so the bytes are always valid UTF-8.
    s.push_str(std::str::from_utf8(&digits[first..]).unwrap_or_default());
    s
}
