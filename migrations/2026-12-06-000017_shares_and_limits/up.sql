-- Sharing one client with a user or a team (joint accounts, handovers, a colleague covering a
-- holiday): the share lets them see the client as if it were in their scope. A team share
-- reaches the team's members and the members of the teams under it.
CREATE TABLE client_shares (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    id uuid NOT NULL,
    client_id uuid NOT NULL,
    user_id uuid,
    team_id uuid,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id),
    FOREIGN KEY (workspace_id, team_id) REFERENCES teams (workspace_id, id),
    CHECK ((user_id IS NULL) <> (team_id IS NULL))
);
CREATE UNIQUE INDEX client_shares_user_key ON client_shares (workspace_id, client_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX client_shares_team_key ON client_shares (workspace_id, client_id, team_id) WHERE team_id IS NOT NULL;
-- What every request of a user without `all` visibility asks: the clients shared with them.
CREATE INDEX client_shares_user_idx ON client_shares (workspace_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX client_shares_team_idx ON client_shares (workspace_id, team_id) WHERE team_id IS NOT NULL;

-- Limits on taking the base out. Deletions: how many clients anyone but the owner deletes within
-- an hour. Reads: how many distinct clients a user of each role may read in a day through lists,
-- searches, lookups, segment members and exports; NULL for no limit.
ALTER TABLE workspaces
    ADD COLUMN max_deletions_per_hour integer NOT NULL DEFAULT 50
        CHECK (max_deletions_per_hour BETWEEN 1 AND 1000000),
    ADD COLUMN admin_read_budget integer CHECK (admin_read_budget BETWEEN 1 AND 100000000),
    ADD COLUMN manager_read_budget integer DEFAULT 20000 CHECK (manager_read_budget BETWEEN 1 AND 100000000),
    ADD COLUMN sales_read_budget integer DEFAULT 2000 CHECK (sales_read_budget BETWEEN 1 AND 100000000),
    ADD COLUMN viewer_read_budget integer DEFAULT 2000 CHECK (viewer_read_budget BETWEEN 1 AND 100000000);

-- The clients each user read on a day (in the workspace's time zone), once each, and how many:
-- the count is kept beside the rows so that a request checks its budget without counting them.
-- A user's rows of earlier days are dropped on their first read of a new day.
CREATE TABLE client_reads (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    user_id uuid NOT NULL,
    day date NOT NULL,
    client_id uuid NOT NULL,
    PRIMARY KEY (workspace_id, user_id, day, client_id)
);
CREATE TABLE read_budget_usage (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    user_id uuid NOT NULL,
    day date NOT NULL,
    used integer NOT NULL,
    -- Whether the day's overrun was raised as an alert already: one alert a user a day.
    alerted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (workspace_id, user_id, day)
);

-- The audit trail is append-only: no statement updates, deletes or truncates a change event,
-- whatever the code above it does.
CREATE FUNCTION refuse_change_event_edits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'change events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER change_events_append_only
    BEFORE UPDATE OR DELETE ON change_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change_event_edits();
CREATE TRIGGER change_events_no_truncate
    BEFORE TRUNCATE ON change_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_event_edits();
