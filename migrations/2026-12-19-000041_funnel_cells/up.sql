-- The funnel's figures per day and per month of the deals' creation, kept by the background job
-- that keeps the other report cells (docs/reports.md, "How the figures are kept"): the funnel read
-- every deal created in its range and their stage history, 5.1 s for a year at 1M clients.
--
-- A cell holds, for one pipeline and one day or calendar month of the workspace's time zone, what
-- the live deals of the pipeline created then add up to now, as JSON (`funnel_cell::Figures`):
-- how many are open, won and lost; how many got how far (their furthest open stage's position, and
-- whether they were ever won or lost); their lost reasons with counts and amounts; and per stage
-- they entered, how many did, how many stays there ended, the seconds of those, and how many ended
-- after each length in tenths of a day, from which a median is exact. A deal's figures count on
-- the day it was created whatever day it moved, so every write to a deal marks its creation day,
-- and a write to a pipeline's stages every creation day of its deals.
CREATE TABLE funnel_cells (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    pipeline_id uuid NOT NULL,
    span text NOT NULL CHECK (span IN ('day', 'month')),
    starts_on date NOT NULL,
    figures jsonb NOT NULL,
    PRIMARY KEY (workspace_id, pipeline_id, span, starts_on)
);

-- Days whose funnel cells no longer match, as `sales_cells_stale` (no unique key, for the same
-- reason).
CREATE TABLE funnel_cells_stale (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    day date NOT NULL
);
CREATE INDEX funnel_cells_stale_day_idx ON funnel_cells_stale (workspace_id, day);

-- Every day a live deal was created on.
INSERT INTO funnel_cells_stale (workspace_id, day)
SELECT DISTINCT d.workspace_id, (d.created_at AT TIME ZONE w.timezone)::date
FROM deals AS d
JOIN workspaces AS w ON w.id = d.workspace_id
WHERE d.deleted_at IS NULL;
