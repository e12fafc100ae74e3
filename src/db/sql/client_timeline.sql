-- One page of a client's timeline, newest first: its activities, the change events of its deals,
-- of its contacts and of the client record itself. $1: workspace, $2: client; $3, $4, $5, $9:
-- whether to include activities, deals, the client and contacts; $6, $7: the (at, id) the previous
-- page ended at, or NULL; $8: how many rows.
SELECT source, id, at, actor_id, action, changes, deal_id, contact_id
FROM (
    SELECT 'activity' AS source, a.id, COALESCE(a.completed_at, a.created_at) AS at,
           COALESCE(a.created_by, a.assignee_id) AS actor_id, NULL::text AS action, NULL::jsonb AS changes,
           a.deal_id, NULL::uuid AS contact_id
    FROM activities a
    WHERE $3 AND a.workspace_id = $1 AND a.client_id = $2 AND a.deleted_at IS NULL
    UNION ALL
    SELECT 'deal', e.id, e.occurred_at, e.actor_id, e.action, e.changes, e.entity_id, NULL
    FROM change_events e
    JOIN deals d ON d.workspace_id = e.workspace_id AND d.id = e.entity_id
    WHERE $4 AND e.workspace_id = $1 AND e.entity = 'deal' AND d.client_id = $2
    UNION ALL
    SELECT 'contact', e.id, e.occurred_at, e.actor_id, e.action, e.changes, NULL, e.entity_id
    FROM change_events e
    JOIN contacts c ON c.workspace_id = e.workspace_id AND c.id = e.entity_id
    WHERE $9 AND e.workspace_id = $1 AND e.entity = 'contact' AND c.client_id = $2
    UNION ALL
    SELECT 'client', e.id, e.occurred_at, e.actor_id, e.action, e.changes, NULL, NULL
    FROM change_events e
    WHERE $5 AND e.workspace_id = $1 AND e.entity = 'client' AND e.entity_id = $2
) AS feed
WHERE $6::timestamptz IS NULL OR (at, id) < ($6, $7)
ORDER BY at DESC, id DESC
LIMIT $8
