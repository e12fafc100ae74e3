-- Per stage and currency of pipeline $2 in workspace $1 (only the deals of the owners in $3, unless
-- it holds the all-owners key): the live deals closed from $4 until $5, the part of a day before the board's first whole
-- day (board_totals.sql): how many, their total amount and their probability-weighted amount.
SELECT stage_id,
       currency,
       count(*) AS deals,
       sum(amount) AS amount,
       sum(amount * probability / 100) AS weighted_amount
FROM deals
WHERE workspace_id = $1 AND deleted_at IS NULL AND pipeline_id = $2
  AND closed_at >= $4 AND closed_at < $5
  AND (owner_id = ANY($3::uuid[]) OR 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid = ANY($3::uuid[]))
GROUP BY stage_id, currency
ORDER BY stage_id, currency
