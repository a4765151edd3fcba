-- Workspaces, access, directories and activity events.
-- Every workspace table is keyed first by workspace_id; api_keys and accounts are the two
-- reference tables looked up without a workspace.

CREATE TABLE workspaces (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    plan         TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    privacy      TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_hash     TEXT NOT NULL PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    UNIQUE (workspace_id, key_id)
);

CREATE TABLE accounts (
    email         TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE members (
    workspace_id  TEXT NOT NULL,
    id            TEXT NOT NULL,
    email         TEXT,
    name          TEXT,
    role          TEXT,
    status        TEXT,
    groups        TEXT,
    joined_at     INTEGER,
    last_login_at INTEGER,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE agents (
    workspace_id  TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT,
    description   TEXT,
    settings      TEXT,
    model_id      TEXT,
    provider_id   TEXT,
    author_emails TEXT,
    editor_emails TEXT,
    created_at    INTEGER,
    last_edit     INTEGER,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE tools (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    description  TEXT,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE skills (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    description  TEXT,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE projects (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    owner_id     TEXT,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE workflows (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    owner_id     TEXT,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

CREATE TABLE models (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    provider_id  TEXT,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;

-- Event tables are clustered by time (exports and rebuilds scan them in time order); the
-- unique (workspace_id, id) index makes a repeated id a duplicate.
CREATE TABLE messages (
    workspace_id      TEXT NOT NULL,
    occurred_at       INTEGER NOT NULL,
    id                TEXT NOT NULL,
    conversation_id   TEXT NOT NULL,
    parent_message_id TEXT,
    user_id           TEXT,
    agent_id          TEXT NOT NULL,
    source            TEXT NOT NULL,
    model_id          TEXT,
    provider_id       TEXT,
    project_id        TEXT,
    tokens_in         INTEGER,
    tokens_out        INTEGER,
    cost_micros       INTEGER,
    PRIMARY KEY (workspace_id, occurred_at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_id ON messages (workspace_id, id);

CREATE TABLE tool_executions (
    workspace_id    TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    user_id         TEXT,
    agent_id        TEXT,
    conversation_id TEXT,
    message_id      TEXT,
    status          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, occurred_at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX tool_executions_id ON tool_executions (workspace_id, id);

CREATE TABLE skill_executions (
    workspace_id    TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    user_id         TEXT,
    agent_id        TEXT,
    conversation_id TEXT,
    message_id      TEXT,
    status          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, occurred_at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX skill_executions_id ON skill_executions (workspace_id, id);

CREATE TABLE workflow_runs (
    workspace_id TEXT NOT NULL,
    occurred_at  INTEGER NOT NULL,
    id           TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    user_id      TEXT,
    status       TEXT NOT NULL,
    PRIMARY KEY (workspace_id, occurred_at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX workflow_runs_id ON workflow_runs (workspace_id, id);
