-- Counts the clients $4 as read by user $2 of workspace $1 on day $3, each once a day, and gives
-- the day's total and whether this was the user's first read of the day. The reads are inserted
-- before the total is raised, in one statement, so that concurrent requests (on any process) each
-- add only the clients new to the day.
WITH fresh AS (
    INSERT INTO client_reads (workspace_id, user_id, day, client_id)
    SELECT $1, $2, $3, client_id FROM unnest($4::uuid[]) AS client_id
    ON CONFLICT DO NOTHING
    RETURNING 1
)
INSERT INTO read_budget_usage AS usage (workspace_id, user_id, day, used)
VALUES ($1, $2, $3, (SELECT count(*) FROM fresh))
ON CONFLICT (workspace_id, user_id, day) DO UPDATE SET used = usage.used + excluded.used
RETURNING used, (xmax = 0) AS first_today
