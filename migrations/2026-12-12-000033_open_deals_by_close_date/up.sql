-- The forecast reads the open deals by expected close date. Without this index it read every deal
-- of the workspace (2.0 s at 1M clients and 3M deals, of which 226k open); with it, 0.45 s.
CREATE INDEX deals_open_close_idx ON deals (workspace_id, expected_close_date) WHERE deleted_at IS NULL AND status = 'open';
