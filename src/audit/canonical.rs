//! RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON value: the exact bytes an audit
//! event's leaf hash covers, so that any verifier re-serializing the event gets the same hash.
//! Members sorted by the UTF-16 code units of their names, no whitespace, strings escaped as
//! ECMAScript's `JSON.stringify` does, numbers written as `Number.prototype.toString` writes
//! them. Integers beyond ±2^53 are refused, since they do not survive a trip through a double.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

#[cfg(test)]
mod tests;

/// The largest magnitude an integer may have: 2^53, where doubles stop holding every integer.
pub const MAX_SAFE_MAGNITUDE: u64 = 1 << 53;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CanonicalError {
    /// NaN or an infinity, which JSON cannot write.
    #[error("the number {0} is not finite")]
    NotFinite(f64),
    /// An integer a double cannot hold exactly.
    #[error("the integer {0} is outside ±2^53")]
    IntegerOutOfRange(String),
}

/// The RFC 8785 canonical bytes of `value`.
///
/// # Errors
///
/// [`CanonicalError::IntegerOutOfRange`] for an integer whose magnitude exceeds 2^53, and
/// [`CanonicalError::NotFinite`] for a non-finite number (which `serde_json` itself never holds).
///
/// # Examples
///
/// ```
/// let event = serde_json::json!({"b": [1.50, "\u{20ac}\n"], "a": 1e21});
/// let bytes = tally::audit::canonical::canonical_bytes(&event).unwrap();
/// assert_eq!(bytes, "{\"a\":1e+21,\"b\":[1.5,\"\u{20ac}\\n\"]}".as_bytes());
/// ```
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => out.extend_from_slice(format_number(number)?.as_bytes()),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => write_array(items, out)?,
        Value::Object(members) => write_object(members, out)?,
    }
    Ok(())
}

fn write_array(items: &[Value], out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_value(item, out)?;
    }
    out.push(b']');
    Ok(())
}

fn write_object(members: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    // Not byte order: UTF-16 puts U+10000.. (surrogates, 0xD800..) before U+E000..U+FFFF.
    sorted.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// A JSON string as `JSON.stringify` writes it: only `"`, `\` and control characters escaped.
fn write_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    // Every escaped character is ASCII, so bytes of multi-byte characters pass through whole.
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x00..=0x1f => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

fn format_number(number: &Number) -> Result<String, CanonicalError> {
    if let Some(int) = number.as_i64() {
        if int.unsigned_abs() > MAX_SAFE_MAGNITUDE {
            return Err(CanonicalError::IntegerOutOfRange(int.to_string()));
        }
        return Ok(int.to_string());
    }
    if let Some(int) = number.as_u64() {
        // Not an i64, so above i64::MAX and far beyond 2^53.
        return Err(CanonicalError::IntegerOutOfRange(int.to_string()));
    }
    match number.as_f64() {
        Some(float) => format_double(float),
        // Only reachable with serde_json's arbitrary precision, for a number no double holds.
        None => Err(CanonicalError::IntegerOutOfRange(number.to_string())),
    }
}

/// A double as ECMAScript's `Number::toString` writes it (ECMA-262 §6.1.6.1.20): the shortest
/// digits that read back as the same double, placed by where its decimal exponent falls.
pub(crate) fn format_double(x: f64) -> Result<String, CanonicalError> {
    if !x.is_finite() {
        return Err(CanonicalError::NotFinite(x));
    }
    if x == 0.0 {
        return Ok("0".to_string()); // -0 too
    }
    let (digits, n) = shortest_digits(x.abs());
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        let _ = write!(out, "{whole}.{fraction}");
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let sign = if n > 0 { '+' } else { '-' };
        let _ = write!(out, "{first}{dot}{rest}e{sign}{}", (n - 1).abs());
    }
    Ok(out)
}

/// The ECMAScript `s` and `n` of a positive finite double: the shortest decimal digits `s`
/// that read back as `x`, the closest to `x` of those (the even one on a tie), and `n` such
/// that `x` is about `0.s × 10^n`.
fn shortest_digits(x: f64) -> (String, i32) {
    let shortest = split_scientific(&format!("{x:e}"));
    let k = shortest.0.len();
    // Below 16 digits the decimal grid is coarser than the gap between doubles, so only one
    // k-digit decimal reads back as `x`. From 16 on two may, and Rust's shortest mode does not
    // promise the closer one; `x` correctly rounded to k digits (ties to even) is that one,
    // whenever it still reads back as `x`.
    if k < 16 {
        return shortest;
    }
    let closest = format!("{x:.prec$e}", prec = k - 1);
    match closest.parse::<f64>() {
        Ok(back) if back == x => split_scientific(&closest),
        _ => shortest,
    }
}

/// The digits without the point, and `n = exponent + 1`, of Rust's `d.ddde±x` notation.
fn split_scientific(scientific: &str) -> (String, i32) {
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("invariant: LowerExp always writes an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("invariant: LowerExp writes the exponent as a decimal integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exponent + 1)
}
