//! The request body of a usage export, `{"from": {"date", "timezone"}, "to": {...}}`, read into
//! exact instants. A `date` is local wall time in its own `timezone` (the two may differ); a
//! trailing `Z` is ignored rather than applied twice, as Langdock clients send one; any other
//! explicit offset is refused, since it would contradict the zone. `to` is inclusive to its
//! stated precision: `2024-01-31` covers that whole day, `…T23:59:59.999` covers through its
//! last microsecond, so the range is `[from, end)` with `end` one unit after `to`.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use serde_json::Value;

use crate::analytics::days::day_start;
use crate::ingest::FieldError;

/// A usage export's range.
#[derive(Debug, Clone)]
pub struct UsageRange {
    pub from_tz: TimeZone,
    pub from_zone: String,
    pub to_tz: TimeZone,
    /// First instant covered, microseconds since the epoch.
    pub start: i64,
    /// First instant after the range.
    pub end: i64,
    /// The local date of `from` and of `to`, for the file name.
    pub from_date: Date,
    pub to_date: Date,
}

impl UsageRange {
    /// The first instant covered, with its zone's offset (`2024-01-01T00:00:00.000+01:00`).
    pub fn from_text(&self) -> String {
        with_offset(self.start, &self.from_tz)
    }

    /// The last millisecond covered, with its zone's offset.
    pub fn to_text(&self) -> String {
        with_offset(self.end - 1_000, &self.to_tz)
    }
}

fn with_offset(us: i64, tz: &TimeZone) -> String {
    crate::model::from_micros(us)
        .to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// One end as sent: local wall time, and how long its last stated unit lasts.
struct Bound {
    local: DateTime,
    date_only: bool,
    /// The length of the last stated unit, in microseconds (for a time of day).
    unit_us: i64,
    tz: TimeZone,
    zone: String,
}

/// Reads the body.
///
/// # Errors
/// Every problem found, each naming its field (`from.date`, `to.timezone`, …).
pub fn parse(body: &Value) -> Result<UsageRange, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec![problem(
            "body",
            "must be a JSON object {\"from\": {\"date\", \"timezone\"}, \"to\": {\"date\", \"timezone\"}}",
        )]);
    };
    for key in object.keys().filter(|k| *k != "from" && *k != "to") {
        errors.push(problem(
            key,
            "is not a field of a usage export request: send only from and to",
        ));
    }
    let from = bound(object.get("from"), "from", &mut errors);
    let to = bound(object.get("to"), "to", &mut errors);
    let (Some(from), Some(to)) = (from, to) else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let start = instant(&from, false);
    let end = instant(&to, true);
    if start >= end {
        return Err(vec![problem("to", "must not be before from")]);
    }
    Ok(UsageRange {
        from_tz: from.tz,
        from_zone: from.zone,
        to_tz: to.tz,
        start,
        end,
        from_date: from.local.date(),
        to_date: to.local.date(),
    })
}

