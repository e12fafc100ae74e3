-- The board's totals read open deals per stage and currency from this index alone; won and lost
-- columns only count deals closed recently (deals_closed_idx).
CREATE INDEX deals_board_open_idx ON deals (workspace_id, pipeline_id, stage_id, currency)
    INCLUDE (amount, probability, owner_id) WHERE deleted_at IS NULL AND status = 'open';
