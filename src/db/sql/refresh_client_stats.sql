-- Recomputes one client's behaviour stats from its live deals and activities. Run in the
-- transaction of every deal or activity write that touches the client. $1: workspace, $2: client.
-- Amounts are in the workspace currency (amount_base): a foreign-currency deal without an exchange
-- rate counts as a purchase but adds nothing to the amount.
UPDATE clients AS c
SET stats_won_count = deal_totals.won_count,
    stats_won_amount = deal_totals.won_amount,
    stats_first_purchase_at = deal_totals.first_purchase_at,
    stats_last_purchase_at = deal_totals.last_purchase_at,
    stats_open_deals_count = deal_totals.open_count,
    stats_last_activity_at = activity_totals.last_activity_at,
    stats_activities_30d = activity_totals.last_30d,
    stats_activities_90d = activity_totals.last_90d
FROM (
    SELECT count(*) FILTER (WHERE status = 'won') AS won_count,
           COALESCE(sum(amount_base) FILTER (WHERE status = 'won'), 0) AS won_amount,
           min(closed_at) FILTER (WHERE status = 'won') AS first_purchase_at,
           max(closed_at) FILTER (WHERE status = 'won') AS last_purchase_at,
           count(*) FILTER (WHERE status = 'open') AS open_count
    FROM deals
    WHERE workspace_id = $1 AND client_id = $2 AND deleted_at IS NULL
) AS deal_totals,
(
    -- Done activities of every kind: what happened, not what is planned.
    SELECT max(completed_at) AS last_activity_at,
           count(*) FILTER (WHERE completed_at >= now() - interval '30 days') AS last_30d,
           count(*) FILTER (WHERE completed_at >= now() - interval '90 days') AS last_90d
    FROM activities
    WHERE workspace_id = $1 AND client_id = $2 AND deleted_at IS NULL AND status = 'done'
) AS activity_totals
WHERE c.workspace_id = $1 AND c.id = $2
