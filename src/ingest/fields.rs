//! Reading one JSON object field by field while collecting every problem, so that a refused
//! batch lists all of them at once instead of the first one only.

use serde::Serialize;
use serde_json::{Map, Value};
use std::str::FromStr;

use crate::model::is_valid_event_id;

/// One problem with one field of one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Position of the item in the batch (0-based); absent for single objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The field's wire name; empty when the item as a whole is wrong.
    pub field: String,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// Names that would carry message content. tally stores metadata only, so these are refused
/// with a reason that says so, not just as unknown fields.
const CONTENT_WORDS: &[&str] = &[
    "content",
    "text",
    "body",
    "prompt",
    "completion",
    "transcript",
    "attachment",
];
const CONTENT_NAMES: &[&str] = &[
    "message", "messages", "response", "reply", "input", "output", "query", "answer", "snippet",
];

/// Whether a field name looks like it carries message content.
pub fn is_content_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    CONTENT_NAMES.contains(&lower.as_str()) || CONTENT_WORDS.iter().any(|w| lower.contains(w))
}

/// The earliest instant tally accepts: 2000-01-01T00:00:00Z, in microseconds.
pub const EARLIEST_MICROS: i64 = 946_684_800_000_000;
/// How far past the server's clock an instant may lie.
pub const FUTURE_SLACK_MICROS: i64 = 86_400_000_000;

/// A field reader over one JSON object that records errors instead of stopping at the first.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    index: Option<usize>,
    errors: &'a mut Vec<FieldError>,
    before: usize,
}

impl<'a> Fields<'a> {
    pub fn new(
        obj: &'a Map<String, Value>,
        index: Option<usize>,
        errors: &'a mut Vec<FieldError>,
    ) -> Self {
        let before = errors.len();
        Fields {
            obj,
            index,
            errors,
            before,
        }
    }

    /// Whether this object has produced no error so far.
    pub fn clean(&self) -> bool {
        self.errors.len() == self.before
    }

    /// Records a problem with `field`.
    pub fn error(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(FieldError {
            index: self.index,
            field: field.to_string(),
            reason: reason.into(),
        });
    }

    /// Refuses every field not in `allowed`, with a clearer word for content-like ones.
    pub fn refuse_unknown(&mut self, allowed: &[&str]) {
        let obj = self.obj;
        for name in obj.keys() {
            if allowed.contains(&name.as_str()) {
                continue;
            }
            if is_content_like(name) {
                self.error(
                    name,
                    "looks like message content, which tally never stores: send metadata only and remove this field",
                );
            } else {
                self.error(
                    name,
                    format!("unknown field: allowed fields are {}", allowed.join(", ")),
                );
            }
        }
    }

    /// Whether the field is present; `null` counts as present.
    pub fn has(&self, field: &str) -> bool {
        self.obj.contains_key(field)
    }

