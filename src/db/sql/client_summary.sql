-- The minimal data set of a client card, in one query. $1: workspace, $2: client.
-- Last contact: the latest completed touch (not a task or a note). Next: the earliest planned
-- activity. Deal amounts are in the workspace currency (amount_base): a foreign-currency deal
-- without an exchange rate counts in the deal counts but not in the amounts. The workspace's
-- currency comes along, so that the card needs no query of its own for it.
SELECT workspace.default_currency AS currency,
       last_touch.completed_at AS last_contact_at,
       last_touch.kind AS last_contact_kind,
       last_touch.reason AS last_contact_reason,
       last_touch.outcome AS last_contact_outcome,
       next_touch.id AS next_activity_id,
       next_touch.due_at AS next_activity_at,
       next_touch.kind AS next_activity_kind,
       next_touch.assignee_id AS next_activity_assignee_id,
       deal_totals.open_deals,
       deal_totals.open_amount,
       deal_totals.won_deals,
       deal_totals.won_amount,
       deal_totals.last_purchase_at
FROM workspaces AS workspace
LEFT JOIN LATERAL (
    SELECT completed_at, kind, reason, outcome
    FROM activities
    WHERE workspace_id = $1 AND client_id = $2 AND deleted_at IS NULL
      AND status = 'done' AND kind NOT IN ('task', 'note')
    ORDER BY completed_at DESC, id DESC
    LIMIT 1
) AS last_touch ON true
LEFT JOIN LATERAL (
    SELECT id, due_at, kind, assignee_id
    FROM activities
    WHERE workspace_id = $1 AND client_id = $2 AND deleted_at IS NULL AND status = 'planned'
    ORDER BY due_at ASC NULLS LAST, id
    LIMIT 1
) AS next_touch ON true
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE status = 'open') AS open_deals,
           COALESCE(sum(amount_base) FILTER (WHERE status = 'open'), 0) AS open_amount,
           count(*) FILTER (WHERE status = 'won') AS won_deals,
           COALESCE(sum(amount_base) FILTER (WHERE status = 'won'), 0) AS won_amount,
           max(closed_at) FILTER (WHERE status = 'won') AS last_purchase_at
    FROM deals
    WHERE workspace_id = $1 AND client_id = $2 AND deleted_at IS NULL
) AS deal_totals
WHERE workspace.id = $1
