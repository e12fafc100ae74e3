-- The ids other systems know records by (`{system, id}`), so that an integrator finds and upserts
-- records by its own ids. A record keeps its refs in its own row, for its answers and its change
-- events; `external_refs` indexes them, one row per ref, and its key makes one system's id name at
-- most one record of a kind in a workspace. The write that changes a record's refs changes these
-- rows in the same transaction.
ALTER TABLE clients ADD COLUMN external_refs jsonb NOT NULL DEFAULT '[]';

CREATE TABLE external_refs (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    -- `client`, and the other kinds of record as they gain refs.
    entity text NOT NULL,
    system text NOT NULL,
    external_id text NOT NULL,
    record_id uuid NOT NULL,
    PRIMARY KEY (workspace_id, entity, system, external_id)
);
CREATE INDEX external_refs_record_idx ON external_refs (workspace_id, entity, record_id);
