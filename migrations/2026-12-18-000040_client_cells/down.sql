CREATE INDEX sales_lines_client_idx ON sales_lines (workspace_id, client_id);
DROP INDEX sales_lines_client_day_idx;
DROP TABLE client_cells_stale;
DROP TABLE client_cells;
