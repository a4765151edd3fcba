//! Search and export parameters: the query string of `GET …/audit/events` and
//! `…/audit/export` (and of the console's viewer, which also takes local dates and times) read
//! into an [`AuditFilter`], every problem named by its parameter, and the opaque cursor that
//! pages through the newest-first order.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;

use super::event::ACTOR_KINDS;
use crate::ingest::FieldError;
use crate::storage::audit::AuditFilter;

/// Results a search page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most results one search page may hold.
pub const MAX_LIMIT: usize = 1_000;
/// The filter parameters search and export share.
pub const FILTER_PARAMS: &[&str] = &["q", "from", "to", "action", "actor", "actorType", "target"];

/// A search request: which entries, from where, how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchParams {
    pub filter: AuditFilter,
    pub after: Option<(i64, u64)>,
    pub limit: usize,
}

/// How `from` and `to` are written.
#[derive(Debug, Clone, Copy)]
pub enum TimeInput<'a> {
    /// RFC 3339 with an offset only (the API).
    Rfc3339,
    /// Also a local date (`YYYY-MM-DD`, its first instant) or a local date and time
    /// (`YYYY-MM-DDTHH:MM[:SS]`, as a datetime-local input sends it) in this zone (the console).
    /// A local time the zone repeats is its earlier instant; one it skips, the instant after the gap.
    LocalIn(&'a jiff::tz::TimeZone),
}

impl TimeInput<'_> {
    /// The instant `text` names, in microseconds.
    pub fn instant(self, text: &str) -> Option<i64> {
        if let Ok(t) = text.parse::<jiff::Timestamp>() {
            return Some(t.as_microsecond());
        }
        let TimeInput::LocalIn(zone) = self else {
            return None;
        };
        let local = text.parse::<jiff::civil::DateTime>().ok()?;
        let zoned = local.to_zoned(zone.clone()).ok()?;
        Some(zoned.timestamp().as_microsecond())
    }

    fn expected(self) -> String {
        const RFC3339: &str = "an RFC 3339 time with an offset, such as 2026-03-01T09:30:00Z";
        match self {
            TimeInput::Rfc3339 => format!("must be {RFC3339}"),
            TimeInput::LocalIn(zone) => format!(
                "must be a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM) in {}, or {RFC3339}",
                zone.iana_name().unwrap_or("the workspace's timezone")
            ),
        }
    }
}

/// Reads the filter parameters, times in RFC 3339; `extra` names the other parameters the route
/// takes.
///
/// # Errors
/// Every bad or unknown parameter, each named.
pub fn parse_filter(
    query: &BTreeMap<String, String>,
    extra: &[&str],
) -> Result<AuditFilter, Vec<FieldError>> {
    parse_filter_in(query, extra, TimeInput::Rfc3339)
}

/// Like [`parse_filter`], with `from` and `to` written as `times` says.
///
/// # Errors
/// Every bad or unknown parameter, each named.
pub fn parse_filter_in(
    query: &BTreeMap<String, String>,
    extra: &[&str],
    times: TimeInput<'_>,
) -> Result<AuditFilter, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut error = |field: &str, reason: String| {
        errors.push(FieldError {
            index: None,
            field: field.to_string(),
            reason,
        });
    };
    for name in query.keys() {
        if !FILTER_PARAMS.contains(&name.as_str()) && !extra.contains(&name.as_str()) {
            let mut known: Vec<&str> = FILTER_PARAMS.to_vec();
            known.extend(extra);
            error(
                name,
                format!("unknown parameter: known ones are {}", known.join(", ")),
            );
        }
    }
    let text = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut instant = |name: &str| {
        let value = text(name)?;
        let instant = times.instant(value);
        if instant.is_none() {
            error(name, times.expected());
        }
        instant
    };
    let from = instant("from");
    let to = instant("to");
    let actor_kind = text("actorType").map(str::to_string);
    if let Some(kind) = &actor_kind
        && !ACTOR_KINDS.contains(&kind.as_str())
    {
        error(
            "actorType",
            format!("must be one of {}", ACTOR_KINDS.join("|")),
        );
    }
    let filter = AuditFilter {
        words: text("q")
            .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
            .unwrap_or_default(),
        from,
        to,
        action: text("action").map(str::to_string),
        actor: text("actor").map(str::to_string),
        actor_kind,
        target: text("target").map(str::to_string),
        below_leaf: None,
    };
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(errors)
    }
}

/// Reads a search request: the filter (times in RFC 3339), `cursor` and `limit`.
///
/// # Errors
/// Every bad or unknown parameter, each named.
pub fn parse_search(query: &BTreeMap<String, String>) -> Result<SearchParams, Vec<FieldError>> {
    parse_search_in(query, TimeInput::Rfc3339)
}

