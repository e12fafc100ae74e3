-- The owner and pipeline of the records $2 of workspace $1 that have them, for webhooks filtered
-- by owner or pipeline: clients, contacts and deals by their owner (a contact without one by its
-- client's), activities by their assignee and their deal's pipeline, deals, stages and pipelines
-- by their pipeline. Deleted records too: their deletion is a change to send.
SELECT id, owner_id, NULL::uuid AS pipeline_id
FROM clients WHERE workspace_id = $1 AND id = ANY($2)
UNION ALL
SELECT contacts.id, coalesce(contacts.owner_id, clients.owner_id), NULL
FROM contacts
JOIN clients ON clients.workspace_id = contacts.workspace_id AND clients.id = contacts.client_id
WHERE contacts.workspace_id = $1 AND contacts.id = ANY($2)
UNION ALL
SELECT id, owner_id, pipeline_id
FROM deals WHERE workspace_id = $1 AND id = ANY($2)
UNION ALL
SELECT activities.id, activities.assignee_id, deals.pipeline_id
FROM activities
LEFT JOIN deals ON deals.workspace_id = activities.workspace_id AND deals.id = activities.deal_id
WHERE activities.workspace_id = $1 AND activities.id = ANY($2)
UNION ALL
SELECT id, NULL, pipeline_id
FROM stages WHERE workspace_id = $1 AND id = ANY($2)
UNION ALL
SELECT id, NULL, id
FROM pipelines WHERE workspace_id = $1 AND id = ANY($2)
