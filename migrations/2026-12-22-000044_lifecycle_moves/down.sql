ALTER TABLE workspaces DROP COLUMN churned_after_days, DROP COLUMN loyal_after_purchases;
ALTER TABLE clients DROP COLUMN lifecycle_set_by_hand;
