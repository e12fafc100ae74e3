-- A contact merged into another (POST /contacts/{id}/merge) stays as a deleted tombstone that
-- names the contact that took over its deals, activities and refs.
ALTER TABLE contacts ADD COLUMN merged_into uuid;
ALTER TABLE contacts ADD FOREIGN KEY (workspace_id, merged_into) REFERENCES contacts (workspace_id, id);
