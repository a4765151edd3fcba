//! A stream's settings by kind, checked field by field with every problem named at once, and
//! split into the public part (shown by the API) and the secrets (write-only, sealed at rest).
//! A PATCH overlays the fields it names on the stored ones, so secrets it does not name are
//! kept, and the result is checked as a whole.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::Kind;
use crate::ingest::FieldError;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A whole https URL (http only to an allowed private address).
    Url,
    /// A Datadog site such as `datadoghq.com` or `us5.datadoghq.com`.
    Site,
    /// An S3 or GCS bucket name.
    Bucket,
    /// Object name prefix: path segments without leading or trailing `/`.
    Prefix,
    /// A short text without control characters.
    Text,
    /// A JSON document as text (GCS service account credentials).
    Json,
}

struct Spec {
    name: &'static str,
    required: bool,
    secret: bool,
    shape: Shape,
}

const fn spec(name: &'static str, required: bool, secret: bool, shape: Shape) -> Spec {
    Spec {
        name,
        required,
        secret,
        shape,
    }
}

use Shape::*;

const DATADOG: &[Spec] = &[
    spec("site", true, false, Site),
    spec("url", false, false, Url),
    spec("apiKey", true, true, Text),
];
const SPLUNK: &[Spec] = &[
    spec("url", true, false, Url),
    spec("token", true, true, Text),
    spec("index", false, false, Text),
    spec("sourcetype", false, false, Text),
];
const S3: &[Spec] = &[
    spec("bucket", true, false, Bucket),
    spec("prefix", false, false, Prefix),
    spec("region", true, false, Text),
    spec("endpoint", false, false, Url),
    spec("accessKeyId", true, false, Text),
    spec("secretAccessKey", true, true, Text),
];
const GCS: &[Spec] = &[
    spec("bucket", true, false, Bucket),
    spec("prefix", false, false, Prefix),
    spec("endpoint", false, false, Url),
    spec("credentialsJson", false, true, Json),
];
const HTTPS: &[Spec] = &[
    spec("url", true, false, Url),
    spec("secret", true, true, Text),
];

fn specs(kind: Kind) -> &'static [Spec] {
    match kind {
        Kind::Datadog => DATADOG,
        Kind::Splunk => SPLUNK,
        Kind::S3 => S3,
        Kind::Gcs => GCS,
        Kind::Https => HTTPS,
    }
}

/// A checked configuration: what the API shows, and the secrets it never shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub public: Map<String, Value>,
    pub secrets: Map<String, Value>,
}

impl Settings {
    /// Public fields and secrets together, as the sinks read them.
    pub fn merged(&self) -> Map<String, Value> {
        let mut all = self.public.clone();
        all.extend(self.secrets.clone());
        all
    }

    /// A field's text, public or secret.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.public
            .get(name)
            .or_else(|| self.secrets.get(name))
            .and_then(Value::as_str)
    }
}

