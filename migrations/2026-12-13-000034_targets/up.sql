-- Plans: a revenue or deal-count target for the workspace, a team or a user, for one month or one
-- quarter. The sales and forecast reports set what was won beside them (docs/reports.md). Amounts
-- are in the workspace currency, as the reports' converted figures are.
CREATE TABLE targets (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    -- Whose target: a user's, a team's, or (neither) the workspace's.
    user_id uuid,
    team_id uuid,
    period_interval text NOT NULL CHECK (period_interval IN ('month', 'quarter')),
    -- The first day of the month or quarter.
    period_start date NOT NULL,
    revenue numeric CHECK (revenue >= 0 AND revenue < 1e15),
    deals integer CHECK (deals >= 0),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id),
    FOREIGN KEY (workspace_id, team_id) REFERENCES teams (workspace_id, id),
    CHECK (user_id IS NULL OR team_id IS NULL),
    CHECK (revenue IS NOT NULL OR deals IS NOT NULL),
    CHECK (
        extract(day FROM period_start) = 1
        AND (period_interval = 'month' OR extract(month FROM period_start) IN (1, 4, 7, 10))
    )
);

-- One target per subject and period; a report reads a workspace's targets by period.
CREATE UNIQUE INDEX targets_subject_period_key
    ON targets (workspace_id, period_start, period_interval, user_id, team_id) NULLS NOT DISTINCT;
CREATE INDEX targets_by_change_idx ON targets (workspace_id, updated_at, id);
