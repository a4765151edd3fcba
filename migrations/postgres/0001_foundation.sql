-- Workspaces, access, directories and activity events.
-- Every workspace table is keyed first by workspace_id; api_keys and accounts are the two
-- reference tables looked up without a workspace.

CREATE TABLE workspaces (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    plan         TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    privacy      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash     TEXT NOT NULL PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    UNIQUE (workspace_id, key_id)
);

CREATE TABLE accounts (
    email         TEXT NOT NULL PRIMARY KEY,
    password_hash TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE members (
    workspace_id  TEXT NOT NULL,
    id            TEXT NOT NULL,
    email         TEXT,
    name          TEXT,
    role          TEXT,
    status        TEXT,
    groups        TEXT,
    joined_at     BIGINT,
    last_login_at BIGINT,
    PRIMARY KEY (workspace_id, id)
);

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
    created_at    BIGINT,
    last_edit     BIGINT,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE tools (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    description  TEXT,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE skills (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    description  TEXT,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE projects (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    owner_id     TEXT,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE workflows (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    owner_id     TEXT,
    PRIMARY KEY (workspace_id, id)
);

CREATE TABLE models (
    workspace_id TEXT NOT NULL,
    id           TEXT NOT NULL,
    name         TEXT,
    provider_id  TEXT,
    PRIMARY KEY (workspace_id, id)
);

-- Event tables: the (workspace_id, id) key makes a repeated id a duplicate; the time index
-- serves exports and rebuilds, which scan in time order.
CREATE TABLE messages (
    workspace_id      TEXT NOT NULL,
    occurred_at       BIGINT NOT NULL,
    id                TEXT NOT NULL,
    conversation_id   TEXT NOT NULL,
    parent_message_id TEXT,
    user_id           TEXT,
    agent_id          TEXT NOT NULL,
    source            TEXT NOT NULL,
    model_id          TEXT,
    provider_id       TEXT,
    project_id        TEXT,
    tokens_in         BIGINT,
    tokens_out        BIGINT,
    cost_micros       BIGINT,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX messages_time ON messages (workspace_id, occurred_at, id);

CREATE TABLE tool_executions (
    workspace_id    TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    user_id         TEXT,
    agent_id        TEXT,
    conversation_id TEXT,
    message_id      TEXT,
    status          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX tool_executions_time ON tool_executions (workspace_id, occurred_at, id);

CREATE TABLE skill_executions (
    workspace_id    TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    id              TEXT NOT NULL,
    name            TEXT NOT NULL,
    user_id         TEXT,
    agent_id        TEXT,
    conversation_id TEXT,
    message_id      TEXT,
    status          TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX skill_executions_time ON skill_executions (workspace_id, occurred_at, id);

CREATE TABLE workflow_runs (
    workspace_id TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    id           TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    user_id      TEXT,
    status       TEXT NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX workflow_runs_time ON workflow_runs (workspace_id, occurred_at, id);
