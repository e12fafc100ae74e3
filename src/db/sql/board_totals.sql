-- Per stage and currency of pipeline $2 in workspace $1 (only owner $3's deals when it is not
-- NULL): the number of live deals, their total amount and their probability-weighted amount. Open
-- deals count whenever they were created; won and lost ones only when closed since $4, so that the
-- board's cost follows the work in progress, not the years of history.
SELECT stage_id,
       currency,
       count(*) AS deals,
       sum(amount) AS amount,
       sum(amount * probability / 100) AS weighted_amount
FROM (
    SELECT stage_id, currency, amount, probability
    FROM deals
    WHERE workspace_id = $1 AND pipeline_id = $2 AND deleted_at IS NULL AND status = 'open'
      AND ($3::uuid IS NULL OR owner_id = $3)
    UNION ALL
    SELECT stage_id, currency, amount, probability
    FROM deals
    WHERE workspace_id = $1 AND deleted_at IS NULL AND closed_at >= $4 AND pipeline_id = $2
      AND ($3::uuid IS NULL OR owner_id = $3)
) AS shown
GROUP BY stage_id, currency
ORDER BY stage_id, currency
