-- Adds ($3 = 1) or takes away ($3 = -1) the live open deals among $2 of workspace $1 in the
-- forecast's running totals (`open_deal_totals`): per pipeline, owner, team and month of expected
-- closing, with their amounts in the workspace currency. Called beside the board's totals
-- (apply_deal_stage_totals.sql), by every write to deals, the same way.
INSERT INTO open_deal_totals AS total
    (workspace_id, pipeline_id, owner_key, team_key, close_month, deals, amount, weighted_amount, unconverted_deals)
SELECT workspace_id, pipeline_id, owner_key, team_key, close_month, $3 * count(*),
       $3 * COALESCE(sum(amount_base), 0), $3 * COALESCE(sum(amount_base * probability / 100), 0),
       $3 * count(*) FILTER (WHERE amount_base IS NULL)
FROM (
    SELECT workspace_id, pipeline_id,
           COALESCE(owner_id, '00000000-0000-0000-0000-000000000000') AS owner_key,
           COALESCE(team_id, '00000000-0000-0000-0000-000000000000') AS team_key,
           COALESCE(date_trunc('month', expected_close_date::timestamp)::date, 'infinity') AS close_month,
           amount_base, probability
    FROM deals
    WHERE workspace_id = $1 AND id = ANY($2) AND deleted_at IS NULL AND status = 'open'
) AS open
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (workspace_id, pipeline_id, owner_key, team_key, close_month) DO UPDATE
SET deals = total.deals + EXCLUDED.deals,
    amount = total.amount + EXCLUDED.amount,
    weighted_amount = total.weighted_amount + EXCLUDED.weighted_amount,
    unconverted_deals = total.unconverted_deals + EXCLUDED.unconverted_deals
