-- The sales report's figures per day and per month, kept by a background job so that a report over
-- years reads a few hundred rows instead of millions of sales lines (docs/reports.md, "How the
-- figures are kept"). A cell holds, for one day or one calendar month and one value of one
-- grouping (or `all` lines), what the lines of that span add up to, and the set of buyers as a
-- Roaring bitmap of their numbers: distinct buyers over any range are the size of a union, exact.
CREATE TABLE sales_cells (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    span text NOT NULL CHECK (span IN ('day', 'month')),
    -- The day, or the month's first day, in the workspace's time zone.
    starts_on date NOT NULL,
    -- `all`, or the grouping the value is of (owner, team, product_group, product, pipeline,
    -- source, client_kind).
    dimension text NOT NULL,
    -- The group's key as the report shows it; null for lines without one (a deal without a team).
    value text,
    deals bigint NOT NULL,
    revenue numeric,
    unconverted_deals bigint NOT NULL,
    first_time_buyers bigint NOT NULL,
    buyer_count bigint NOT NULL,
    buyers bytea NOT NULL,
    -- New with every write of the cell: a process that decoded `buyers` keeps them by it and reads
    -- them again only when the cell was written again.
    version uuid NOT NULL
);
CREATE UNIQUE INDEX sales_cells_key ON sales_cells (workspace_id, dimension, span, starts_on, value) NULLS NOT DISTINCT;

-- Days whose cells no longer match their sales lines: marked by every write to the sales lines in
-- its own transaction, cleared by the job that writes the day's cells again. Until then reports add
-- up those days from the lines themselves, so they are never stale. No unique key: a day is marked
-- as often as it is written, so that a write never waits for another one marking the same day
-- (two batches marking today in turn while each waits for a client the other holds would deadlock).
CREATE TABLE sales_cells_stale (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    day date NOT NULL
);
CREATE INDEX sales_cells_stale_day_idx ON sales_cells_stale (workspace_id, day);

-- The job's claim on a workspace (one process at a time writes a workspace's cells), and when it
-- last did.
CREATE TABLE sales_cells_refreshes (
    workspace_id uuid PRIMARY KEY REFERENCES workspaces (id),
    refreshed_at timestamptz
);

-- Small numbers for buyers, the members of the cells' bitmaps: given by the job in order of the
-- client's id when a client first appears in a cell, never reused.
CREATE TABLE buyer_numbers (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    client_id uuid NOT NULL,
    number integer NOT NULL,
    PRIMARY KEY (workspace_id, client_id)
);
CREATE UNIQUE INDEX buyer_numbers_number_key ON buyer_numbers (workspace_id, number);

INSERT INTO sales_cells_refreshes (workspace_id) SELECT id FROM workspaces;

-- Every day that has sales lines yet: the job fills their cells.
INSERT INTO sales_cells_stale (workspace_id, day)
SELECT DISTINCT workspace_id, won_on FROM sales_lines;
