-- The activity report's figures per day and per month, kept by the background job that keeps the
-- sales cells (docs/reports.md, "How the figures are kept"): a month by owner read 200,000
-- activities and 160,000 new deals at 1M clients, 1.3 s alone and 11 s at p99 under load.
--
-- A cell holds, for one day or one calendar month of the workspace's time zone and for all, one
-- person or one team, what its activities and new deals add up to:
-- * `done`: the activities completed on its days, and of them how many of each kind, direction and
--   reason, in the order of the API's lists of them (ActivityKind::ALL, Direction::ALL and
--   ContactReason::ALL: a value added to a list goes last; those without a direction or a reason
--   are the rest of `done`); `done_with_client` those with a client, and `clients` the clients they
--   were with, a Roaring bitmap of their numbers (`client_numbers`);
-- * the activities due on its days and not cancelled (`due`), those of them still planned
--   (`due_planned`: overdue once the day is past) and those done by their due time;
-- * the live deals created on its days, those with a done activity and the seconds from their
--   creation to their first one.
-- A person's cell counts the activities they are assigned and the deals they own; a team's the
-- activities of the people in it when the cell was written and the deals of the team. A person who
-- changes teams marks the days of their cells stale, so that a report by team counts each person's
-- activities for their team as it is now, as the scan over the activities does.
CREATE TABLE activity_cells (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    span text NOT NULL CHECK (span IN ('day', 'month')),
    starts_on date NOT NULL,
    dimension text NOT NULL CHECK (dimension IN ('all', 'person', 'team')),
    -- The person's or team's id; null for the deals nobody owns or of no team, and for `all`.
    value text,
    done bigint NOT NULL,
    done_by_kind bigint[] NOT NULL,
    done_by_direction bigint[] NOT NULL,
    done_by_reason bigint[] NOT NULL,
    done_with_client bigint NOT NULL,
    clients bytea NOT NULL,
    client_count bigint NOT NULL,
    due bigint NOT NULL,
    due_planned bigint NOT NULL,
    due_on_time bigint NOT NULL,
    deals_created bigint NOT NULL,
    deals_touched bigint NOT NULL,
    first_touch_seconds numeric NOT NULL,
    -- New with every write of the cell, as the sales cells' (decoded sets are kept by it).
    version uuid NOT NULL
);
CREATE UNIQUE INDEX activity_cells_key ON activity_cells (workspace_id, dimension, span, starts_on, value) NULLS NOT DISTINCT;

-- Days whose activity cells no longer match: marked by every write to activities and deals in its
-- own transaction, as `sales_cells_stale` (no unique key, for the same reason).
CREATE TABLE activity_cells_stale (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    day date NOT NULL
);
CREATE INDEX activity_cells_stale_day_idx ON activity_cells_stale (workspace_id, day);

-- One job keeps both kinds of cells, under one claim per workspace, and numbers the clients of
-- both: buyers and clients touched alike.
ALTER TABLE sales_cells_refreshes RENAME TO cell_refreshes;
ALTER TABLE cell_refreshes RENAME CONSTRAINT sales_cells_refreshes_pkey TO cell_refreshes_pkey;
ALTER TABLE cell_refreshes RENAME CONSTRAINT sales_cells_refreshes_workspace_id_fkey TO cell_refreshes_workspace_id_fkey;
ALTER TABLE buyer_numbers RENAME TO client_numbers;
-- With the number in the key, a report's day added up from its activities finds its clients' numbers
-- in the index alone (at 1M clients, 2,000 clients of a day in 6 ms instead of 19).
ALTER TABLE client_numbers DROP CONSTRAINT buyer_numbers_pkey,
    ADD CONSTRAINT client_numbers_pkey PRIMARY KEY (workspace_id, client_id) INCLUDE (number);
ALTER TABLE client_numbers RENAME CONSTRAINT buyer_numbers_workspace_id_fkey TO client_numbers_workspace_id_fkey;
ALTER INDEX buyer_numbers_number_key RENAME TO client_numbers_number_key;

-- Every day with an activity done or due, or a deal created: the job fills their cells.
INSERT INTO activity_cells_stale (workspace_id, day)
SELECT DISTINCT a.workspace_id, (moment AT TIME ZONE w.timezone)::date
FROM activities AS a
JOIN workspaces AS w ON w.id = a.workspace_id
CROSS JOIN LATERAL (VALUES (a.completed_at), (a.due_at)) AS moments (moment)
WHERE a.deleted_at IS NULL AND moment IS NOT NULL
UNION
SELECT DISTINCT d.workspace_id, (d.created_at AT TIME ZONE w.timezone)::date
FROM deals AS d
JOIN workspaces AS w ON w.id = d.workspace_id
WHERE d.deleted_at IS NULL;
