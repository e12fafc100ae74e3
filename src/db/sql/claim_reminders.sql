-- Claims up to $1 due reminders of workspace $2 and fires them: marks them fired and records an
-- activity.reminder_due event for each, in one statement. SKIP LOCKED lets several server
-- processes run this at once without two of them firing the same reminder; the claim stays within
-- one workspace, as Citus requires of row locks.
WITH due AS (
    SELECT workspace_id, id
    FROM activities
    WHERE workspace_id = $2
      AND reminder_fired_at IS NULL
      AND status = 'planned'
      AND deleted_at IS NULL
      AND reminder_at IS NOT NULL
      AND reminder_at <= now()
    ORDER BY reminder_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), fired AS (
    UPDATE activities AS a
    SET reminder_fired_at = now()
    FROM due
    WHERE a.workspace_id = due.workspace_id AND a.id = due.id
    RETURNING a.workspace_id, a.id, a.version, a.assignee_id, a.reminder_at
), events AS (
    INSERT INTO change_events (workspace_id, id, entity, entity_id, action, version, actor_id, changes)
    SELECT workspace_id, gen_random_uuid(), 'activity', id, 'reminder_due', version, NULL,
           jsonb_build_object('assignee_id', assignee_id, 'reminder_at', reminder_at)
    FROM fired
)
SELECT workspace_id, id FROM fired
