-- The changes feed reads the log in an order no later commit can add to (docs/changes.md): each
-- event carries the id of the transaction that wrote it (a subtransaction's savepoint writes under
-- its top-level transaction's id), and the feed returns only the events of transactions older than
-- the oldest one still running. Events before this migration all take its transaction's id, and
-- keep their order among themselves by event id.
ALTER TABLE change_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX change_events_feed_idx ON change_events (workspace_id, txid, id);
