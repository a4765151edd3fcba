//! API and storage tests, each run against SQLite and PostgreSQL.

mod admin;
mod analytics;
mod audit;
mod audit_console;
mod console;
mod console_streams;
mod crash;
mod emulators;
mod ingest;
mod ops;
mod privacy;
mod receivers;
mod storage;
mod stream_delivery;
mod stream_objects;
mod stream_replicas;
mod stream_storage;
mod streams;
mod support;
mod usage;
