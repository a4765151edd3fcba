-- Log streams: per workspace, destinations every audit log record is delivered to, in leaf
-- order. config holds the kind's settings without secrets (JSON); secrets the secret fields,
-- sealed with a key derived from the server secret. cursor is the next leaf to deliver and
-- checkpoint_cursor the tree size of the last checkpoint delivered. lease_owner and
-- lease_until say which replica delivers the stream, until when.
CREATE TABLE log_streams (
    workspace_id      TEXT NOT NULL,
    stream_id         TEXT NOT NULL,
    kind              TEXT NOT NULL,
    config            TEXT NOT NULL,
    secrets           BLOB NOT NULL,
    state             TEXT NOT NULL,
    cursor            INTEGER NOT NULL,
    checkpoint_cursor INTEGER NOT NULL,
    delivered         INTEGER NOT NULL,
    last_success_at   INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_until       INTEGER,
    PRIMARY KEY (workspace_id, stream_id)
) WITHOUT ROWID;
