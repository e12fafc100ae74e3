-- Products, users, teams and segments list in the order of their last change too (`updated_since`,
-- `sort=updated_at`), as a sync that polls reads them: each such list has an index in that order.
CREATE INDEX products_by_change_idx ON products (workspace_id, updated_at, id);
CREATE INDEX users_by_change_idx ON users (workspace_id, updated_at, id);
CREATE INDEX teams_by_change_idx ON teams (workspace_id, updated_at, id);
CREATE INDEX segments_by_change_idx ON segments (workspace_id, updated_at, id);