    /// The field's value; `null` counts as absent.
    pub fn value(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// A string field; records an error when it is not a string, or absent but required.
    pub fn str(&mut self, field: &str, required: bool) -> Option<&'a str> {
        match self.value(field) {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.error(field, "must be a string");
                None
            }
            None => {
                if required {
                    self.error(field, "is required");
                }
                None
            }
        }
    }

    /// An id matching `[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}`.
    pub fn id(&mut self, field: &str, required: bool) -> Option<String> {
        let s = self.str(field, required)?;
        if is_valid_event_id(s) {
            Some(s.to_string())
        } else {
            self.error(
                field,
                "must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ -, starting with a letter or digit",
            );
            None
        }
    }

    /// Free text such as a name: at most `max` characters and no control characters.
    pub fn text(&mut self, field: &str, required: bool, max: usize) -> Option<String> {
        let s = self.str(field, required)?;
        if let Some(reason) = text_problem(s, max) {
            self.error(field, reason);
            return None;
        }
        Some(s.to_string())
    }

    /// A word from a closed set, such as a role or a status.
    pub fn word<T: FromStr<Err = String>>(&mut self, field: &str, required: bool) -> Option<T> {
        let s = self.str(field, required)?;
        match s.parse() {
            Ok(v) => Some(v),
            Err(reason) => {
                self.error(field, reason);
                None
            }
        }
    }

    /// An RFC 3339 instant with an offset, between 2000-01-01 and a day past `now_micros`.
    pub fn instant(&mut self, field: &str, required: bool, now_micros: i64) -> Option<i64> {
        let s = self.str(field, required)?;
        match parse_instant(s, now_micros) {
            Ok(us) => Some(us),
            Err(reason) => {
                self.error(field, reason);
                None
            }
        }
    }

    /// A non-negative whole number such as a token count.
    pub fn count(&mut self, field: &str) -> Option<i64> {
        let v = self.value(field)?;
        match v.as_i64() {
            Some(n) if n >= 0 => Some(n),
            _ => {
                self.error(field, "must be a whole number of at least 0");
                None
            }
        }
    }

    /// A non-negative amount of US dollars with at most 6 fractional digits, in millionths.
    pub fn dollars(&mut self, field: &str) -> Option<i64> {
        let v = self.value(field)?;
        let micros = v.as_f64().and_then(dollars_to_micros);
        if micros.is_none() {
            self.error(
                field,
                "must be a number of US dollars of at least 0 with at most 6 decimals, below 1e12",
            );
        }
        micros
    }

    /// A list of strings, each checked by `check`.
    pub fn list(
        &mut self,
        field: &str,
        max_items: usize,
        check: impl Fn(&str) -> Option<String>,
    ) -> Option<Vec<String>> {
        let items = match self.value(field)? {
            Value::Array(items) => items,
            _ => {
                self.error(field, "must be an array of strings");
                return None;
            }
        };
        if items.len() > max_items {
            self.error(field, format!("must hold at most {max_items} items"));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(|s| (s, check(s))) {
                Some((s, None)) => out.push(s.to_string()),
                Some((_, Some(reason))) => {
                    self.error(&format!("{field}[{i}]"), reason);
                    return None;
                }
                None => {
                    self.error(&format!("{field}[{i}]"), "must be a string");
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// What is wrong with a piece of free text, if anything.
pub fn text_problem(s: &str, max: usize) -> Option<String> {
    if s.trim().is_empty() {
        Some("must not be empty".into())
    } else if s.chars().count() > max {
        Some(format!("must be at most {max} characters"))
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// What is wrong with an email address, if anything. Only the shape is checked.
pub fn email_problem(s: &str) -> Option<String> {
    let ok = s.len() <= 320
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    (!ok).then(|| "must be an email address such as ada@example.com".into())
}

/// Parses an RFC 3339 instant that carries an offset and lies in tally's accepted window.
///
/// # Errors
/// A reason fit for a [`FieldError`].
pub fn parse_instant(s: &str, now_micros: i64) -> Result<i64, String> {
    let t: jiff::Timestamp = s.parse().map_err(|_| {
        "must be an RFC 3339 time with an offset, such as 2026-03-01T09:30:00+01:00".to_string()
    })?;
    let us = t.as_microsecond();
    if us < EARLIEST_MICROS {
        return Err("must not be before 2000-01-01T00:00:00Z".into());
    }
    if us > now_micros.saturating_add(FUTURE_SLACK_MICROS) {
        return Err("must not be more than one day after the server's clock".into());
    }
    Ok(us)
}

/// Converts dollars to exact millionths when the value has at most six decimals.
fn dollars_to_micros(d: f64) -> Option<i64> {
    if !d.is_finite() || !(0.0..1e12).contains(&d) {
        return None;
    }
    let scaled = d * 1e6;
    let rounded = scaled.round();
    // A float that came from a decimal with at most 6 places lands within rounding noise of a
    // whole number of millionths; anything further off had more decimals.
    ((scaled - rounded).abs() <= 1e-6 * scaled.abs().max(1.0)).then_some(rounded as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_keep_six_decimals_exactly() {
        assert_eq!(dollars_to_micros(0.0), Some(0));
        assert_eq!(dollars_to_micros(0.123456), Some(123_456));
        assert_eq!(dollars_to_micros(12.5), Some(12_500_000));
        assert_eq!(dollars_to_micros(0.000001), Some(1));
        assert_eq!(dollars_to_micros(0.1234567), None);
        assert_eq!(dollars_to_micros(-1.0), None);
        assert_eq!(dollars_to_micros(f64::NAN), None);
    }

    #[test]
    fn instants_need_an_offset_and_a_sane_range() {
        let now = 1_790_000_000_000_000;
        assert_eq!(
            parse_instant("2026-03-01T09:30:00+01:00", now),
            Ok(1_772_353_800_000_000)
        );
        assert!(parse_instant("2026-03-01T09:30:00", now).is_err());
        assert!(parse_instant("1999-12-31T23:59:59Z", now).is_err());
        assert!(parse_instant("2000-01-01T00:00:00Z", now).is_ok());
        assert!(parse_instant("2030-01-01T00:00:00Z", now).is_err());
    }

    #[test]
    fn content_like_names_are_recognised() {
        for name in [
            "content",
            "text",
            "messageText",
            "prompt",
            "completionTokensText",
            "body",
        ] {
            assert!(is_content_like(name), "{name}");
        }
        for name in ["agentId", "tokensIn", "source"] {
            assert!(!is_content_like(name), "{name}");
        }
    }

    #[test]
    fn emails_and_text_are_checked() {
        assert_eq!(email_problem("ada@example.com"), None);
        assert!(email_problem("ada").is_some());
        assert!(email_problem("a da@example.com").is_some());
        assert_eq!(text_problem("Ada", 10), None);
        assert!(text_problem("  ", 10).is_some());
        assert!(text_problem("a\nb", 10).is_some());
        assert!(text_problem("abcdefghijk", 10).is_some());
    }
}
