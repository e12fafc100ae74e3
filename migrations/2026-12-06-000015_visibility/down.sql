DROP INDEX users_team_idx;
ALTER TABLE users DROP COLUMN visibility;
ALTER TABLE workspaces
    DROP COLUMN admin_visibility,
    DROP COLUMN manager_visibility,
    DROP COLUMN sales_visibility,
    DROP COLUMN viewer_visibility;
