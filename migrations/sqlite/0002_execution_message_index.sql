-- The messages table of the analytics export lists, per message, the tools and skills executed
-- for it: look executions up by message id.
CREATE INDEX tool_executions_message ON tool_executions (workspace_id, message_id);
CREATE INDEX skill_executions_message ON skill_executions (workspace_id, message_id);
