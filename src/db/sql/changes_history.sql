-- Every change of the records ($2 kinds, $3 ids, pairwise) of workspace $1 before the position ($4
-- transaction id as text, $5 event id: a feed page's first), in the order of the changes feed:
-- what the records are folded from, with the page's own, to give each change of the page the
-- record as it was after it.
SELECT (txid::text)::bigint AS txid, id, entity, entity_id, action, changes
FROM change_events
WHERE workspace_id = $1
  AND (entity, entity_id) IN (SELECT * FROM unnest($2::text[], $3::uuid[]))
  AND (txid, id) < ($4::xid8, $5)
ORDER BY change_events.txid, change_events.id
