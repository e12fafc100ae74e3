DROP TABLE buyer_numbers;
DROP TABLE sales_cells_refreshes;
DROP TABLE sales_cells_stale;
DROP TABLE sales_cells;
