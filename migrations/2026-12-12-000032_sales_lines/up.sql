-- What reports add up: one row per line of every live won deal (or one row for a deal without
-- lines), with the dimensions a report groups and filters by copied from the deal and its client.
-- Reports read this narrow table instead of joining deals, items and clients on every request.
--
-- It is derived data, kept exact by the application in the transaction of every write that can
-- change it (`src/db/sql/refresh_sales_lines.sql`, per client: a deal's own fields, its items, a
-- client's kind, a merge moving deals). Not a trigger: Citus refuses triggers on distributed tables.
CREATE TABLE sales_lines (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    deal_id uuid NOT NULL,
    -- The item's position, or 0 for a deal without items.
    line integer NOT NULL,
    -- The day the deal was won, in the workspace's time zone.
    won_on date NOT NULL,
    client_id uuid NOT NULL,
    client_kind text NOT NULL,
    owner_id uuid,
    team_id uuid,
    pipeline_id uuid NOT NULL,
    source text,
    product_id uuid,
    product_group text,
    currency text NOT NULL,
    -- The line's total in the deal's currency.
    amount numeric NOT NULL,
    -- Its share of the deal's amount in the workspace currency; the shares of a deal add up to
    -- the deal's amount_base exactly. Null when a foreign-currency deal has no exchange rate.
    amount_base numeric,
    -- True on exactly one line of each deal, so that deals are counted once.
    deal_head boolean NOT NULL,
    -- The deal is its client's first won deal (the earliest closed, then the lowest id).
    first_purchase boolean NOT NULL,
    -- No foreign key to deals: its check would take a share lock on every deal of the client
    -- whose lines are rewritten, and wait for (and deadlock with) a concurrent write holding one of
    -- them while it waits for the client's row. Deals are never deleted outright; the lines follow
    -- their soft deletes.
    PRIMARY KEY (workspace_id, deal_id, line)
);
CREATE INDEX sales_lines_won_idx ON sales_lines (workspace_id, won_on);
CREATE INDEX sales_lines_client_idx ON sales_lines (workspace_id, client_id);

-- The lines of the deals already won.
INSERT INTO sales_lines (workspace_id, deal_id, line, won_on, client_id, client_kind, owner_id, team_id,
                         pipeline_id, source, product_id, product_group, currency, amount, amount_base,
                         deal_head, first_purchase)
SELECT workspace_id, deal_id, line, won_on, client_id, client_kind, owner_id, team_id, pipeline_id, source,
       product_id, product_group, currency, amount,
       CASE WHEN deal_base IS NULL THEN NULL
            WHEN is_last THEN deal_base - (sum(share) OVER (PARTITION BY workspace_id, deal_id) - share)
            ELSE share END,
       deal_head, first_purchase
FROM (
    SELECT d.workspace_id, d.id AS deal_id, line.position AS line,
           (d.closed_at AT TIME ZONE w.timezone)::date AS won_on,
           d.client_id, c.kind AS client_kind, d.owner_id, d.team_id, d.pipeline_id, d.source,
           line.product_id, line.product_group, d.currency, line.amount, d.amount_base AS deal_base,
           round(COALESCE(d.amount_base * line.amount / NULLIF(d.amount, 0), 0), scale(d.amount_base)) AS share,
           row_number() OVER (PARTITION BY d.workspace_id, d.id ORDER BY line.position DESC) = 1 AS is_last,
           row_number() OVER (PARTITION BY d.workspace_id, d.id ORDER BY line.position) = 1 AS deal_head,
           d.first_purchase
    FROM (
        SELECT deals.*,
               row_number() OVER (PARTITION BY workspace_id, client_id ORDER BY closed_at, id) = 1 AS first_purchase
        FROM deals
        WHERE status = 'won' AND deleted_at IS NULL
    ) AS d
    JOIN clients c ON c.workspace_id = d.workspace_id AND c.id = d.client_id
    JOIN workspaces w ON w.id = d.workspace_id
    CROSS JOIN LATERAL (
        SELECT i.position, i.product_id, i.product_group, i.total AS amount
        FROM deal_items i
        WHERE i.workspace_id = d.workspace_id AND i.deal_id = d.id
        UNION ALL
        SELECT 0, NULL::uuid, NULL::text, d.amount
        WHERE NOT EXISTS (SELECT FROM deal_items i WHERE i.workspace_id = d.workspace_id AND i.deal_id = d.id)
    ) AS line
) AS lines;