fn problem(field: &str, reason: &str) -> FieldError {
    FieldError {
        index: None,
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

fn bound(value: Option<&Value>, name: &str, errors: &mut Vec<FieldError>) -> Option<Bound> {
    let Some(object) = value.and_then(Value::as_object) else {
        errors.push(problem(
            name,
            "is required: an object {\"date\": ISO 8601 local time, \"timezone\": IANA name}",
        ));
        return None;
    };
    for key in object.keys().filter(|k| *k != "date" && *k != "timezone") {
        errors.push(problem(
            &format!("{name}.{key}"),
            "is not a field: send date and timezone",
        ));
    }
    let zone = match object.get("timezone").and_then(Value::as_str) {
        Some(z) => match crate::model::check_timezone(z) {
            Ok(tz) => Some((tz, z.to_string())),
            Err(reason) => {
                errors.push(problem(&format!("{name}.timezone"), &reason));
                None
            }
        },
        None => {
            errors.push(problem(
                &format!("{name}.timezone"),
                "is required: an IANA timezone such as UTC or Europe/Berlin",
            ));
            None
        }
    };
    let local = match object.get("date").and_then(Value::as_str) {
        Some(text) => match local_time(text) {
            Ok(parsed) => Some(parsed),
            Err(reason) => {
                errors.push(problem(&format!("{name}.date"), &reason));
                None
            }
        },
        None => {
            errors.push(problem(
                &format!("{name}.date"),
                "is required: an ISO 8601 date such as 2024-01-01T00:00:00.000Z",
            ));
            None
        }
    };
    let ((tz, zone), (local, date_only, unit_us)) = (zone?, local?);
    Some(Bound {
        local,
        date_only,
        unit_us,
        tz,
        zone,
    })
}

/// Local wall time from ISO 8601 text: `YYYY-MM-DD`, or with `THH:MM[:SS[.fraction]]`, with an
/// optional trailing `Z` that is ignored.
fn local_time(text: &str) -> Result<(DateTime, bool, i64), String> {
    let bare = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .unwrap_or(text);
    if let Some(offset) = explicit_offset(bare) {
        return Err(format!(
            "carries the offset {offset}: give local wall time, read in its timezone field (a trailing Z is ignored)"
        ));
    }
    let shape =
        "must be an ISO 8601 date or local time such as 2024-01-01 or 2024-01-01T00:00:00.000";
    let local: DateTime = bare.parse().map_err(|_| shape.to_string())?;
    if !(2000..=2099).contains(&local.year()) {
        return Err("must lie between the years 2000 and 2099".into());
    }
    let time = bare.split_once(['T', 't', ' ']).map(|(_, t)| t);
    let unit_us = match time {
        None => return Ok((local, true, 0)),
        Some(t) => match t.split_once(['.', ',']) {
            Some((_, fraction)) => {
                let digits = fraction.len().min(6) as u32;
                10_i64.pow(6 - digits)
            }
            None if t.len() <= 5 => 60_000_000,
            None => 1_000_000,
        },
    };
    Ok((local, false, unit_us))
}

/// The explicit UTC offset at the end of a time (`+01:00`, `-0500`), if any.
fn explicit_offset(text: &str) -> Option<&str> {
    let (_, time) = text.split_once(['T', 't', ' '])?;
    let at = time.find(['+', '-'])?;
    Some(&time[at..])
}

/// The instant a bound stands for: its start, or for an inclusive end, the instant after its
/// last stated unit.
fn instant(b: &Bound, end: bool) -> i64 {
    if b.date_only {
        let date = if end {
            b.local.date().tomorrow().expect("years before 2100")
        } else {
            b.local.date()
        };
        return day_start(&b.tz, date);
    }
    let at = b
        .local
        .to_zoned(b.tz.clone())
        .expect("years 2000..2099 are representable")
        .timestamp()
        .as_microsecond();
    if end { at + b.unit_us } else { at }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn range(from: &str, from_tz: &str, to: &str, to_tz: &str) -> UsageRange {
        parse(&json!({"from": {"date": from, "timezone": from_tz}, "to": {"date": to, "timezone": to_tz}}))
            .unwrap()
    }

    fn micros(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_microsecond()
    }

    #[test]
    fn a_trailing_z_is_local_time_and_to_is_inclusive_to_its_precision() {
        let r = range(
            "2024-01-01T00:00:00.000Z",
            "Europe/Berlin",
            "2024-01-31T23:59:59.999Z",
            "Europe/Berlin",
        );
        assert_eq!(r.start, micros("2023-12-31T23:00:00Z"));
        assert_eq!(r.end, micros("2024-01-31T23:00:00Z"));
        assert_eq!(r.from_text(), "2024-01-01T00:00:00.000+01:00");
        assert_eq!(r.to_text(), "2024-01-31T23:59:59.999+01:00");
        assert_eq!(
            (r.from_date.to_string(), r.to_date.to_string()),
            ("2024-01-01".into(), "2024-01-31".into())
        );
    }

    #[test]
    fn dates_alone_cover_whole_local_days_of_real_length() {
        let r = range("2024-03-31", "Europe/Paris", "2024-03-31", "Europe/Paris");
        assert_eq!(
            r.end - r.start,
            23 * 3_600_000_000,
            "the spring-forward day"
        );
        let r = range(
            "2024-01-01",
            "Asia/Kathmandu",
            "2024-01-01",
            "Asia/Kathmandu",
        );
        assert_eq!(r.start, micros("2023-12-31T18:15:00Z"));
    }

    #[test]
    fn from_and_to_may_name_different_zones() {
        let r = range(
            "2024-06-01T00:00",
            "Asia/Tokyo",
            "2024-06-01T00:00",
            "America/New_York",
        );
        assert_eq!(r.start, micros("2024-05-31T15:00:00Z"));
        assert_eq!(
            r.end,
            micros("2024-06-01T04:01:00Z"),
            "a minute stated, a minute covered"
        );
        assert_eq!(r.to_text(), "2024-06-01T00:00:59.999-04:00");
    }

    #[test]
    fn an_explicit_offset_and_other_mistakes_are_named_by_field() {
        let errors = parse(
            &json!({"from": {"date": "2024-01-01T00:00:00+02:00", "timezone": "UTC"},
            "to": {"date": "yesterday", "timezone": "Mars/Olympus"}, "format": "csv"}),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["format", "from.date", "to.timezone", "to.date"]);
        assert!(errors[1].reason.contains("+02:00"));
        let backwards = parse(&json!({"from": {"date": "2024-02-01", "timezone": "UTC"},
            "to": {"date": "2024-01-01", "timezone": "UTC"}}))
        .unwrap_err();
        assert_eq!(backwards[0].field, "to");
        let missing =
            parse(&json!({"from": {"date": "2024-02-01", "timezone": "UTC"}})).unwrap_err();
        assert_eq!(missing[0].field, "to");
        assert!(parse(&json!([1])).is_err());
    }
}
