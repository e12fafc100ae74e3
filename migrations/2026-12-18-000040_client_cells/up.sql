-- The clients report's figures per day and per month, kept by the background job that keeps the
-- sales and activity cells (docs/reports.md, "How the figures are kept"): the report's scan read
-- every sales line of the workspace and every client, 15 s at 1M clients.
--
-- A cell holds, for one day or one calendar month of the workspace's time zone, what the live
-- clients did on its days:
-- * `new_clients`: the clients created;
-- * `first_purchases`: the clients whose first purchase ever it was (a client has one such day);
-- * `deals`, `unconverted_deals` and `revenue`: the deals they won, those without an amount in the
--   workspace currency, and the revenue of the rest;
-- * the clients, as Roaring bitmaps of their numbers (`client_numbers`), who bought (`buyers`),
--   bought again (`repeat_buyers`), bought after more than 90 days without (`reactivated`), and
--   whose 90 or 365 days without a purchase ran out (`became_dormant`, `became_lost`): the report's
--   default thresholds; a report with others scans the sales lines.
CREATE TABLE client_cells (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    span text NOT NULL CHECK (span IN ('day', 'month')),
    starts_on date NOT NULL,
    new_clients bigint NOT NULL,
    first_purchases bigint NOT NULL,
    deals bigint NOT NULL,
    unconverted_deals bigint NOT NULL,
    revenue numeric,
    buyers bytea NOT NULL,
    repeat_buyers bytea NOT NULL,
    reactivated bytea NOT NULL,
    became_dormant bytea NOT NULL,
    became_lost bytea NOT NULL,
    -- New with every write of the cell, as the other cells' (decoded sets are kept by it).
    version uuid NOT NULL,
    PRIMARY KEY (workspace_id, span, starts_on)
);

-- Days whose client cells no longer match: marked by every write to sales lines and to clients'
-- lives in its own transaction, as `sales_cells_stale` (no unique key, for the same reason). A
-- change to a client's purchases marks each of its purchase days, and the days 90 and 365 days
-- after each, when its dormancy and loss may run out.
CREATE TABLE client_cells_stale (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    day date NOT NULL
);
CREATE INDEX client_cells_stale_day_idx ON client_cells_stale (workspace_id, day);

-- A client's purchase before a day, and whether one came in a span of days, found in the index.
CREATE INDEX sales_lines_client_day_idx ON sales_lines (workspace_id, client_id, won_on);
DROP INDEX sales_lines_client_idx;

-- Every day a client was created on, bought on, or may have become dormant or lost on.
INSERT INTO client_cells_stale (workspace_id, day)
SELECT DISTINCT c.workspace_id, (c.created_at AT TIME ZONE w.timezone)::date
FROM clients AS c
JOIN workspaces AS w ON w.id = c.workspace_id
WHERE c.deleted_at IS NULL
UNION
SELECT l.workspace_id, l.won_on + shift.days
FROM (SELECT DISTINCT workspace_id, won_on FROM sales_lines) AS l
CROSS JOIN (VALUES (0), (90), (365)) AS shift (days);
