-- Clients (individuals and companies in one table) and their contact persons.
--
-- Lookups an integrator needs without our ids (email, phone, tax id) go through normalised
-- key arrays maintained by the application: lower-cased emails and E.164 phones. Fuzzy search
-- (q=) goes through search_text, a lower-cased concatenation of names, emails and phones, with a
-- trigram index. workspace_id leads every index (btree_gin lets GIN indexes start with it) except
-- the GIN indexes of exact email and phone keys: there a leading workspace_id makes every lookup
-- read the workspace's whole posting list (measured at 200k clients: 2.3 ms and 19 ms for a
-- lookup and a duplicate check, against 0.05 ms and 0.19 ms without it). A key is shared by
-- few rows in any workspace, and the queries still filter on workspace_id.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE clients (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('person', 'company')),
    display_name text NOT NULL,
    display_name_override text,
    -- person
    last_name text,
    first_name text,
    middle_name text,
    birth_date date,
    gender text CHECK (gender IN ('male', 'female', 'other')),
    -- company
    name text,
    legal_name text,
    registration_number text,
    industry text,
    -- both
    tax_id text,
    website text,
    relationship text NOT NULL
        CHECK (relationship IN ('customer', 'prospect', 'supplier', 'partner', 'other')),
    lifecycle_stage text NOT NULL
        CHECK (lifecycle_stage IN ('lead', 'prospect', 'customer', 'loyal', 'churned')),
    source text CHECK (source IN ('website', 'pos', 'mobile_app', 'event', 'paper_form', 'phone', 'email',
                                  'referral', 'import', 'other')),
    owner_id uuid,
    team_id uuid,
    emails jsonb NOT NULL DEFAULT '[]',
    phones jsonb NOT NULL DEFAULT '[]',
    email_keys text[] NOT NULL DEFAULT '{}',
    phone_keys text[] NOT NULL DEFAULT '{}',
    address jsonb,
    tags text[] NOT NULL DEFAULT '{}',
    notes text,
    consent jsonb,
    search_text text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    updated_by uuid,
    deleted_at timestamptz,
    deleted_by uuid,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES users (workspace_id, id),
    FOREIGN KEY (workspace_id, team_id) REFERENCES teams (workspace_id, id)
);

-- Sorts (each direction reads the same index), live records only.
CREATE INDEX clients_updated_idx ON clients (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX clients_created_idx ON clients (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX clients_name_idx ON clients (workspace_id, display_name, id) WHERE deleted_at IS NULL;
-- Tombstones for sync and undo.
CREATE INDEX clients_deleted_idx ON clients (workspace_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
-- Filters by who owns the record.
CREATE INDEX clients_owner_idx ON clients (workspace_id, owner_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX clients_team_idx ON clients (workspace_id, team_id, updated_at, id) WHERE deleted_at IS NULL;
-- Lookups and duplicate checks.
CREATE INDEX clients_tax_id_idx ON clients (workspace_id, tax_id) WHERE deleted_at IS NULL AND tax_id IS NOT NULL;
CREATE INDEX clients_email_keys_idx ON clients USING gin (email_keys) WHERE deleted_at IS NULL;
CREATE INDEX clients_phone_keys_idx ON clients USING gin (phone_keys) WHERE deleted_at IS NULL;
CREATE INDEX clients_tags_idx ON clients USING gin (workspace_id, tags) WHERE deleted_at IS NULL;
-- Fuzzy search.
CREATE INDEX clients_search_idx ON clients USING gin (workspace_id, search_text gin_trgm_ops) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    client_id uuid NOT NULL,
    display_name text NOT NULL,
    last_name text,
    first_name text,
    middle_name text,
    position text,
    emails jsonb NOT NULL DEFAULT '[]',
    phones jsonb NOT NULL DEFAULT '[]',
    messengers jsonb NOT NULL DEFAULT '[]',
    email_keys text[] NOT NULL DEFAULT '{}',
    phone_keys text[] NOT NULL DEFAULT '{}',
    is_primary boolean NOT NULL DEFAULT false,
    notes text,
    owner_id uuid,
    consent jsonb,
    search_text text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    updated_by uuid,
    deleted_at timestamptz,
    deleted_by uuid,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES users (workspace_id, id)
);

-- At most one live primary contact per client.
CREATE UNIQUE INDEX contacts_one_primary_key ON contacts (workspace_id, client_id)
    WHERE is_primary AND deleted_at IS NULL;
CREATE INDEX contacts_client_idx ON contacts (workspace_id, client_id, display_name, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_updated_idx ON contacts (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_created_idx ON contacts (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_name_idx ON contacts (workspace_id, display_name, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_deleted_idx ON contacts (workspace_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX contacts_owner_idx ON contacts (workspace_id, owner_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_email_keys_idx ON contacts USING gin (email_keys) WHERE deleted_at IS NULL;
CREATE INDEX contacts_phone_keys_idx ON contacts USING gin (phone_keys) WHERE deleted_at IS NULL;
CREATE INDEX contacts_search_idx ON contacts USING gin (workspace_id, search_text gin_trgm_ops) WHERE deleted_at IS NULL;
