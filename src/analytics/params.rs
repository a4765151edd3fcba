//! The parameters of `GET /analytics/export`, checked all at once so that one answer names every
//! problem.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::Table;
use crate::ingest::FieldError;
use crate::model::check_timezone;

/// The longest range one export may cover.
pub const MAX_RANGE_DAYS: i64 = 3_660;

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// Checked export parameters.
#[derive(Debug, Clone)]
pub struct ExportParams {
    pub table: Table,
    pub start: Date,
    pub end: Date,
    pub format: Format,
    pub timezone: String,
    pub tz: TimeZone,
}

const KNOWN: &[&str] = &["table", "startDate", "endDate", "format", "timezone"];

fn problem(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        index: None,
        field: field.into(),
        reason: reason.into(),
    }
}

/// A `YYYY-MM-DD` date that exists, between 2000-01-01 and 2099-12-31.
fn date(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Date> {
    let Some(value) = value else {
        errors.push(problem(field, "is required, as YYYY-MM-DD"));
        return None;
    };
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shaped {
        errors.push(problem(
            field,
            format!("{value:?} is not a date as YYYY-MM-DD"),
        ));
        return None;
    }
    match value.parse::<Date>() {
        Ok(d) if d.year() >= 2000 && d.year() <= 2099 => Some(d),
        Ok(_) => {
            errors.push(problem(field, "must lie between 2000-01-01 and 2099-12-31"));
            None
        }
        Err(_) => {
            errors.push(problem(field, format!("{value} is not a real date")));
            None
        }
    }
}

/// Checks the query string's pairs.
///
/// # Errors
/// Every problem found, each naming its parameter.
pub fn parse(pairs: &[(String, String)]) -> Result<ExportParams, Vec<FieldError>> {
    let mut errors = Vec::new();
    for (name, _) in pairs {
        if !KNOWN.contains(&name.as_str()) {
            errors.push(problem(
                name,
                format!("unknown parameter: use {}", KNOWN.join(", ")),
            ));
        }
    }
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let table = match get("table").map(str::parse::<Table>) {
        Some(Ok(t)) => Some(t),
        Some(Err(reason)) => {
            errors.push(problem("table", reason));
            None
        }
        None => {
            errors.push(problem("table", "is required: usage_metrics, active_users, source, tool_usage, skill_usage, agents, users or messages"));
            None
        }
    };
    let start = date("startDate", get("startDate"), &mut errors);
    let end = date("endDate", get("endDate"), &mut errors);
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            errors.push(problem("startDate", format!("{s} is after endDate {e}")));
        } else if (e - s).get_days() as i64 >= MAX_RANGE_DAYS {
            errors.push(problem(
                "endDate",
                format!("the range is over {MAX_RANGE_DAYS} days: narrow it"),
            ));
        }
    }
    let format = match get("format") {
        None | Some("csv") => Some(Format::Csv),
        Some("json") => Some(Format::Json),
        Some(other) => {
            errors.push(problem(
                "format",
                format!("{other:?} is not a format: use csv or json"),
            ));
            None
        }
    };
    let timezone = get("timezone").unwrap_or("UTC").to_string();
    let tz = match check_timezone(&timezone) {
        Ok(tz) => Some(tz),
        Err(reason) => {
            errors.push(problem("timezone", reason));
            None
        }
    };
    match (table, start, end, format, tz) {
        (Some(table), Some(start), Some(end), Some(format), Some(tz)) if errors.is_empty() => {
            Ok(ExportParams {
                table,
                start,
                end,
                format,
                timezone,
                tz,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn fields(q: &[(&str, &str)]) -> Vec<String> {
        parse(&pairs(q))
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn good_parameters_parse_with_defaults() {
        let p = parse(&pairs(&[
            ("table", "users"),
            ("startDate", "2024-02-29"),
            ("endDate", "2024-03-01"),
        ]))
        .unwrap();
        assert_eq!(p.table, Table::Users);
        assert_eq!(p.format, Format::Csv);
        assert_eq!(p.timezone, "UTC");
    }

    #[test]
    fn every_problem_is_named() {
        assert_eq!(fields(&[]), vec!["table", "startDate", "endDate"]);
        assert_eq!(
            fields(&[
                ("table", "sessions"),
                ("startDate", "2023-02-29"),
                ("endDate", "01/03/2024"),
                ("format", "xml"),
                ("timezone", "Mars/Base"),
                ("tz", "x")
            ]),
            vec!["tz", "table", "startDate", "endDate", "format", "timezone"]
        );
        assert_eq!(
            fields(&[
                ("table", "users"),
                ("startDate", "2024-03-02"),
                ("endDate", "2024-03-01")
            ]),
            vec!["startDate"]
        );
        assert_eq!(
            fields(&[
                ("table", "users"),
                ("startDate", "2000-01-01"),
                ("endDate", "2099-01-01")
            ]),
            vec!["endDate"]
        );
        assert_eq!(
            fields(&[
                ("table", "users"),
                ("startDate", "1999-12-31"),
                ("endDate", "2024-01-01")
            ]),
            vec!["startDate"]
        );
    }
}
