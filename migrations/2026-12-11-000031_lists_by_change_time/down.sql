DROP INDEX segments_by_change_idx;
DROP INDEX teams_by_change_idx;
DROP INDEX users_by_change_idx;
DROP INDEX products_by_change_idx;
