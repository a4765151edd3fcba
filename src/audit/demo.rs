//! A realistic, deterministic audit trail for the demo workspace: people logging in (and
//! sometimes failing to), running agents and tools themselves or through AI agents acting for
//! them, admins creating and revoking API keys and changing settings, and a system directory
//! sync. Pure: events in the ingest wire format, oldest first.

use serde_json::{Value, json};

/// A member the trail can name: id, email, name, whether an admin.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub name: String,
    pub admin: bool,
}

/// Audit events for `days` days ending at `end` (Unix seconds), seeded.
pub fn trail(
    people: &[Person],
    agents: &[(String, String)],
    days: u32,
    end: i64,
    seed: u64,
) -> Vec<Value> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let admins: Vec<&Person> = people.iter().filter(|p| p.admin).collect();
    if people.is_empty() || agents.is_empty() {
        return Vec::new();
    }
    let mut events = Vec::new();
    let start = end - i64::from(days) * 86_400;
    for day in 0..i64::from(days) {
        let midnight = start + day * 86_400;
        let at = |rng: &mut Rng| midnight + 7 * 3_600 + rng.below(12 * 3_600) as i64;
        for _ in 0..(12 + rng.below(10)) {
            let person = rng.pick(people);
            let t = at(&mut rng);
            if rng.below(20) == 0 {
                events.push(login(person, t, &mut rng, false));
            }
            events.push(login(person, t + 2, &mut rng, true));
        }
        for _ in 0..(8 + rng.below(8)) {
            let (person, agent, t) = (rng.pick(people), rng.pick(agents), at(&mut rng));
            let by_agent = rng.below(3) == 0;
            events.push(execution(person, agent, None, t, by_agent));
            if rng.below(2) == 0 {
                let tool = *rng.pick(&[
                    "web_search",
                    "code_interpreter",
                    "file_search",
                    "slack_post",
                ]);
                events.push(execution(person, agent, Some(tool), t + 3, by_agent));
            }
        }
        events.push(sync(midnight + 2 * 3_600, people.len()));
        if let Some(admin) = (!admins.is_empty() && rng.below(4) == 0).then(|| *rng.pick(&admins)) {
            events.push(admin_action(admin, at(&mut rng), &mut rng));
        }
    }
    events.sort_by_key(|e| e["occurredAt"].as_str().map(str::to_string));
    for (i, event) in events.iter_mut().enumerate() {
        event["id"] = json!(format!("demo-audit-{i:06}"));
    }
    events
}

fn time(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn user(person: &Person) -> Value {
    json!({"type": "user", "id": person.id, "name": person.name, "email": person.email})
}

fn context(rng: &mut Rng) -> Value {
    let agents = [
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/129.0 Safari/537.36",
        "Slack/4.41 (darwin)",
    ];
    json!({"location": format!("203.0.113.{}", 1 + rng.below(250)), "userAgent": rng.pick(&agents)})
}

fn login(person: &Person, at: i64, rng: &mut Rng, ok: bool) -> Value {
    let action = if ok {
        "user.logged_in"
    } else {
        "user.login_failed"
    };
    let mut metadata = json!({"method": "password"});
    if !ok {
        metadata["reason"] = json!("wrong_password");
    }
    json!({"action": action, "occurredAt": time(at), "actor": user(person),
           "context": context(rng), "metadata": metadata})
}

fn execution(
    person: &Person,
    agent: &(String, String),
    tool: Option<&str>,
    at: i64,
    by_agent: bool,
) -> Value {
    let (action, mut targets) = match tool {
        Some(tool) => (
            "tool.executed",
            vec![json!({"type": "tool", "id": tool, "name": tool})],
        ),
        None => ("agent.executed", Vec::new()),
    };
    targets.push(json!({"type": "agent", "id": agent.0, "name": agent.1}));
    let (actor, metadata) = if by_agent {
        (
            json!({"type": "system", "id": agent.0, "name": agent.1}),
            json!({"actor_type": "agent", "initiating_user_id": person.id,
                   "initiating_user_email": person.email, "trigger": "schedule"}),
        )
    } else {
        (user(person), json!({"actor_type": "user", "source": "web"}))
    };
    json!({"action": action, "occurredAt": time(at), "actor": actor, "targets": targets,
           "context": {"location": "internal"}, "metadata": metadata})
}

fn sync(at: i64, members: usize) -> Value {
    json!({"action": "directory.synced", "occurredAt": time(at),
           "actor": {"type": "system", "id": "directory-sync", "name": "Directory sync"},
           "context": {"location": "internal"}, "metadata": {"members": members, "provider": "scim"}})
}

fn admin_action(admin: &Person, at: i64, rng: &mut Rng) -> Value {
    let (action, target, metadata) = match rng.below(4) {
        0 => (
            "api_key.created",
            json!({"type": "api_key", "id": format!("key_{:08x}", rng.next() as u32), "name": "zapier"}),
            json!({"role": "user", "scopes": "ingest"}),
        ),
        1 => (
            "api_key.revoked",
            json!({"type": "api_key", "id": format!("key_{:08x}", rng.next() as u32), "name": "old-export"}),
            json!({}),
        ),
        2 => (
            "settings.updated",
            json!({"type": "workspace", "id": "demo", "name": "Demo Workspace"}),
            json!({"setting": "privacy", "from": "full", "to": "pseudonymized"}),
        ),
        _ => (
            "member.invited",
            json!({"type": "member", "id": format!("u-invite-{}", rng.below(1000)), "name": "New colleague"}),
            json!({"role": "user"}),
        ),
    };
    json!({"action": action, "occurredAt": time(at), "actor": user(admin), "targets": [target],
           "context": context(rng), "metadata": metadata})
}

/// xorshift64*: small, fast and deterministic; the demo needs no better.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::validate_events;

    #[test]
    fn the_trail_is_valid_deterministic_and_varied() {
        let people: Vec<Person> = (0..20)
            .map(|i| Person {
                id: format!("u{i}"),
                email: format!("p{i}@example.com"),
                name: format!("Person {i}"),
                admin: i < 2,
            })
            .collect();
        let agents = vec![("a1".to_string(), "Helper".to_string())];
        let end = 1_790_000_000;
        let events = trail(&people, &agents, 30, end, 7);
        assert_eq!(events, trail(&people, &agents, 30, end, 7));
        let records = validate_events(&events, end * 1_000_000).unwrap();
        assert!(records.len() > 30 * 20, "{}", records.len());
        for kind in ["user", "agent", "system"] {
            assert!(records.iter().any(|r| r.actor_kind == kind), "{kind}");
        }
        assert!(records.iter().any(|r| r.action == "user.login_failed"));
        assert!(
            records
                .windows(2)
                .all(|w| w[0].occurred_at <= w[1].occurred_at)
        );
    }
}
