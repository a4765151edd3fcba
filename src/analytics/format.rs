//! Writing rows: CSV per RFC 4180 with a header row always and spreadsheet-formula protection
//! on text cells, or a JSON array of objects with numbers as numbers.

use serde_json::{Map, Value};

use super::rows::Cell;

/// Text cells starting with one of these get a leading `'`, so a spreadsheet shows them as
/// text instead of running them as formulas.
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// Dollars from millionths, with at most 6 decimals and no trailing zeros.
pub fn money(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let (whole, frac) = (
        micros.unsigned_abs() / 1_000_000,
        micros.unsigned_abs() % 1_000_000,
    );
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{frac:06}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

fn protect(text: String) -> String {
    if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text
    }
}

/// A cell as CSV text, before quoting.
pub fn csv_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) => protect(s.clone()),
        Cell::Plain(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Money(m) => money(*m),
        Cell::Emails(items) => protect(items.join("; ")),
        Cell::Groups(items) => protect(items.join(", ")),
        Cell::Names(items) => protect(items.join(",")),
        Cell::Counts(pairs) => counts_text(pairs),
        Cell::Ratio(num, den) => ratio(*num, *den),
    }
}

/// Counts as a JSON object's text, keys in the order given (most first).
fn counts_text(pairs: &[(String, u64)]) -> String {
    let mut out = String::from("{");
    for (i, (key, n)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        out.push_str(&n.to_string());
    }
    out.push('}');
    out
}

/// A ratio with 4 decimals, rounded half away from zero, computed in integers.
pub fn ratio(num: u64, den: u64) -> String {
    let scaled = (u128::from(num) * 20_000 / u128::from(den.max(1))).div_ceil(2);
    format!("{}.{:04}", scaled / 10_000, scaled % 10_000)
}

/// Appends one CSV record (with CRLF) to `out`.
pub fn csv_record<'a>(out: &mut String, fields: impl IntoIterator<Item = &'a str>) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(out, field);
    }
    out.push_str("\r\n");
}

/// Appends one row of cells as a CSV record, each cell written straight into `out` (no text
/// per cell is allocated for ids, dates and numbers, which most cells are).
pub fn csv_row(out: &mut String, row: &[Cell]) {
    use std::fmt::Write as _;
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Null => {}
            Cell::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Cell::Plain(s) => push_field(out, s),
            other => push_field(out, &csv_text(other)),
        }
    }
    out.push_str("\r\n");
}

/// Rows as CSV records, no header.
pub fn csv_rows(rows: &[Vec<Cell>]) -> String {
    let mut text = String::with_capacity(rows.len() * 200);
    for row in rows {
        csv_row(&mut text, row);
    }
    text
}

/// Appends one field, quoted when it holds a comma, a quote or a line break.
fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// A whole table as CSV, header first.
pub fn csv(columns: &[&str], rows: &[Vec<Cell>]) -> String {
    let mut out = String::new();
    csv_record(&mut out, columns.iter().copied());
    for row in rows {
        csv_row(&mut out, row);
    }
    out
}

/// A cell as a JSON value.
pub fn json_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) | Cell::Plain(s) => Value::String(s.clone()),
        Cell::Int(n) => Value::from(*n),
        Cell::Money(m) => money(*m)
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Cell::Emails(items) | Cell::Groups(items) | Cell::Names(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        Cell::Counts(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, n)| (k.clone(), Value::from(*n)))
                .collect(),
        ),
        Cell::Ratio(num, den) => ratio(*num, *den)
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
    }
}

/// One row as a JSON object keyed by column.
pub fn json_row(columns: &[&str], row: &[Cell]) -> Value {
    let object: Map<String, Value> = columns
        .iter()
        .zip(row)
        .map(|(c, cell)| (c.to_string(), json_value(cell)))
        .collect();
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_have_four_decimals_rounded_half_up() {
        assert_eq!(ratio(1, 3), "0.3333");
        assert_eq!(ratio(2, 3), "0.6667");
        assert_eq!(ratio(10, 4), "2.5000");
        assert_eq!(ratio(1, 20_000), "0.0001");
        assert_eq!(ratio(1, 20_001), "0.0000");
        assert_eq!(ratio(7, 7), "1.0000");
    }

    #[test]
    fn counts_are_json_objects_in_both_formats() {
        let cell = Cell::Counts(vec![("a1".into(), 3), ("=x".into(), 1)]);
        assert_eq!(csv_text(&cell), r#"{"a1":3,"=x":1}"#);
        assert_eq!(json_value(&cell), serde_json::json!({"a1": 3, "=x": 1}));
        assert_eq!(json_value(&Cell::Ratio(1, 3)), serde_json::json!(0.3333));
    }

    #[test]
    fn money_keeps_up_to_six_decimals() {
        assert_eq!(money(0), "0");
        assert_eq!(money(2_100), "0.0021");
        assert_eq!(money(12_500_000), "12.5");
        assert_eq!(money(1), "0.000001");
        assert_eq!(money(-1_500_000), "-1.5");
    }

    #[test]
    fn csv_quotes_and_protects_only_text() {
        let rows = vec![vec![
            Cell::Plain("-1".into()),
            Cell::Text("=HYPERLINK(\"x\")".into()),
            Cell::Text("a,b".into()),
            Cell::Int(3),
            Cell::Null,
            Cell::Emails(vec!["a@x.io".into(), "b@x.io".into()]),
            Cell::Names(vec!["search".into(), "python".into()]),
            Cell::Text("@home\nline".into()),
        ]];
        let out = csv(&["a", "b", "c", "d", "e", "f", "g", "h"], &rows);
        assert_eq!(
            out,
            "a,b,c,d,e,f,g,h\r\n-1,\"'=HYPERLINK(\"\"x\"\")\",\"a,b\",3,,a@x.io; b@x.io,\"search,python\",\"'@home\nline\"\r\n"
        );
    }

    #[test]
    fn json_keeps_numbers_as_numbers_and_lists_as_arrays() {
        let row = json_row(
            &["n", "cost", "groups", "missing", "name"],
            &[
                Cell::Int(7),
                Cell::Money(2_100),
                Cell::Groups(vec!["Eng".into()]),
                Cell::Null,
                Cell::Text("=x".into()),
            ],
        );
        assert_eq!(
            row,
            serde_json::json!({"n": 7, "cost": 0.0021, "groups": ["Eng"], "missing": null, "name": "=x"})
        );
    }
}
