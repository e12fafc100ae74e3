-- Claims up to $2 due deliveries of workspace $1 for sending: each is leased for $3 seconds (its
-- next attempt moves that far ahead, so it is not due to anyone else meanwhile; a sender that dies
-- leaves it to be sent again when the lease ends) and its attempt counted. SKIP LOCKED lets several
-- server processes claim at once without taking the same delivery; the claim stays within one
-- workspace, as Citus requires of row locks.
--
-- A record's deliveries to one webhook go in the order of the change log: one waits while an
-- earlier one for the same record is pending (being sent, or waiting to be retried).
WITH due AS (
    SELECT d.workspace_id, d.id
    FROM webhook_deliveries AS d
    JOIN webhooks AS w ON w.workspace_id = d.workspace_id AND w.id = d.webhook_id
    WHERE d.workspace_id = $1
      AND d.status = 'pending'
      AND d.next_attempt_at <= now()
      AND w.active
      AND NOT EXISTS (
          SELECT 1
          FROM webhook_deliveries AS earlier
          WHERE earlier.workspace_id = d.workspace_id
            AND earlier.webhook_id = d.webhook_id
            AND earlier.entity_id = d.entity_id
            AND earlier.status = 'pending'
            AND (earlier.txid, earlier.change_id) < (d.txid, d.change_id)
      )
    ORDER BY d.txid, d.change_id
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries AS d
SET next_attempt_at = now() + make_interval(secs => $3),
    attempts = d.attempts + 1,
    last_attempt_at = now()
FROM due, webhooks AS w
WHERE d.workspace_id = due.workspace_id
  AND d.id = due.id
  AND w.workspace_id = d.workspace_id
  AND w.id = d.webhook_id
-- The previous secret with its end, not only while it lasts: Citus allows no `now()` in RETURNING.
RETURNING d.id, d.webhook_id, d.event_type, d.payload, d.attempts, d.created_at, w.url, w.secret,
          w.previous_secret, w.previous_secret_until
