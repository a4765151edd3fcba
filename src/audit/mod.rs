//! Audit: the pure core of the tamper-evident audit log. Each workspace's log is an
//! append-only RFC 6962 Merkle tree (`merkle`) whose leaves hash the RFC 8785 canonical bytes
//! of each event (`canonical`); signed C2SP checkpoints (`note`) commit to its size and root,
//! so inclusion and consistency proofs let anyone holding the log's public key check offline
//! that an event is in the log and that the log was only ever appended to.

pub mod canonical;
pub mod merkle;
pub mod note;

pub mod demo;
pub mod event;
pub mod export;
pub mod log;
pub mod nodes;
pub mod own;
pub mod search;
pub mod signing;
pub mod verify;
