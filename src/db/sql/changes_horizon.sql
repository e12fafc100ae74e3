-- The changes feed's horizon: the id of the oldest transaction still running in this database
-- (or, with none, the first id not yet handed out). Every transaction of this database with a
-- smaller id has ended, so a later statement sees all of their changes, and no change can be
-- added below it. Run it as a statement of its own before reading the feed (see
-- changes_feed.sql): the read's snapshot must be newer than this.
--
-- Not pg_snapshot_xmin(pg_current_snapshot()): transaction ids are server-wide, and that horizon
-- waits for the long transactions of every database on the server.
--
-- pg_stat_activity and pg_prepared_xacts give 32-bit ids; each becomes a 64-bit one by its
-- distance behind the first unassigned id. An id at or after that one (a transaction that started
-- after the snapshot) doesn't hold the horizon back.
WITH now AS (
    SELECT (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint AS next_xid
), running AS (
    SELECT ((now.next_xid % 4294967296) - (ids.xid::text)::bigint + 4294967296) % 4294967296 AS behind
    FROM now, (
        SELECT backend_xid AS xid FROM pg_stat_activity
        WHERE datname = current_database() AND backend_xid IS NOT NULL
        UNION ALL
        SELECT transaction FROM pg_prepared_xacts WHERE database = current_database()
    ) AS ids
)
SELECT now.next_xid - coalesce((SELECT max(behind) FROM running WHERE behind BETWEEN 1 AND 2147483647), 0)
       AS horizon
FROM now
