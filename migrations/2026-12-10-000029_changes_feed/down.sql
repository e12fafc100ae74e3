DROP INDEX change_events_feed_idx;
ALTER TABLE change_events DROP COLUMN txid;
