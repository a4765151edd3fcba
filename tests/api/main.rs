//! API and storage tests, each run against SQLite and PostgreSQL.

mod admin;
mod analytics;
mod audit;
mod audit_console;
mod console;
mod crash;
mod ingest;
mod ops;
mod storage;
mod support;
