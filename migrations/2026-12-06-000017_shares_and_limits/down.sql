DROP TRIGGER change_events_no_truncate ON change_events;
DROP TRIGGER change_events_append_only ON change_events;
DROP FUNCTION refuse_change_event_edits();
DROP TABLE read_budget_usage;
DROP TABLE client_reads;
ALTER TABLE workspaces
    DROP COLUMN max_deletions_per_hour,
    DROP COLUMN admin_read_budget,
    DROP COLUMN manager_read_budget,
    DROP COLUMN sales_read_budget,
    DROP COLUMN viewer_read_budget;
DROP TABLE client_shares;
