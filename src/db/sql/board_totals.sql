-- Per stage and currency of pipeline $2 in workspace $1 (only the deals of the owners in $3, or of
-- every owner when $3 holds the all-owners key, all ones): the number of live deals, their total
-- amount and their probability-weighted amount, from the running totals deal writes keep
-- (deal_stage_totals), whose cost doesn't grow with the pipeline or the sales team. Open deals count whenever they
-- were created; won and lost ones only when closed on day $4 or later.
--
-- The part of a day before $4 is board_partial_day_totals.sql, run only when the board starts
-- between two midnights. Apart, this statement is cheap enough to plan that PostgreSQL keeps one
-- plan for it; with the deals' range in the same statement it was planned on every request.
SELECT stage_id,
       currency,
       sum(deals)::bigint AS deals,
       sum(amount) AS amount,
       sum(weighted_amount) AS weighted_amount
FROM deal_stage_totals
WHERE workspace_id = $1 AND pipeline_id = $2
  AND owner_key = ANY($3::uuid[])
  AND closed_on >= $4::date
GROUP BY stage_id, currency
HAVING sum(deals) > 0
ORDER BY stage_id, currency