/// Like [`parse_search`], with `from` and `to` written as `times` says.
///
/// # Errors
/// Every bad or unknown parameter, each named.
pub fn parse_search_in(
    query: &BTreeMap<String, String>,
    times: TimeInput<'_>,
) -> Result<SearchParams, Vec<FieldError>> {
    let filter = parse_filter_in(query, &["cursor", "limit"], times);
    let mut errors = filter.as_ref().err().cloned().unwrap_or_default();
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError {
                index: None,
                field: "limit".into(),
                reason: format!("must be a whole number from 1 to {MAX_LIMIT}"),
            });
            DEFAULT_LIMIT
        }
    };
    let after = match query.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => {
            let parsed = parse_cursor(cursor);
            if parsed.is_none() {
                errors.push(FieldError {
                    index: None,
                    field: "cursor".into(),
                    reason: "is not a cursor this API gave: pass nextCursor from the previous page as it is".into(),
                });
            }
            parsed
        }
    };
    match filter {
        Ok(filter) if errors.is_empty() => Ok(SearchParams {
            filter,
            after,
            limit,
        }),
        _ => Err(errors),
    }
}

/// The cursor of the page after the entry at (`occurred_at`, `leaf_index`).
pub fn cursor(occurred_at: i64, leaf_index: u64) -> String {
    B64URL.encode(format!("{occurred_at}.{leaf_index}"))
}

fn parse_cursor(cursor: &str) -> Option<(i64, u64)> {
    let bytes = B64URL.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (at, leaf) = text.split_once('.')?;
    Some((at.parse().ok()?, leaf.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_are_read_and_words_lower_cased() {
        let p = parse_search(&query(&[
            ("q", "Space  DELETED"),
            ("from", "2026-03-01T00:00:00+01:00"),
            ("actorType", "agent"),
            ("limit", "10"),
        ]))
        .unwrap();
        assert_eq!(p.filter.words, vec!["space", "deleted"]);
        assert_eq!(p.filter.from, Some(1_772_319_600_000_000));
        assert_eq!(p.limit, 10);
        let c = cursor(1_772_319_600_000_000, 7);
        let p = parse_search(&query(&[("cursor", &c)])).unwrap();
        assert_eq!(p.after, Some((1_772_319_600_000_000, 7)));
    }

    #[test]
    fn bad_parameters_are_each_named() {
        let errors = parse_search(&query(&[
            ("from", "yesterday"),
            ("actorType", "robot"),
            ("limit", "1001"),
            ("cursor", "!!"),
            ("sort", "asc"),
        ]))
        .unwrap_err();
        let mut fields: Vec<String> = errors.into_iter().map(|e| e.field).collect();
        fields.sort();
        assert_eq!(fields, ["actorType", "cursor", "from", "limit", "sort"]);
    }

    #[test]
    fn the_console_reads_local_dates_and_times_in_the_workspace_zone() {
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        let local = TimeInput::LocalIn(&paris);
        let at = |text: &str| {
            parse_search_in(&query(&[("from", text)]), local)
                .unwrap()
                .filter
                .from
        };
        let micros = |rfc3339: &str| rfc3339.parse::<jiff::Timestamp>().unwrap().as_microsecond();
        assert_eq!(at("2026-03-01"), Some(micros("2026-02-28T23:00:00Z")));
        assert_eq!(at("2026-07-01T09:30"), Some(micros("2026-07-01T07:30:00Z")));
        assert_eq!(
            at("2026-07-01T09:30:15"),
            Some(micros("2026-07-01T07:30:15Z"))
        );
        assert_eq!(
            at("2026-07-01T09:30:00Z"),
            Some(micros("2026-07-01T09:30:00Z"))
        );
        // 02:30 does not exist on 2026-03-29 in Paris: the instant after the gap.
        assert_eq!(at("2026-03-29T02:30"), Some(micros("2026-03-29T01:30:00Z")));
        // 02:30 happens twice on 2026-10-25: the earlier one.
        assert_eq!(at("2026-10-25T02:30"), Some(micros("2026-10-25T00:30:00Z")));
        let errors = parse_search_in(&query(&[("to", "tomorrow")]), local).unwrap_err();
        assert_eq!(errors[0].field, "to");
        assert!(
            errors[0].reason.contains("Europe/Paris"),
            "{}",
            errors[0].reason
        );
        let api = parse_search(&query(&[("from", "2026-03-01")])).unwrap_err();
        assert_eq!(api[0].field, "from", "the API takes RFC 3339 only");
    }
}
