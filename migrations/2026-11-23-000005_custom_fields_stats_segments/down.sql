DROP TABLE segment_exports;
DROP TABLE segment_members;
DROP TABLE segments;
ALTER TABLE clients
    DROP COLUMN stats_won_count, DROP COLUMN stats_won_amount, DROP COLUMN stats_first_purchase_at,
    DROP COLUMN stats_last_purchase_at, DROP COLUMN stats_open_deals_count, DROP COLUMN stats_last_activity_at,
    DROP COLUMN stats_activities_30d, DROP COLUMN stats_activities_90d, DROP COLUMN stats_rfm_recency,
    DROP COLUMN stats_rfm_frequency, DROP COLUMN stats_rfm_monetary, DROP COLUMN stats_rfm_class;
ALTER TABLE workspaces DROP COLUMN stats_refreshed_at;
ALTER TABLE activities DROP COLUMN custom;
ALTER TABLE deals DROP COLUMN custom;
ALTER TABLE contacts DROP COLUMN custom;
ALTER TABLE clients DROP COLUMN custom;
DROP TABLE custom_fields;
