//! tally: workspace analytics, a tamper-evident audit log and usage exports for the admins of
//! an AI-assistant platform. The library holds every piece of logic; `main.rs` only parses the
//! command line and starts things.

pub mod access;
pub mod analytics;
pub mod audit;
pub mod cli;
pub mod config;
pub mod generate;
pub mod ingest;
pub mod model;
pub mod privacy;
pub mod secret;
pub mod storage;
pub mod streams;
pub mod telemetry;
pub mod usage;
pub mod web;
