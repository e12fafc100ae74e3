-- Indexes for what a caller who sees part of the base reads (`ClientScope`): the records they own,
-- and those of the clients they see.
--
-- The clients a caller sees are looked up by owner with deleted clients included (their deals and
-- activities stay the owner's to see), which the owner index, kept for live clients only, could not
-- serve: every list and report of a sales rep read all 1M clients first, 0.5 s at 1M. The index now
-- holds every client; a list of live ones skips the few deleted ones as it walks it.
DROP INDEX clients_owner_idx;
CREATE INDEX clients_owner_idx ON clients (workspace_id, owner_id, updated_at, id);

-- A report's scan of what a caller sees reads the sales lines of the deals they own by this index,
-- and those of their clients by `sales_lines_client_day_idx`.
CREATE INDEX sales_lines_owner_idx ON sales_lines (workspace_id, owner_id, won_on);
