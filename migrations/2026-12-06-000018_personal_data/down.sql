ALTER TABLE workspaces
    DROP COLUMN admin_personal_data,
    DROP COLUMN manager_personal_data,
    DROP COLUMN sales_personal_data,
    DROP COLUMN viewer_personal_data;
