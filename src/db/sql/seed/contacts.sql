-- Two to four contacts for each company among clients $3..$4 of workspace $1 (seed $2).
INSERT INTO contacts (workspace_id, id, client_id, display_name, last_name, first_name, position, emails, phones,
                      email_keys, phone_keys, is_primary, owner_id, search_text, created_at, updated_at)
SELECT $1, md5('contact' || ':' || $2::text || ':' || (c.n * 10 + k)::text)::uuid, c.id,
       names.last_name || ' ' || names.first_name, names.last_name, names.first_name,
       (ARRAY['Director','Chief accountant','Buyer','Sales manager','Office manager','Lawyer'])[1 + abs(hashint8extended(c.n * 10 + k, $2 * 1000 + 21)) % 6],
       jsonb_build_array(jsonb_build_object('value', 'contact' || c.n || '-' || k || '@corp.example', 'primary', true)),
       jsonb_build_array(jsonb_build_object('value', '+78' || lpad(((c.n * 10 + k) * 7919 % 1000000000)::text, 9, '0'), 'primary', true)),
       ARRAY['contact' || c.n || '-' || k || '@corp.example'],
       ARRAY['+78' || lpad(((c.n * 10 + k) * 7919 % 1000000000)::text, 9, '0')],
       k = 1, c.owner_id,
       lower(names.last_name || ' ' || names.first_name || ' contact' || c.n || '-' || k || '@corp.example'),
       c.created_at, c.created_at
FROM (
    SELECT n, md5('client' || ':' || $2::text || ':' || n::text)::uuid AS id, cl.owner_id, cl.created_at
    FROM generate_series($3::bigint, $4::bigint) AS n
    JOIN clients AS cl ON cl.workspace_id = $1 AND cl.id = md5('client' || ':' || $2::text || ':' || n::text)::uuid
    WHERE cl.kind = 'company'
) AS c
CROSS JOIN LATERAL generate_series(1, 2 + (abs(hashint8extended(c.n, $2 * 1000 + 22)) % 3)::int) AS k
CROSS JOIN LATERAL (
    SELECT (ARRAY['Петрова','Соколова','Орлова','Белова','Смирнова','Kovacs','Green','Baker'])[1 + abs(hashint8extended(c.n * 10 + k, $2 * 1000 + 23)) % 8] AS last_name,
           (ARRAY['Анна','Ольга','Ирина','Мария','Елена','Kate','Laura','Nina'])[1 + abs(hashint8extended(c.n * 10 + k, $2 * 1000 + 24)) % 8] AS first_name
) AS names
