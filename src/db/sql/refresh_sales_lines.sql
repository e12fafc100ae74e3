-- Writes the sales lines (`sales_lines`) of clients $2 of workspace $1 again: one row per line of
-- each of their live won deals, after `SalesLines::recompute` took the old rows out. Per client,
-- not per deal, because which deal is a client's first purchase depends on all of its deals.
--
-- A deal's amount in the workspace currency is shared out over its lines in proportion to their
-- totals, rounded to the places of that amount; the last line takes what rounding left, so the
-- lines of a deal add up to its amount_base exactly.
--
-- Every table is named with `workspace_id = $1` itself, not through a join: Citus then sends the
-- whole statement to the one node holding the workspace, where it may use any SQL.
INSERT INTO sales_lines (workspace_id, deal_id, line, won_on, client_id, client_kind, owner_id, team_id,
                         pipeline_id, source, product_id, product_group, currency, amount, amount_base,
                         deal_head, first_purchase)
SELECT workspace_id, deal_id, line, won_on, client_id, client_kind, owner_id, team_id, pipeline_id, source,
       product_id, product_group, currency, amount,
       CASE WHEN deal_base IS NULL THEN NULL
            WHEN is_last THEN deal_base - (sum(share) OVER (PARTITION BY deal_id) - share)
            ELSE share END,
       deal_head, first_purchase
FROM (
    SELECT d.workspace_id, d.id AS deal_id, line.position AS line,
           (d.closed_at AT TIME ZONE w.timezone)::date AS won_on,
           d.client_id, c.kind AS client_kind, d.owner_id, d.team_id, d.pipeline_id, d.source,
           line.product_id, line.product_group, d.currency, line.amount, d.amount_base AS deal_base,
           round(COALESCE(d.amount_base * line.amount / NULLIF(d.amount, 0), 0), scale(d.amount_base)) AS share,
           row_number() OVER (PARTITION BY d.id ORDER BY line.position DESC) = 1 AS is_last,
           row_number() OVER (PARTITION BY d.id ORDER BY line.position) = 1 AS deal_head,
           d.first_purchase
    FROM (
        SELECT deals.*,
               row_number() OVER (PARTITION BY client_id ORDER BY closed_at, id) = 1 AS first_purchase
        FROM deals
        WHERE workspace_id = $1 AND client_id = ANY($2) AND status = 'won' AND deleted_at IS NULL
    ) AS d
    JOIN clients c ON c.workspace_id = $1 AND c.id = d.client_id
    JOIN workspaces w ON w.id = $1
    CROSS JOIN LATERAL (
        SELECT i.position, i.product_id, i.product_group, i.total AS amount
        FROM deal_items i
        WHERE i.workspace_id = $1 AND i.deal_id = d.id
        UNION ALL
        SELECT 0, NULL::uuid, NULL::text, d.amount
        WHERE NOT EXISTS (SELECT FROM deal_items i WHERE i.workspace_id = $1 AND i.deal_id = d.id)
    ) AS line
) AS lines
