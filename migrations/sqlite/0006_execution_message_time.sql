-- The messages table of the analytics export lists each message's tools and skills. An
-- execution keeps the time of the message it belongs to (set when both are stored, whichever
-- came first), so a page of messages finds its executions in one range read by that time
-- instead of a look-up per message.
ALTER TABLE tool_executions ADD COLUMN message_at INTEGER;
ALTER TABLE skill_executions ADD COLUMN message_at INTEGER;
UPDATE tool_executions SET message_at = (
    SELECT m.occurred_at FROM messages m
    WHERE m.workspace_id = tool_executions.workspace_id AND m.id = tool_executions.message_id)
  WHERE message_id IS NOT NULL;
UPDATE skill_executions SET message_at = (
    SELECT m.occurred_at FROM messages m
    WHERE m.workspace_id = skill_executions.workspace_id AND m.id = skill_executions.message_id)
  WHERE message_id IS NOT NULL;
CREATE INDEX tool_executions_message_at ON tool_executions (workspace_id, message_at, message_id, name)
  WHERE message_at IS NOT NULL;
CREATE INDEX skill_executions_message_at ON skill_executions (workspace_id, message_at, message_id, name)
  WHERE message_at IS NOT NULL;
-- Executions whose message is not stored yet: placed when it arrives.
CREATE INDEX tool_executions_unplaced ON tool_executions (workspace_id, message_id)
  WHERE message_id IS NOT NULL AND message_at IS NULL;
CREATE INDEX skill_executions_unplaced ON skill_executions (workspace_id, message_id)
  WHERE message_id IS NOT NULL AND message_at IS NULL;
DROP INDEX tool_executions_message;
DROP INDEX skill_executions_message;
