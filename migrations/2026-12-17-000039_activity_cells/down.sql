ALTER INDEX client_numbers_number_key RENAME TO buyer_numbers_number_key;
ALTER TABLE client_numbers RENAME CONSTRAINT client_numbers_workspace_id_fkey TO buyer_numbers_workspace_id_fkey;
ALTER TABLE client_numbers DROP CONSTRAINT client_numbers_pkey,
    ADD CONSTRAINT buyer_numbers_pkey PRIMARY KEY (workspace_id, client_id);
ALTER TABLE client_numbers RENAME TO buyer_numbers;
ALTER TABLE cell_refreshes RENAME CONSTRAINT cell_refreshes_workspace_id_fkey TO sales_cells_refreshes_workspace_id_fkey;
ALTER TABLE cell_refreshes RENAME CONSTRAINT cell_refreshes_pkey TO sales_cells_refreshes_pkey;
ALTER TABLE cell_refreshes RENAME TO sales_cells_refreshes;
DROP TABLE activity_cells_stale;
DROP TABLE activity_cells;
