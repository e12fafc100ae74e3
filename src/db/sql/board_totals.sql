-- Per stage and currency of pipeline $2 in workspace $1 (only owner $3's deals when it is not
-- NULL): the number of live deals, their total amount and their probability-weighted amount. Open
-- deals come from the running totals deal writes keep (deal_stage_totals), so their cost doesn't
-- grow with the pipeline; won and lost ones count only when closed since $4, so that the board
-- shows recent closings, not the years of history.
SELECT stage_id,
       currency,
       sum(deals)::bigint AS deals,
       sum(amount) AS amount,
       sum(weighted_amount) AS weighted_amount
FROM (
    SELECT stage_id, currency, deals, amount, weighted_amount
    FROM deal_stage_totals
    WHERE workspace_id = $1 AND pipeline_id = $2 AND ($3::uuid IS NULL OR owner_key = $3) AND deals > 0
    UNION ALL
    SELECT stage_id, currency, 1, amount, amount * probability / 100
    FROM deals
    WHERE workspace_id = $1 AND deleted_at IS NULL AND closed_at >= $4 AND pipeline_id = $2
      AND ($3::uuid IS NULL OR owner_id = $3)
) AS shown
GROUP BY stage_id, currency
ORDER BY stage_id, currency
