-- API keys: credentials for integrations (accounting systems, e-shops, telephony) that act without
-- a person's password.
--
-- A key is a principal of its own: it has a row in `users` of kind `api_key` with the same id,
-- so that its writes carry its id in `created_by`, `updated_by` and the change log, records it
-- creates are owned by it, and every request it makes goes through the same check of role,
-- visibility and read budget as a person's. That row can't log in (its email is no address and
-- its password hash matches nothing), and the people endpoints never show or change it.
ALTER TABLE users ADD COLUMN kind text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'api_key'));

CREATE TABLE api_keys (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    -- The id of the key's principal in `users`.
    id uuid NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    -- `clients:read`, `deals:write`, `export`, `admin`, …: what the key may call.
    scopes text[] NOT NULL,
    -- Networks (CIDR) the key may be used from; empty for anywhere.
    allowed_networks text[] NOT NULL DEFAULT '{}',
    -- Requests a minute the key may make.
    requests_per_minute integer NOT NULL CHECK (requests_per_minute BETWEEN 1 AND 100000),
    expires_at timestamptz,
    -- SHA-256 of the secret: the secret itself is shown once, when issued.
    secret_hash bytea NOT NULL,
    -- The secret's last characters, so that people can tell their keys apart.
    secret_hint text NOT NULL,
    -- After a rotation, the previous secret works until `previous_secret_until`.
    previous_secret_hash bytea,
    previous_secret_until timestamptz,
    last_used_at timestamptz,
    last_used_from text,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, id) REFERENCES users (workspace_id, id)
);
