-- Safe retries: the first answer to a write sent with an `Idempotency-Key`, per workspace, user
-- and key, kept 24 hours so that a retry gets it again instead of writing twice. A row is
-- `running` from the first request's start until its answer is stored; `fingerprint` is a
-- SHA-256 of the request (method, path, query, body), so that the same key on another request is
-- refused. Kept in the database, not a process, so that retries landing on another API process
-- find it.
CREATE TABLE idempotency_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    user_id uuid NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    running boolean NOT NULL DEFAULT true,
    status smallint,
    headers jsonb,
    body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A running request that dies leaves its row running: after this, a retry takes it over.
    lease_until timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, user_id, key)
);
CREATE INDEX idempotency_keys_age_idx ON idempotency_keys (workspace_id, user_id, created_at);
