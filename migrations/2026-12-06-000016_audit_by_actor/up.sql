-- The audit trail read by actor (`GET /audit?actor_id=`, and a manager's view of their team's
-- actors), newest first: the events' ids are UUIDv7, in time order.
CREATE INDEX change_events_actor_idx ON change_events (workspace_id, actor_id, id);
