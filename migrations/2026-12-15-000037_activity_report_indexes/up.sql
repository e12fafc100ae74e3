-- The activity report's reads by day (docs/reports.md): without these it read every activity of
-- the workspace for a month's figures (3.9 s for November at 1M clients, 8M activities). Each
-- holds what its query needs, so the report reads no table rows for them: the activities done in
-- a range by kind, direction, reason and client (done, touches: 3.9 s → 165 and 238 ms); those due
-- in a range and how they went (11 ms); and a deal's first done activity, for the days from a
-- deal's creation to its first touch (620 → 226 ms).
CREATE INDEX activities_done_idx ON activities (workspace_id, completed_at)
    INCLUDE (assignee_id, kind, direction, reason, client_id)
    WHERE status = 'done' AND deleted_at IS NULL;
CREATE INDEX activities_due_idx ON activities (workspace_id, due_at)
    INCLUDE (assignee_id, status, completed_at)
    WHERE status <> 'cancelled' AND deleted_at IS NULL AND due_at IS NOT NULL;
CREATE INDEX activities_deal_done_idx ON activities (workspace_id, deal_id, completed_at)
    WHERE status = 'done' AND deleted_at IS NULL AND deal_id IS NOT NULL;