/// Checks a whole configuration of `kind`. Errors name fields as `config.<name>`.
///
/// # Errors
/// Every problem found, each naming its field.
pub fn check(
    kind: Kind,
    config: &Map<String, Value>,
    allow_private: bool,
) -> Result<Settings, Vec<FieldError>> {
    let specs = specs(kind);
    let mut errors = Vec::new();
    let mut settings = Settings::default();
    for name in config.keys() {
        if !specs.iter().any(|s| s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
            errors.push(problem(
                name,
                format!(
                    "unknown field for a {kind} stream: known ones are {}",
                    known.join(", ")
                ),
            ));
        }
    }
    for s in specs {
        match config.get(s.name).filter(|v| !v.is_null()) {
            None if s.required => errors.push(problem(s.name, "is required".into())),
            None => {}
            Some(Value::String(text)) => match check_value(s.shape, text, allow_private) {
                Ok(value) => {
                    let part = if s.secret {
                        &mut settings.secrets
                    } else {
                        &mut settings.public
                    };
                    part.insert(s.name.into(), Value::String(value));
                }
                Err(reason) => errors.push(problem(s.name, reason)),
            },
            Some(_) => errors.push(problem(s.name, "must be a string".into())),
        }
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}

/// Overlays the fields a PATCH names on the stored settings: a named field replaces the stored
/// one, `null` removes it, and fields not named (secrets included) are kept.
pub fn overlay(stored: &Settings, patch: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = stored.merged();
    for (name, value) in patch {
        if value.is_null() {
            merged.remove(name);
        } else {
            merged.insert(name.clone(), value.clone());
        }
    }
    merged
}

fn problem(name: &str, reason: String) -> FieldError {
    FieldError {
        index: None,
        field: format!("config.{name}"),
        reason,
    }
}

fn check_value(shape: Shape, text: &str, allow_private: bool) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    let too_long_or_control = text.len() > 2048 || text.chars().any(char::is_control);
    if shape != Shape::Json && too_long_or_control {
        return Err("must be at most 2048 characters, without control characters".into());
    }
    match shape {
        Shape::Url => destination(text, allow_private).map(|u| u.trim_end_matches('/').to_string()),
        Shape::Site => site(text).map(str::to_string),
        Shape::Bucket => bucket(text).map(str::to_string),
        Shape::Prefix => prefix(text),
        Shape::Text => Ok(text.to_string()),
        Shape::Json => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(_)) if text.len() <= 65_536 => Ok(text.to_string()),
            _ => Err(
                "must be a JSON object as text (a service account key file), at most 64 KiB".into(),
            ),
        },
    }
}

fn site(text: &str) -> Result<&str, String> {
    let ok = text.len() <= 253
        && text.contains('.')
        && text
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(text)
    } else {
        Err(
            "must be a Datadog site such as datadoghq.com, us5.datadoghq.com or datadoghq.eu"
                .into(),
        )
    }
}

fn bucket(text: &str) -> Result<&str, String> {
    let ok = (3..=63).contains(&text.len())
        && text.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'_'
        })
        && !text.starts_with(['.', '-'])
        && !text.ends_with(['.', '-']);
    if ok {
        Ok(text)
    } else {
        Err("must be a bucket name: 3 to 63 lower-case letters, digits, dots, dashes or underscores".into())
    }
}

fn prefix(text: &str) -> Result<String, String> {
    let trimmed = text.trim_matches('/');
    let ok = trimmed.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    });
    if ok && trimmed.len() <= 512 {
        Ok(trimmed.to_string())
    } else {
        Err("must be path segments of letters, digits, - _ . = separated by /".into())
    }
}

/// Checks a destination URL: https, with a host, without credentials in it; loopback, private
/// and link-local addresses (and `localhost`), and plain http to them, only when allowed.
///
/// Names are checked as written here; at delivery they resolve to public addresses only
/// (`resolve::PublicOnly`), unless a proxy (`HTTPS_PROXY`) carries the deliveries.
///
/// # Errors
/// A reason naming what is wrong.
pub fn destination(text: &str, allow_private: bool) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("must be a whole URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials: put them in the stream's secret fields".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => Host::Name(d.to_ascii_lowercase()),
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
        None => return Err("must name a host".into()),
    };
    let private = host.is_private();
    if private && !allow_private {
        return Err("must not be a loopback or private address (the operator can allow them with TALLY_STREAMS_ALLOW_PRIVATE=true)".into());
    }
    match url.scheme() {
        "https" => Ok(text.to_string()),
        "http" if private => Ok(text.to_string()),
        _ => Err("must be an https:// URL".into()),
    }
}

enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    fn is_private(&self) -> bool {
        match self {
            Host::Name(name) => {
                let name = name.trim_end_matches('.');
                name == "localhost" || name.ends_with(".localhost")
            }
            Host::Ip(ip) => ip_is_private(ip),
        }
    }
}

/// Loopback, private (RFC 1918, unique local), shared (RFC 6598), link-local and unspecified
/// addresses, and IPv4 addresses mapped into IPv6.
pub fn ip_is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return ip_is_private(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests;
