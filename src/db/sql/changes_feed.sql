-- One page of a workspace's changes feed ($1): the events of entities $4 after the position
-- ($2 transaction id as text, $3 event id), oldest first, at most $5.
--
-- Only events of transactions below the horizon $6 (changes_horizon.sql, read by an earlier
-- statement): every such transaction has ended, so no event can later appear before the last one
-- returned, and a reader that follows the positions sees each committed event once. A transaction
-- that runs long holds the feed back until it ends; it never makes it skip.
SELECT (txid::text)::bigint AS txid, id, entity, entity_id, action, version, actor_id, request_id,
       changes, occurred_at
FROM change_events
WHERE workspace_id = $1
  AND (txid, id) > ($2::xid8, $3)
  AND txid < $6::xid8
  AND entity = ANY($4)
-- Qualified: a bare `txid` here would be the bigint output column, which no index has in order.
ORDER BY change_events.txid, change_events.id
LIMIT $5
