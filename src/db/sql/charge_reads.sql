-- Counts the clients $4 as read by user $2 of workspace $1 on day $3, each once a day, and gives
-- the day's total and whether this was the user's first read of the day. The reads are inserted
-- before the total is raised, in one statement, so that concurrent requests (on any process) each
-- add only the clients new to the day. A request that reads nothing new (the same first page again
-- and again) leaves the total's row alone: raising it by zero would still write it, and make every
-- request of the user's queue for its lock.
WITH fresh AS (
    INSERT INTO client_reads (workspace_id, user_id, day, client_id)
    SELECT $1, $2, $3, client_id FROM unnest($4::uuid[]) AS client_id
    ON CONFLICT DO NOTHING
    RETURNING 1
), raised AS (
    INSERT INTO read_budget_usage AS usage (workspace_id, user_id, day, used)
    SELECT $1, $2, $3, count(*) FROM fresh HAVING count(*) > 0
    ON CONFLICT (workspace_id, user_id, day) DO UPDATE SET used = usage.used + excluded.used
    RETURNING used, (xmax = 0) AS first_today
)
SELECT used, first_today FROM raised
UNION ALL
SELECT used, false FROM read_budget_usage
WHERE workspace_id = $1 AND user_id = $2 AND day = $3 AND NOT EXISTS (SELECT 1 FROM raised)
