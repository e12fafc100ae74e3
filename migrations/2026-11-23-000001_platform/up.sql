-- Tenancy, users and sessions, and the one record of change.
--
-- Every tenant table carries workspace_id, and every primary, unique and foreign key includes it,
-- so the schema can be distributed by workspace_id on Citus. No triggers: business logic lives
-- in the Rust transaction.

CREATE TABLE workspaces (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    default_currency text NOT NULL DEFAULT 'USD' CHECK (default_currency ~ '^[A-Z]{3}$'),
    timezone text NOT NULL DEFAULT 'UTC',
    default_phone_region text NOT NULL DEFAULT 'US' CHECK (default_phone_region ~ '^[A-Z]{2}$'),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    parent_id uuid,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, parent_id) REFERENCES teams (workspace_id, id),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX teams_name_key ON teams (workspace_id, lower(name));

CREATE TABLE users (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    email text NOT NULL,
    full_name text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'manager', 'sales', 'viewer')),
    team_id uuid,
    password_hash text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, team_id) REFERENCES teams (workspace_id, id)
);
-- Emails are compared case-insensitively, unique within a workspace.
CREATE UNIQUE INDEX users_email_key ON users (workspace_id, lower(email));
-- Login starts from an email alone, before the workspace is known.
CREATE INDEX users_login_email_idx ON users (lower(email));
CREATE INDEX users_list_idx ON users (workspace_id, created_at, id);

-- Refresh tokens rotate: each use marks the token used and issues its successor in the same
-- family; presenting a used token again revokes the whole family (reuse detection).
CREATE TABLE refresh_tokens (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    family_id uuid NOT NULL,
    secret_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (workspace_id, family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (workspace_id, user_id) WHERE revoked_at IS NULL;

-- The one record of change: every write stores its event in the same transaction. Timelines,
-- history, the audit trail, the change feed and webhooks are views of this table.
CREATE TABLE change_events (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    entity text NOT NULL,
    entity_id uuid NOT NULL,
    action text NOT NULL,
    version integer,
    actor_id uuid,
    request_id text,
    changes jsonb NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX change_events_entity_idx ON change_events (workspace_id, entity, entity_id, id);
