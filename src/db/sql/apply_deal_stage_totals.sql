-- Adds ($3 = 1) or takes away ($3 = -1) the live deals among $2 of workspace $1 in the board's
-- running totals (`deal_stage_totals`): once per owner, and once for all owners together (owner_key
-- all ones). Every write to deals calls it in its transaction, with -1 on the rows as they are
-- before and 1 after, so the totals move with the deals whatever changed. Keys are upserted in
-- order, so two writers never wait on each other's rows in opposite orders.
INSERT INTO deal_stage_totals AS total
    (workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on, deals, amount, weighted_amount)
SELECT workspace_id, pipeline_id, stage_id, COALESCE(owner_key, 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
       currency, closed_on, $3 * count(*), $3 * sum(amount), $3 * sum(amount * probability / 100)
FROM (
    SELECT workspace_id, pipeline_id, stage_id,
           COALESCE(owner_id, '00000000-0000-0000-0000-000000000000') AS owner_key, currency,
           COALESCE((closed_at AT TIME ZONE 'UTC')::date, 'infinity') AS closed_on, amount, probability
    FROM deals
    WHERE workspace_id = $1 AND id = ANY($2) AND deleted_at IS NULL
) AS live
GROUP BY GROUPING SETS ((workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on),
                        (workspace_id, pipeline_id, stage_id, currency, closed_on))
ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on) DO UPDATE
SET deals = total.deals + EXCLUDED.deals,
    amount = total.amount + EXCLUDED.amount,
    weighted_amount = total.weighted_amount + EXCLUDED.weighted_amount
