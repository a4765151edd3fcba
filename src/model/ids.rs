//! Identifier rules. Ids are restricted so that no id ever needs escaping in a CSV cell, a URL
//! path segment or a log line.

/// `[A-Za-z0-9][A-Za-z0-9_-]{0,63}`
pub fn is_valid_workspace_id(s: &str) -> bool {
    matches_id(s, 64, |b| b == b'_' || b == b'-')
}

/// `[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}`: event ids and every id an event or directory refers to.
pub fn is_valid_event_id(s: &str) -> bool {
    matches_id(s, 128, |b| matches!(b, b'_' | b'.' | b':' | b'@' | b'-'))
}

/// `[a-z0-9_]{1,32}`: a message source such as `web` or `zapier`.
pub fn is_valid_source(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn matches_id(s: &str, max: usize, extra: impl Fn(u8) -> bool) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || extra(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_follow_the_contract() {
        for ok in ["a", "msg_01:x@y.z-9", &"a".repeat(128)] {
            assert!(is_valid_event_id(ok), "{ok}");
        }
        for bad in ["", "_a", "a b", "a,b", "a\"b", &"a".repeat(129), "é"] {
            assert!(!is_valid_event_id(bad), "{bad}");
        }
    }

    #[test]
    fn workspace_ids_follow_the_contract() {
        assert!(is_valid_workspace_id("demo"));
        assert!(is_valid_workspace_id("acme-corp_2"));
        assert!(!is_valid_workspace_id("acme.corp"));
        assert!(!is_valid_workspace_id("-acme"));
        assert!(!is_valid_workspace_id(&"w".repeat(65)));
    }

    #[test]
    fn sources_are_lower_case_words() {
        assert!(is_valid_source("web"));
        assert!(is_valid_source("n8n"));
        assert!(!is_valid_source("Slack"));
        assert!(!is_valid_source(""));
        assert!(!is_valid_source(&"s".repeat(33)));
    }
}
