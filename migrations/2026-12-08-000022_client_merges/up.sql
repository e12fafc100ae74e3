-- A client merged into another (POST /clients/{id}/merge) stays as a deleted tombstone that names
-- the client that took over its contacts, deals, activities, memberships, shares and refs.
ALTER TABLE clients ADD COLUMN merged_into uuid;
ALTER TABLE clients ADD FOREIGN KEY (workspace_id, merged_into) REFERENCES clients (workspace_id, id);
