-- The audit log: per workspace, an append-only RFC 6962 Merkle tree over audit events.
-- audit_heads holds each log's size (and is the row appends serialize on); audit_entries
-- the events (canonical bytes, leaf hash, and columns search filters on); audit_nodes every
-- perfect subtree the tree completes, leaves included; audit_checkpoints the signed notes;
-- audit_signing_keys the public keys that signed them, retired ones included.
CREATE TABLE audit_heads (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    tree_size    BIGINT NOT NULL
);

CREATE TABLE audit_entries (
    workspace_id   TEXT NOT NULL,
    leaf_index     BIGINT NOT NULL,
    event_id       TEXT NOT NULL,
    occurred_at    BIGINT NOT NULL,
    action         TEXT NOT NULL,
    actor_type     TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    actor_name     TEXT NOT NULL,
    actor_email    TEXT NOT NULL,
    targets_key    TEXT NOT NULL,
    search_text    TEXT NOT NULL,
    canonical      BYTEA NOT NULL,
    leaf_hash      BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, leaf_index)
);
CREATE UNIQUE INDEX audit_entries_event ON audit_entries (workspace_id, event_id);
CREATE INDEX audit_entries_time ON audit_entries (workspace_id, occurred_at, leaf_index);

CREATE TABLE audit_idempotency (
    workspace_id    TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    events          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, idempotency_key)
);

CREATE TABLE audit_nodes (
    workspace_id TEXT NOT NULL,
    level        INTEGER NOT NULL,
    idx          BIGINT NOT NULL,
    hash         BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, level, idx)
);

CREATE TABLE audit_checkpoints (
    workspace_id TEXT NOT NULL,
    tree_size    BIGINT NOT NULL,
    root_hash    BYTEA NOT NULL,
    signed_at    BIGINT NOT NULL,
    key_id       TEXT NOT NULL,
    note         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, tree_size)
);

CREATE TABLE audit_signing_keys (
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    public_key   BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,
    PRIMARY KEY (workspace_id, name, key_id)
);
