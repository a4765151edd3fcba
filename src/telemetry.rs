//! Structured logs. Lines carry routes, statuses, counts and workspace ids: never message
//! content (tally has none), emails, names, user ids or secrets.

use crate::config::{Config, LogFormat};

/// Installs the global subscriber; later calls are ignored (tests start several servers).
pub fn init(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
