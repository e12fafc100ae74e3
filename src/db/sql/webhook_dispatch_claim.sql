-- Takes workspace $1's dispatch position for this transaction, unless another process has it.
SELECT (txid::text)::bigint AS txid, event_id
FROM webhook_dispatch
WHERE workspace_id = $1
FOR UPDATE SKIP LOCKED
