-- Pipelines with ordered stages, the product catalogue, deals with line items, and the history
-- of every deal's moves between stages. Money is NUMERIC: exact, never floating point.

CREATE TABLE pipelines (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    is_default boolean NOT NULL DEFAULT false,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX pipelines_name_key ON pipelines (workspace_id, lower(name));
CREATE UNIQUE INDEX pipelines_one_default_key ON pipelines (workspace_id) WHERE is_default;

CREATE TABLE stages (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    pipeline_id uuid NOT NULL,
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
    position integer NOT NULL,
    probability smallint NOT NULL CHECK (probability BETWEEN 0 AND 100),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    -- Lets a deal's (pipeline, stage) pair reference a stage of that very pipeline.
    UNIQUE (workspace_id, pipeline_id, id),
    FOREIGN KEY (workspace_id, pipeline_id) REFERENCES pipelines (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX stages_pipeline_idx ON stages (workspace_id, pipeline_id, position);

CREATE TABLE products (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    sku text NOT NULL CHECK (length(btrim(sku)) BETWEEN 1 AND 100),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 500),
    product_group text,
    unit text,
    price numeric NOT NULL CHECK (price >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active boolean NOT NULL DEFAULT true,
    search_text text NOT NULL DEFAULT '',
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id)
);
CREATE UNIQUE INDEX products_sku_key ON products (workspace_id, lower(sku));
CREATE INDEX products_list_idx ON products (workspace_id, name, id);
CREATE INDEX products_group_idx ON products (workspace_id, product_group, name, id);
CREATE INDEX products_search_idx ON products USING gin (workspace_id, search_text gin_trgm_ops);

CREATE TABLE deals (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    title text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 500),
    client_id uuid NOT NULL,
    contact_id uuid,
    pipeline_id uuid NOT NULL,
    stage_id uuid NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    amount numeric NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    exchange_rate numeric CHECK (exchange_rate > 0),
    amount_base numeric,
    probability smallint NOT NULL CHECK (probability BETWEEN 0 AND 100),
    probability_override smallint CHECK (probability_override BETWEEN 0 AND 100),
    expected_close_date date,
    closed_at timestamptz,
    lost_reason text,
    agreement text,
    next_step text,
    source text,
    owner_id uuid,
    team_id uuid,
    tags text[] NOT NULL DEFAULT '{}',
    search_text text NOT NULL DEFAULT '',
    stage_entered_at timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,
    updated_by uuid,
    deleted_at timestamptz,
    deleted_by uuid,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id),
    FOREIGN KEY (workspace_id, contact_id) REFERENCES contacts (workspace_id, id),
    FOREIGN KEY (workspace_id, pipeline_id, stage_id) REFERENCES stages (workspace_id, pipeline_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES users (workspace_id, id),
    FOREIGN KEY (workspace_id, team_id) REFERENCES teams (workspace_id, id),
    CHECK (status <> 'lost' OR lost_reason IS NOT NULL),
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX deals_updated_idx ON deals (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_created_idx ON deals (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_amount_idx ON deals (workspace_id, amount, id) WHERE deleted_at IS NULL;
-- Deals without an expected close date sort last.
CREATE INDEX deals_close_date_idx ON deals (workspace_id, (COALESCE(expected_close_date, 'infinity'::date)), id)
    WHERE deleted_at IS NULL;
CREATE INDEX deals_closed_idx ON deals (workspace_id, closed_at, id) WHERE deleted_at IS NULL AND closed_at IS NOT NULL;
CREATE INDEX deals_client_idx ON deals (workspace_id, client_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_board_idx ON deals (workspace_id, pipeline_id, stage_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_owner_idx ON deals (workspace_id, owner_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX deals_deleted_idx ON deals (workspace_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX deals_tags_idx ON deals USING gin (workspace_id, tags) WHERE deleted_at IS NULL;
CREATE INDEX deals_search_idx ON deals USING gin (workspace_id, search_text gin_trgm_ops) WHERE deleted_at IS NULL;

CREATE TABLE deal_items (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    deal_id uuid NOT NULL,
    position integer NOT NULL,
    product_id uuid,
    name text NOT NULL,
    product_group text,
    quantity numeric NOT NULL CHECK (quantity > 0),
    unit_price numeric NOT NULL CHECK (unit_price >= 0),
    discount_percent numeric NOT NULL DEFAULT 0 CHECK (discount_percent BETWEEN 0 AND 100),
    tax_percent numeric CHECK (tax_percent BETWEEN 0 AND 100),
    total numeric NOT NULL,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, deal_id) REFERENCES deals (workspace_id, id) ON DELETE CASCADE,
    FOREIGN KEY (workspace_id, product_id) REFERENCES products (workspace_id, id)
);
CREATE INDEX deal_items_deal_idx ON deal_items (workspace_id, deal_id, position);
CREATE INDEX deal_items_product_idx ON deal_items (workspace_id, product_id) WHERE product_id IS NOT NULL;

-- Every move of a deal between stages (and its creation, with from_stage_id NULL).
CREATE TABLE deal_stage_changes (
    workspace_id uuid NOT NULL,
    id uuid NOT NULL,
    deal_id uuid NOT NULL,
    from_stage_id uuid,
    to_stage_id uuid NOT NULL,
    changed_at timestamptz NOT NULL,
    changed_by uuid,
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, deal_id) REFERENCES deals (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX deal_stage_changes_deal_idx ON deal_stage_changes (workspace_id, deal_id, changed_at, id);

-- Workspaces created before this migration get the default pipeline new ones are created with.
INSERT INTO pipelines (workspace_id, id, name, is_default)
SELECT id, gen_random_uuid(), 'Sales', true FROM workspaces;
INSERT INTO stages (workspace_id, id, pipeline_id, name, kind, position, probability)
SELECT p.workspace_id, gen_random_uuid(), p.id, s.name, s.kind, s.position, s.probability
FROM pipelines p
CROSS JOIN (VALUES ('New', 'open', 1, 10), ('Qualified', 'open', 2, 25), ('Proposal', 'open', 3, 50),
                   ('Negotiation', 'open', 4, 75), ('Won', 'won', 5, 100), ('Lost', 'lost', 6, 0))
    AS s (name, kind, position, probability);
