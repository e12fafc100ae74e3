DROP TRIGGER deal_stage_totals_on_insert ON deals;
DROP TRIGGER deal_stage_totals_on_update ON deals;
DROP TRIGGER deal_stage_totals_on_delete ON deals;
DROP FUNCTION deal_stage_totals_apply();
DROP TABLE deal_stage_totals;
CREATE INDEX deals_board_open_idx ON deals (workspace_id, pipeline_id, stage_id, currency)
    INCLUDE (amount, probability, owner_id) WHERE deleted_at IS NULL AND status = 'open';
