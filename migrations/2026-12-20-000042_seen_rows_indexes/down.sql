DROP INDEX sales_lines_owner_idx;
DROP INDEX clients_owner_idx;
CREATE INDEX clients_owner_idx ON clients (workspace_id, owner_id, updated_at, id) WHERE deleted_at IS NULL;
