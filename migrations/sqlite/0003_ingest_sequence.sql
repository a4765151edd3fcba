-- Every ingest transaction takes the workspace's next sequence number and stamps its events
-- with it. Rollups catch up by reading the events of the sequence numbers they have not seen,
-- on any replica, in commit order.
CREATE TABLE ingest_sequences (
    workspace_id TEXT NOT NULL PRIMARY KEY,
    seq          INTEGER NOT NULL
);
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tool_executions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE skill_executions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_seq ON messages (workspace_id, seq);
CREATE INDEX tool_executions_seq ON tool_executions (workspace_id, seq);
CREATE INDEX skill_executions_seq ON skill_executions (workspace_id, seq);
CREATE INDEX workflow_runs_seq ON workflow_runs (workspace_id, seq);
