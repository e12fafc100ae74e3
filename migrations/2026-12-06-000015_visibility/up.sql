-- Who sees which clients. Each role but the owner's has a scope in the workspace's settings (the
-- owner always sees every client), and a user may have one of their own that overrides it:
--   own:  the clients the user owns;
--   team: the clients owned by anyone in the user's team or the teams under it;
--   all:  every client of the workspace.
ALTER TABLE workspaces
    ADD COLUMN admin_visibility text NOT NULL DEFAULT 'all' CHECK (admin_visibility IN ('own', 'team', 'all')),
    ADD COLUMN manager_visibility text NOT NULL DEFAULT 'team' CHECK (manager_visibility IN ('own', 'team', 'all')),
    ADD COLUMN sales_visibility text NOT NULL DEFAULT 'own' CHECK (sales_visibility IN ('own', 'team', 'all')),
    ADD COLUMN viewer_visibility text NOT NULL DEFAULT 'team' CHECK (viewer_visibility IN ('own', 'team', 'all'));

ALTER TABLE users ADD COLUMN visibility text CHECK (visibility IN ('own', 'team', 'all'));

-- A team's members, for the owners a team scope sees.
CREATE INDEX users_team_idx ON users (workspace_id, team_id) WHERE team_id IS NOT NULL;
