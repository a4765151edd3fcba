//! Configuration: defaults, then a TOML file, then `TALLY_*` environment variables, then
//! command-line flags; each later layer wins. Every key has one name in each layer: `listen` in
//! TOML, `TALLY_LISTEN` in the environment, `--listen` on the command line. Secrets may also come
//! from a file named by `TALLY_<KEY>_FILE`, and never print in `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A value that must not reach logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Every configuration key: name, default (empty: none), whether it is a secret, and its help.
pub const KEYS: &[(&str, &str, bool, &str)] = &[
    (
        "listen",
        "127.0.0.1:8080",
        false,
        "address the HTTP server binds",
    ),
    (
        "data_dir",
        "tally-data",
        false,
        "directory of the embedded store and local files",
    ),
    (
        "database_url",
        "",
        true,
        "postgres://… for PostgreSQL; empty for the embedded store",
    ),
    (
        "public_url",
        "",
        false,
        "external base URL (links, checkpoint origin); default http://<listen>",
    ),
    ("log_format", "json", false, "json or text"),
    (
        "log_level",
        "info",
        false,
        "tracing filter such as info or tally=debug",
    ),
    (
        "export_link_ttl_seconds",
        "900",
        false,
        "lifetime of signed download links",
    ),
    (
        "export_max_rows",
        "1000000",
        false,
        "most rows one usage export may hold",
    ),
    (
        "usage_export_rate_per_minute",
        "500",
        false,
        "usage export requests per key and minute",
    ),
    (
        "export_retention_hours",
        "24",
        false,
        "hours before export files are deleted",
    ),
    (
        "streams_allow_private",
        "false",
        false,
        "allow log streams to loopback and private addresses",
    ),
    (
        "audit_signing_key_file",
        "",
        false,
        "checkpoint signing key (C2SP signer key string); default <data_dir>/audit-signing.key, generated on first use",
    ),
    (
        "secret_key",
        "",
        true,
        "server secret (64 hex digits) for download-link signatures and pseudonyms; default <data_dir>/tally-secret.key, generated on first use; share one between replicas",
    ),
    (
        "export_dir",
        "",
        false,
        "directory of usage export files; default <data_dir>/exports; share one between replicas",
    ),
    (
        "export_s3_bucket",
        "",
        false,
        "write usage export files to this S3 bucket instead of export_dir, with presigned links",
    ),
    (
        "export_s3_prefix",
        "",
        false,
        "key prefix of export files in the bucket",
    ),
    (
        "export_s3_region",
        "us-east-1",
        false,
        "the bucket's region",
    ),
    (
        "export_s3_endpoint",
        "",
        false,
        "URL of an S3-compatible server instead of AWS",
    ),
    (
        "export_s3_access_key_id",
        "",
        false,
        "access key id for the export bucket",
    ),
    (
        "export_s3_secret_access_key",
        "",
        true,
        "secret access key for the export bucket",
    ),
];

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<Secret>,
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub export_link_ttl_seconds: u64,
    pub export_max_rows: u64,
    pub usage_export_rate_per_minute: u32,
    pub export_retention_hours: u64,
    pub streams_allow_private: bool,
    pub audit_signing_key_file: Option<PathBuf>,
    pub secret_key: Option<Secret>,
    pub export_dir: Option<PathBuf>,
    pub export_s3_bucket: Option<String>,
    pub export_s3_prefix: Option<String>,
    pub export_s3_region: String,
    pub export_s3_endpoint: Option<String>,
    pub export_s3_access_key_id: Option<String>,
    pub export_s3_secret_access_key: Option<Secret>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// A configuration problem, naming the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Raw values by key, each with the layer it came from (for error messages).
#[derive(Debug, Clone, Default)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, String)>,
}

fn known(key: &str) -> Option<&'static str> {
    KEYS.iter().map(|k| k.0).find(|k| *k == key)
}

impl Layers {
    /// Starts from the defaults.
    pub fn defaults() -> Self {
        let mut layers = Layers::default();
        for (key, default, _, _) in KEYS {
            if !default.is_empty() {
                layers.set(key, default.to_string(), "default");
            }
        }
        layers
    }

    fn set(&mut self, key: &'static str, value: String, origin: impl Into<String>) {
        self.values.insert(key, (value, origin.into()));
    }

