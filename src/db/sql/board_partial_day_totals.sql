-- Per stage and currency of pipeline $2 in workspace $1 (only owner $3's deals when it is not
-- NULL): the live deals closed from $4 until $5, the part of a day before the board's first whole
-- day (board_totals.sql): how many, their total amount and their probability-weighted amount.
SELECT stage_id,
       currency,
       count(*) AS deals,
       sum(amount) AS amount,
       sum(amount * probability / 100) AS weighted_amount
FROM deals
WHERE workspace_id = $1 AND deleted_at IS NULL AND pipeline_id = $2
  AND closed_at >= $4 AND closed_at < $5
  AND ($3::uuid IS NULL OR owner_id = $3)
GROUP BY stage_id, currency
ORDER BY stage_id, currency
