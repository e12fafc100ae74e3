-- The trigger of 2026-12-01-000010, as it was.
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
    -- Grouped twice: per owner, and for all owners (owner_key is NULL in that grouping set).
    EXECUTE format($sql$
        INSERT INTO deal_stage_totals AS total
            (workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on, deals, amount, weighted_amount)
        SELECT workspace_id, pipeline_id, stage_id, COALESCE(owner_key, 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
               currency, closed_on, sum(sign), sum(sign * amount), sum(sign * amount * probability / 100)
        FROM (
            SELECT workspace_id, pipeline_id, stage_id,
                   COALESCE(owner_id, '00000000-0000-0000-0000-000000000000') AS owner_key, currency,
                   COALESCE((closed_at AT TIME ZONE 'UTC')::date, 'infinity') AS closed_on, amount, probability,
                   sign
            FROM (%s) AS changed
            WHERE deleted_at IS NULL
        ) AS live
        GROUP BY GROUPING SETS ((workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on),
                                (workspace_id, pipeline_id, stage_id, currency, closed_on))
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

CREATE TRIGGER deal_stage_totals_on_insert AFTER INSERT ON deals
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_stage_totals_apply();
CREATE TRIGGER deal_stage_totals_on_update AFTER UPDATE ON deals
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_stage_totals_apply();
CREATE TRIGGER deal_stage_totals_on_delete AFTER DELETE ON deals
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION deal_stage_totals_apply();