    /// Applies a TOML document.
    ///
    /// # Errors
    /// For TOML that does not parse, an unknown key, or a value that is a table or array.
    pub fn toml(mut self, text: &str, origin: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| ConfigError(format!("{origin}: not valid TOML: {e}")))?;
        for (key, value) in table {
            let name = known(&key).ok_or_else(|| {
                ConfigError(format!(
                    "{origin}: unknown key {key:?}; known keys: {}",
                    KEYS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
                ))
            })?;
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(ConfigError(format!(
                        "{origin}: {key} must be a string, number or boolean, not {}",
                        other.type_str()
                    )));
                }
            };
            self.set(name, text, origin);
        }
        Ok(self)
    }

    /// Applies `TALLY_*` variables (and `TALLY_<KEY>_FILE` for secrets) from `vars`.
    ///
    /// # Errors
    /// When a `_FILE` variable names a file that cannot be read.
    pub fn env(
        mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        for (key, _, secret, _) in KEYS {
            let var = format!("TALLY_{}", key.to_ascii_uppercase());
            if *secret && let Some(path) = vars.get(&format!("{var}_FILE")) {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("{var}_FILE: cannot read {path}: {e}")))?;
                self.set(key, text.trim().to_string(), format!("{var}_FILE"));
            }
            if let Some(value) = vars.get(&var) {
                self.set(key, value.clone(), var);
            }
        }
        Ok(self)
    }

    /// Applies command-line flags, given as (key, value) pairs.
    pub fn flags<'a>(mut self, flags: impl IntoIterator<Item = (&'a str, Option<String>)>) -> Self {
        for (key, value) in flags {
            if let (Some(name), Some(value)) = (known(key), value) {
                self.set(name, value, format!("--{}", key.replace('_', "-")));
            }
        }
        self
    }

    /// Resolves the layers into a [`Config`].
    ///
    /// # Errors
    /// A message naming the key, the layer its value came from, and what is expected.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        Ok(Config {
            listen: self.parse("listen", "an address such as 127.0.0.1:8080")?,
            data_dir: PathBuf::from(self.text("data_dir").unwrap_or("tally-data")),
            database_url: self.text("database_url").map(Secret::new),
            public_url: self
                .text("public_url")
                .map(|u| u.trim_end_matches('/').to_string()),
            log_format: match self.text("log_format") {
                Some("text") => LogFormat::Text,
                Some("json") | None => LogFormat::Json,
                Some(_) => return Err(self.invalid("log_format", "json or text")),
            },
            log_level: self.text("log_level").unwrap_or("info").to_string(),
            export_link_ttl_seconds: self
                .parse("export_link_ttl_seconds", "a number of seconds")?,
            export_max_rows: self.parse("export_max_rows", "a whole number")?,
            usage_export_rate_per_minute: self
                .parse("usage_export_rate_per_minute", "a whole number")?,
            export_retention_hours: self.parse("export_retention_hours", "a number of hours")?,
            streams_allow_private: self.parse("streams_allow_private", "true or false")?,
            audit_signing_key_file: self.text("audit_signing_key_file").map(PathBuf::from),
            secret_key: self.text("secret_key").map(Secret::new),
            export_dir: self.text("export_dir").map(PathBuf::from),
            export_s3_bucket: self.text("export_s3_bucket").map(str::to_string),
            export_s3_prefix: self.text("export_s3_prefix").map(str::to_string),
            export_s3_region: self
                .text("export_s3_region")
                .unwrap_or("us-east-1")
                .to_string(),
            export_s3_endpoint: self.text("export_s3_endpoint").map(str::to_string),
            export_s3_access_key_id: self.text("export_s3_access_key_id").map(str::to_string),
            export_s3_secret_access_key: self.text("export_s3_secret_access_key").map(Secret::new),
        })
    }

    /// The value of a key, when it has a non-empty one.
    fn text(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, expected: &str) -> Result<T, ConfigError> {
        let text = self.text(key).unwrap_or_default();
        text.parse().map_err(|_| self.invalid(key, expected))
    }

    fn invalid(&self, key: &str, expected: &str) -> ConfigError {
        let (value, origin) = self.values.get(key).cloned().unwrap_or_default();
        ConfigError(format!(
            "{origin}: {key} = {value:?} is not valid: expected {expected}"
        ))
    }
}

impl Config {
    /// The base URL links and the checkpoint origin are built from.
    pub fn base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_alone_make_a_working_config() {
        let config = Layers::defaults().resolve().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.export_max_rows, 1_000_000);
        assert_eq!(config.export_link_ttl_seconds, 900);
        assert_eq!(config.usage_export_rate_per_minute, 500);
        assert_eq!(config.export_retention_hours, 24);
        assert!(!config.streams_allow_private);
        assert!(config.database_url.is_none());
        assert_eq!(config.base_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn each_layer_overrides_the_one_before() {
        let layers = Layers::defaults()
            .toml(
                "listen = \"0.0.0.0:9000\"\nexport_max_rows = 5\nlog_format = \"text\"",
                "tally.toml",
            )
            .unwrap()
            .env(env(&[
                ("TALLY_EXPORT_MAX_ROWS", "7"),
                ("TALLY_LOG_LEVEL", "debug"),
            ]))
            .unwrap()
            .flags([
                ("listen", Some("127.0.0.1:1".to_string())),
                ("data_dir", None),
            ]);
        let config = layers.resolve().unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:1");
        assert_eq!(config.export_max_rows, 7);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.data_dir, PathBuf::from("tally-data"));
    }

    #[test]
    fn errors_name_the_key_and_its_origin() {
        let err = Layers::defaults()
            .env(env(&[("TALLY_EXPORT_MAX_ROWS", "lots")]))
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(
            err.0.contains("TALLY_EXPORT_MAX_ROWS") && err.0.contains("lots"),
            "{err}"
        );
        let err = Layers::defaults()
            .toml("listne = 1", "tally.toml")
            .unwrap_err();
        assert!(err.0.contains("unknown key \"listne\""), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-url");
        std::fs::write(&path, "postgres://u:pw@db/tally\n").unwrap();
        let config = Layers::defaults()
            .env(env(&[("TALLY_DATABASE_URL_FILE", path.to_str().unwrap())]))
            .unwrap()
            .resolve()
            .unwrap();
        let url = config.database_url.as_ref().unwrap();
        assert_eq!(url.expose(), "postgres://u:pw@db/tally");
        assert!(!format!("{config:?}").contains("pw@db"));
    }
}
