DELETE FROM deal_stage_totals WHERE owner_key = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
DROP INDEX deal_stage_totals_board_idx;
CREATE INDEX deal_stage_totals_board_idx ON deal_stage_totals (workspace_id, pipeline_id, closed_on);
CREATE OR REPLACE FUNCTION deal_stage_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    columns constant text := 'workspace_id, pipeline_id, stage_id, owner_id, currency, closed_at, amount, '
                              'probability, deleted_at';
    changed text;
BEGIN
    -- Transition tables exist per event: an INSERT has no old rows, a DELETE no new ones.
    changed := CASE TG_OP
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS sign FROM new_rows', columns)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS sign FROM old_rows', columns)
        ELSE format('SELECT %1$s, 1 AS sign FROM new_rows UNION ALL SELECT %1$s, -1 FROM old_rows', columns)
    END;
    EXECUTE format($sql$
        INSERT INTO deal_stage_totals AS total
            (workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on, deals, amount, weighted_amount)
        SELECT workspace_id, pipeline_id, stage_id, COALESCE(owner_id, '00000000-0000-0000-0000-000000000000'),
               currency, COALESCE((closed_at AT TIME ZONE 'UTC')::date, 'infinity'),
               sum(sign), sum(sign * amount), sum(sign * amount * probability / 100)
        FROM (%s) AS changed
        WHERE deleted_at IS NULL
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(sign) <> 0 OR sum(sign * amount) <> 0 OR sum(sign * amount * probability / 100) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on) DO UPDATE
        SET deals = total.deals + EXCLUDED.deals,
            amount = total.amount + EXCLUDED.amount,
            weighted_amount = total.weighted_amount + EXCLUDED.weighted_amount
    $sql$, changed);
    RETURN NULL;
END
$$;
