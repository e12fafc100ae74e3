-- Spreadsheet imports (POST /imports): the file as sent, how far the background worker got, and
-- the rows it refused. A worker takes one chunk of rows at a time, locking the import's row (FOR
-- UPDATE SKIP LOCKED, within one workspace) and moving rows_done in the chunk's transaction, so a
-- restart resumes where the last committed chunk ended and no row is written twice.
CREATE TABLE imports (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    entity text NOT NULL CHECK (entity IN ('clients')),
    status text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    dry_run boolean NOT NULL,
    duplicates text NOT NULL CHECK (duplicates IN ('skip', 'update', 'create')),
    column_fields jsonb NOT NULL,
    file_name text,
    content text NOT NULL,
    rows_total integer NOT NULL,
    rows_done integer NOT NULL DEFAULT 0,
    created integer NOT NULL DEFAULT 0,
    updated integer NOT NULL DEFAULT 0,
    skipped integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    failure text,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, created_by) REFERENCES users (workspace_id, id)
);
CREATE INDEX imports_pending_idx ON imports (workspace_id, created_at) WHERE status IN ('queued', 'running');

CREATE TABLE import_errors (
    workspace_id uuid NOT NULL,
    import_id uuid NOT NULL,
    row_number integer NOT NULL,
    problem jsonb NOT NULL,
    PRIMARY KEY (workspace_id, import_id, row_number),
    FOREIGN KEY (workspace_id, import_id) REFERENCES imports (workspace_id, id) ON DELETE CASCADE
);
