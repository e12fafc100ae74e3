-- Every client's stats of workspace $1 from its deals and activities, set-based (the seeder's
-- equivalent of refresh_client_stats.sql for one client).
WITH deal_totals AS (
    SELECT client_id,
           count(*) FILTER (WHERE status = 'won') AS won_count,
           COALESCE(sum(amount_base) FILTER (WHERE status = 'won'), 0) AS won_amount,
           min(closed_at) FILTER (WHERE status = 'won') AS first_purchase_at,
           max(closed_at) FILTER (WHERE status = 'won') AS last_purchase_at,
           count(*) FILTER (WHERE status = 'open') AS open_count
    FROM deals WHERE workspace_id = $1 AND deleted_at IS NULL
    GROUP BY client_id
), activity_totals AS (
    SELECT client_id,
           max(completed_at) AS last_activity_at,
           count(*) FILTER (WHERE completed_at >= now() - interval '30 days') AS last_30d,
           count(*) FILTER (WHERE completed_at >= now() - interval '90 days') AS last_90d
    FROM activities WHERE workspace_id = $1 AND deleted_at IS NULL AND status = 'done' AND client_id IS NOT NULL
    GROUP BY client_id
)
UPDATE clients AS c
SET stats_won_count = COALESCE(d.won_count, 0),
    stats_won_amount = COALESCE(d.won_amount, 0),
    stats_first_purchase_at = d.first_purchase_at,
    stats_last_purchase_at = d.last_purchase_at,
    stats_open_deals_count = COALESCE(d.open_count, 0),
    stats_last_activity_at = a.last_activity_at,
    stats_activities_30d = COALESCE(a.last_30d, 0),
    stats_activities_90d = COALESCE(a.last_90d, 0)
FROM clients AS c2
LEFT JOIN deal_totals AS d ON d.client_id = c2.id
LEFT JOIN activity_totals AS a ON a.client_id = c2.id
WHERE c.workspace_id = $1 AND c2.workspace_id = $1 AND c.id = c2.id
