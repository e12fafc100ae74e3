-- Per stage and currency of pipeline $2 in workspace $1 (only owner $3's deals when it is not
-- NULL): the number of live deals, their total amount and their probability-weighted amount. Open
-- deals count whenever they were created; won and lost ones only when closed since $4, so that the
-- board shows the work in progress and its recent outcome. Both come from the running totals deal
-- writes keep (deal_stage_totals), whose cost doesn't grow with the pipeline or the sales team
-- (the all-owners rows when $3 is NULL): the whole UTC days from $4 on, and the deals themselves
-- for the part of a day before the first whole one (none when $4 is a midnight, as by default).
SELECT stage_id,
       currency,
       sum(deals)::bigint AS deals,
       sum(amount) AS amount,
       sum(weighted_amount) AS weighted_amount
FROM (
    SELECT stage_id, currency, deals, amount, weighted_amount
    FROM deal_stage_totals
    WHERE workspace_id = $1 AND pipeline_id = $2
      AND owner_key = COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
      AND closed_on >= (($4::timestamptz AT TIME ZONE 'UTC') + interval '1 day' - interval '1 microsecond')::date
    UNION ALL
    SELECT stage_id, currency, 1, amount, amount * probability / 100
    FROM deals
    WHERE workspace_id = $1 AND deleted_at IS NULL AND pipeline_id = $2
      AND closed_at >= $4 AND closed_at < ((($4::timestamptz AT TIME ZONE 'UTC') + interval '1 day' - interval '1 microsecond')::date)::timestamp AT TIME ZONE 'UTC'
      AND ($3::uuid IS NULL OR owner_id = $3)
) AS shown
GROUP BY stage_id, currency
HAVING sum(deals) > 0
ORDER BY stage_id, currency
