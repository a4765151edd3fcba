//! Ingest: from request bodies (JSON arrays or NDJSON, gzip or not) to validated batches.
//! Pure code: limits, decoding and validation happen here; storing happens in `storage`.

mod activity;
pub mod directory;
pub mod fields;

pub use activity::{MAX_NAME_CHARS, validate_batch};
pub use fields::FieldError;

use serde_json::Value;
use std::borrow::Cow;
use std::io::Read;

/// Most events (or directory records) one batch may hold.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// Most bytes a batch may hold once decoded.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How a batch body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: one JSON array.
    JsonArray,
    /// `application/x-ndjson`: one JSON object a line.
    Ndjson,
}

impl BodyFormat {
    /// The format a `Content-Type` header names, if it names one tally reads.
    pub fn from_content_type(value: &str) -> Option<BodyFormat> {
        let essence = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(BodyFormat::JsonArray),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                Some(BodyFormat::Ndjson)
            }
            _ => None,
        }
    }
}

/// Why a batch body was refused before any event was looked at closely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Over a size or count limit (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// Not decodable or not the right shape (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// Items that failed validation (HTTP 422).
    #[error("the batch has invalid items; nothing was stored")]
    Invalid(Vec<FieldError>),
}

/// Undoes `Content-Encoding: gzip`, refusing bodies that decode past [`MAX_BODY_BYTES`].
///
/// # Errors
/// [`BatchError::TooLarge`] past the limit, [`BatchError::Malformed`] for broken gzip.
pub fn decode_body(raw: &[u8], gzip: bool) -> Result<Cow<'_, [u8]>, BatchError> {
    if !gzip {
        if raw.len() > MAX_BODY_BYTES {
            return Err(too_large_body());
        }
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(MAX_BODY_BYTES));
    let limit = MAX_BODY_BYTES as u64 + 1;
    flate2::read::MultiGzDecoder::new(raw)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| BatchError::Malformed(format!("the body is not valid gzip: {e}")))?;
    if out.len() > MAX_BODY_BYTES {
        return Err(too_large_body());
    }
    Ok(Cow::Owned(out))
}

fn too_large_body() -> BatchError {
    BatchError::TooLarge(format!(
        "the body is over the limit of {MAX_BODY_BYTES} bytes (10 MiB) once decoded: split it into smaller batches"
    ))
}

/// Decodes, splits and validates a batch body in one go. Every problem is reported at once:
/// NDJSON lines that are not JSON together with the validation problems of the other lines.
///
/// # Errors
/// As [`decode_body`] and [`split_items`], and [`BatchError::Invalid`] with every problem.
pub fn read_batch<T>(
    raw: &[u8],
    gzip: bool,
    format: BodyFormat,
    validate: impl FnOnce(&[Value]) -> Result<T, Vec<FieldError>>,
) -> Result<T, BatchError> {
    let decoded = decode_body(raw, gzip)?;
    let (items, mut errors) = match split_items(&decoded, format) {
        Ok(items) => (items, Vec::new()),
        Err(BatchError::Invalid(broken)) => (ndjson_placeholders(&decoded)?, broken),
        Err(other) => return Err(other),
    };
    let broken: Vec<Option<usize>> = errors.iter().map(|e| e.index).collect();
    match validate(&items) {
        Ok(value) if errors.is_empty() => return Ok(value),
        Ok(_) => {}
        Err(found) => errors.extend(found.into_iter().filter(|e| !broken.contains(&e.index))),
    }
    errors.sort_by_key(|e| e.index);
    Err(BatchError::Invalid(errors))
}

/// The lines of an NDJSON body, with `null` standing for lines that are not JSON.
fn ndjson_placeholders(body: &[u8]) -> Result<Vec<Value>, BatchError> {
    Ok(ndjson_lines(body)
        .map(|line| serde_json::from_slice(line).unwrap_or(Value::Null))
        .collect())
}

fn ndjson_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
}

/// Splits a decoded body into its items, refusing more than [`MAX_BATCH_ITEMS`].
///
/// # Errors
/// [`BatchError::Malformed`] for a body that is not the format named,
/// [`BatchError::Invalid`] for NDJSON lines that are not JSON, [`BatchError::TooLarge`].
pub fn split_items(body: &[u8], format: BodyFormat) -> Result<Vec<Value>, BatchError> {
    let items = match format {
        BodyFormat::JsonArray => {
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| BatchError::Malformed(format!("the body is not valid JSON: {e}")))?;
            match value {
                Value::Array(items) => items,
                _ => {
                    return Err(BatchError::Malformed(
                        "the body must be a JSON array of objects (or NDJSON with Content-Type: application/x-ndjson)".into(),
                    ));
                }
            }
        }
        BodyFormat::Ndjson => split_ndjson(body)?,
    };
    if items.len() > MAX_BATCH_ITEMS {
        return Err(BatchError::TooLarge(format!(
            "the batch holds {} items, over the limit of {MAX_BATCH_ITEMS}: split it into smaller batches",
            items.len()
        )));
    }
    Ok(items)
}

fn split_ndjson(body: &[u8]) -> Result<Vec<Value>, BatchError> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in ndjson_lines(body).enumerate() {
        if index >= MAX_BATCH_ITEMS {
            return Err(BatchError::TooLarge(format!(
                "the batch holds more than {MAX_BATCH_ITEMS} items: split it into smaller batches"
            )));
        }
        match serde_json::from_slice(line) {
            Ok(v) => items.push(v),
            Err(e) => errors.push(FieldError {
                index: Some(index),
                field: String::new(),
                reason: format!("line is not valid JSON: {e}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(BatchError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests;
