-- Segment counts and previews filter on a client's kind, owner, stage and behaviour stats, in any
-- combination, so no single btree serves them; scanning the clients table reads ~1.8 KB a row.
-- This index holds just those columns (~170 bytes a row), so a count is an index-only scan: at
-- 100k clients a three-condition count took 30 ms instead of 108 ms.
CREATE INDEX IF NOT EXISTS clients_segment_scan_idx ON clients (workspace_id)
    INCLUDE (kind, relationship, lifecycle_stage, owner_id, created_at, stats_won_count, stats_won_amount,
             stats_first_purchase_at, stats_last_purchase_at, stats_open_deals_count, stats_last_activity_at,
             stats_activities_30d, stats_activities_90d, stats_rfm_class)
    WHERE deleted_at IS NULL;
