DROP TABLE funnel_cells_stale;
DROP TABLE funnel_cells;
