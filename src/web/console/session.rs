//! Console sessions and the failed-login limit, held in memory: a session is a random 256-bit
//! id in an HttpOnly, SameSite=Lax cookie, bound to one CSRF token that every POST form carries.
//! A visitor gets an anonymous session when the login form is shown, so the login form is
//! CSRF-protected too; logging in replaces it with a fresh id (no session fixation).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "tally_session";
/// How long a session lives after it was created.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per email and per client address within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Sessions (and failed-login counters) kept before expired and anonymous ones are dropped.
const MAX_SESSIONS: usize = 100_000;

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    /// The email of the person logged in; `None` before login.
    pub email: Option<String>,
    created: Instant,
}

impl Session {
    fn fresh(email: Option<String>) -> Session {
        Session {
            csrf: random_token(),
            email,
            created: Instant::now(),
        }
    }

    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.created) > LIFETIME
    }

    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        let (a, b) = (Sha256::digest(self.csrf.as_bytes()), Sha256::digest(token));
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// Every live session, by the SHA-256 of its id (a memory dump does not hand out cookies).
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

fn key(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// Starts a session; answers its id, for the cookie.
    pub fn start(&self, email: Option<String>) -> (String, Session) {
        let id = random_token();
        let session = Session::fresh(email);
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            let now = Instant::now();
            map.retain(|_, s| !s.expired(now) && s.email.is_some());
        }
        map.insert(key(&id), session.clone());
        (id, session)
    }

    /// The live session a request's cookie names.
    pub fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(&id);
        match map.get(&k) {
            Some(s) if s.expired(Instant::now()) => {
                map.remove(&k);
                None
            }
            other => other.cloned(),
        }
    }

    /// Ends the session a request's cookie names.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, COOKIE) {
            let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
            map.remove(&key(&id));
        }
    }
}

/// A `Set-Cookie` value for a session id (or, with `None`, one that clears it).
pub fn set_cookie(id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing leaves no safe way to serve sessions at all.
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex::encode(bytes)
}

/// Failed logins per email and per client address, in a sliding window.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Whether any of `keys` has used up its failures; prunes old ones.
    pub fn blocked(&self, keys: &[String]) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter().any(|k| {
            let Some(times) = map.get_mut(k) else {
                return false;
            };
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
            {
                times.pop_front();
            }
            times.len() >= MAX_FAILURES
        })
    }

    /// Counts one failure against each of `keys`.
    pub fn fail(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            // Many emails sprayed: forget the ones whose failures are all out of the window.
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) <= FAILURE_WINDOW)
            });
        }
        for k in keys {
            map.entry(k.clone()).or_default().push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixth_failure_within_the_window_is_blocked() {
        let limiter = LoginLimiter::default();
        let keys = vec!["email:a@x.io".to_string(), "ip:127.0.0.1".to_string()];
        for _ in 0..MAX_FAILURES {
            assert!(!limiter.blocked(&keys));
            limiter.fail(&keys);
        }
        assert!(limiter.blocked(&keys));
        assert!(limiter.blocked(&["ip:127.0.0.1".to_string()]));
        assert!(!limiter.blocked(&["email:b@x.io".to_string()]));
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let sessions = Sessions::default();
        let (_, s) = sessions.start(None);
        assert!(s.csrf_matches(&s.csrf.clone()));
        assert!(!s.csrf_matches(&s.csrf[..10]));
        assert!(!s.csrf_matches(""));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "a=1; tally_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, COOKIE).as_deref(), Some("abc"));
        assert!(set_cookie(Some("x"), true).contains("HttpOnly; SameSite=Lax"));
        assert!(set_cookie(Some("x"), true).ends_with("; Secure"));
    }
}
