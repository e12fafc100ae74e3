-- Custom fields, per-client behaviour stats (kept by the application in the writing
-- transaction, never by triggers), and segments of clients.

CREATE TABLE custom_fields (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    entity text NOT NULL CHECK (entity IN ('client', 'contact', 'deal', 'activity')),
    key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$'),
    label text NOT NULL CHECK (length(btrim(label)) BETWEEN 1 AND 200),
    type text NOT NULL CHECK (type IN ('text', 'number', 'decimal', 'date', 'datetime', 'bool', 'enum',
                                       'multi_enum', 'email', 'phone', 'url')),
    required boolean NOT NULL DEFAULT false,
    options text[] NOT NULL DEFAULT '{}',
    min numeric,
    max numeric,
    max_length integer CHECK (max_length > 0),
    pattern text,
    description text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    updated_by uuid,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, entity, key)
);

ALTER TABLE clients ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE deals ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE activities ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
-- Equality on a custom field compiles to containment (custom @> {"key": value}), which this serves.
CREATE INDEX clients_custom_idx ON clients USING gin (custom jsonb_path_ops) WHERE deleted_at IS NULL;

-- A client's buying and contact behaviour. Amounts are in the workspace currency (amount_base).
-- The counts over the last 30/90 days are exact when written and re-aged by the periodic refresh,
-- which also computes the RFM scores (1-5, quintiles within the workspace) and class.
ALTER TABLE clients
    ADD COLUMN stats_won_count integer NOT NULL DEFAULT 0,
    ADD COLUMN stats_won_amount numeric NOT NULL DEFAULT 0,
    ADD COLUMN stats_first_purchase_at timestamptz,
    ADD COLUMN stats_last_purchase_at timestamptz,
    ADD COLUMN stats_open_deals_count integer NOT NULL DEFAULT 0,
    ADD COLUMN stats_last_activity_at timestamptz,
    ADD COLUMN stats_activities_30d integer NOT NULL DEFAULT 0,
    ADD COLUMN stats_activities_90d integer NOT NULL DEFAULT 0,
    ADD COLUMN stats_rfm_recency smallint CHECK (stats_rfm_recency BETWEEN 1 AND 5),
    ADD COLUMN stats_rfm_frequency smallint CHECK (stats_rfm_frequency BETWEEN 1 AND 5),
    ADD COLUMN stats_rfm_monetary smallint CHECK (stats_rfm_monetary BETWEEN 1 AND 5),
    ADD COLUMN stats_rfm_class text;
-- When the periodic refresh last re-aged the counts and recomputed RFM for the workspace.
ALTER TABLE workspaces ADD COLUMN stats_refreshed_at timestamptz;
CREATE INDEX clients_stats_won_count_idx ON clients (workspace_id, stats_won_count) WHERE deleted_at IS NULL;
CREATE INDEX clients_stats_won_amount_idx ON clients (workspace_id, stats_won_amount) WHERE deleted_at IS NULL;
CREATE INDEX clients_stats_last_purchase_idx ON clients (workspace_id, stats_last_purchase_at)
    WHERE deleted_at IS NULL;
CREATE INDEX clients_stats_last_activity_idx ON clients (workspace_id, stats_last_activity_at)
    WHERE deleted_at IS NULL;
CREATE INDEX clients_stats_rfm_class_idx ON clients (workspace_id, stats_rfm_class) WHERE deleted_at IS NULL;

CREATE TABLE segments (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    kind text NOT NULL CHECK (kind IN ('dynamic', 'static')),
    -- The filter of a dynamic segment (in the filter language); NULL for a static one.
    filter jsonb,
    -- Which ready-made definition this is, for the segments every workspace starts with.
    builtin text,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    updated_by uuid,
    PRIMARY KEY (workspace_id, id),
    CHECK ((kind = 'dynamic') = (filter IS NOT NULL))
);
CREATE UNIQUE INDEX segments_name_key ON segments (workspace_id, lower(name));

CREATE TABLE segment_members (
    workspace_id uuid NOT NULL,
    segment_id uuid NOT NULL,
    client_id uuid NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    added_by uuid,
    PRIMARY KEY (workspace_id, segment_id, client_id),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id)
);

-- Who took which clients out of the system, when, and how many.
CREATE TABLE segment_exports (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    segment_id uuid NOT NULL,
    segment_name text NOT NULL,
    exported_by uuid NOT NULL,
    request_id text,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    row_count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, id)
);
CREATE INDEX segment_exports_segment_idx ON segment_exports (workspace_id, segment_id, started_at);
