-- About $5 activities per client among clients $3..$4 of workspace $1 (seed $2): every kind, with
-- reasons and outcomes, mostly done over the last three years, some planned for the next month.
WITH clients_in_batch AS (
    SELECT n, cl.id AS client_id, cl.owner_id
    FROM generate_series($3::bigint, $4::bigint) AS n
    JOIN clients AS cl ON cl.workspace_id = $1 AND cl.id = md5('client' || ':' || $2::text || ':' || n::text)::uuid
), rows AS (
    SELECT c.client_id, c.owner_id, c.n * 100 + k AS an,
           (ARRAY['call','call','call','email','email','meeting','message','task','note','visit'])[1 + abs(hashint8extended(c.n * 100 + k, $2 * 1000 + 51)) % 10] AS kind,
           (abs(hashint8extended(c.n * 100 + k, $2 * 1000 + 52)) % 100) < 8 AS planned
    FROM clients_in_batch AS c
    CROSS JOIN LATERAL generate_series(1, (abs(hashint8extended(c.n, $2 * 1000 + 53)) % (2 * $5::bigint + 1))::int) AS k
), timed AS (
    SELECT r.*,
           CASE WHEN planned
                THEN now() + make_interval(hours => 1 + (abs(hashint8extended(an, $2 * 1000 + 54)) % 720)::int)
                ELSE now() - make_interval(days => (abs(hashint8extended(an, $2 * 1000 + 55)) % 1095)::int,
                                           secs => (abs(hashint8extended(an, $2 * 1000 + 56)) % 86400)::int)
           END AS at
    FROM rows AS r
)
INSERT INTO activities (workspace_id, id, kind, direction, channel, reason, subject, outcome, due_at, status,
                        completed_at, duration_seconds, assignee_id, client_id, version, created_at, updated_at,
                        created_by, updated_by)
SELECT $1, md5('activity' || ':' || $2::text || ':' || an::text)::uuid, kind,
       CASE WHEN kind IN ('call', 'email', 'message')
            THEN (ARRAY['outbound','outbound','inbound'])[1 + abs(hashint8extended(an, $2 * 1000 + 57)) % 3] END,
       CASE kind WHEN 'call' THEN 'phone' WHEN 'email' THEN 'email' WHEN 'message' THEN 'messenger'
                 WHEN 'meeting' THEN 'in_person' WHEN 'visit' THEN 'in_person' END,
       (ARRAY['cold_call','company_offer','client_request','order_waiting','follow_up','support','complaint','other'])[1 + abs(hashint8extended(an, $2 * 1000 + 58)) % 8],
       CASE kind WHEN 'call' THEN 'Call about the order' WHEN 'email' THEN 'Price list sent'
                 WHEN 'meeting' THEN 'Meeting at the office' WHEN 'message' THEN 'Messenger chat'
                 WHEN 'task' THEN 'Prepare the offer' WHEN 'note' THEN 'Note' ELSE 'Visit to the shop' END,
       CASE WHEN NOT planned
            THEN (ARRAY['Agreed to a new order','Asked to call back next week','Sent the offer',
                                    'Not interested now','Complaint resolved','Will pay the invoice on Friday'])[1 + abs(hashint8extended(an, $2 * 1000 + 59)) % 6] END,
       CASE WHEN planned OR kind = 'task' THEN at END,
       CASE WHEN planned THEN 'planned' ELSE 'done' END,
       CASE WHEN NOT planned THEN at END,
       CASE WHEN kind IN ('call', 'meeting', 'visit') AND NOT planned
            THEN 60 + (abs(hashint8extended(an, $2 * 1000 + 60)) % 3600)::int END,
       owner_id, client_id, 1,
       CASE WHEN planned THEN now() - interval '1 day' ELSE at END,
       CASE WHEN planned THEN now() - interval '1 day' ELSE at END,
       owner_id, owner_id
FROM timed
