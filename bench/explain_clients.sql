-- Seeds 200,000 clients and 100,000 contacts into one workspace (plus 50,000 clients in another)
-- and prints the plans of the list, lookup and search queries the API runs, so a reviewer can
-- check that each is index-backed. Run against a migrated, throwaway database:
--   psql "$DATABASE_URL" -f bench/explain_clients.sql
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO workspaces (id, name) VALUES
    ('00000000-0000-7000-8000-000000000001', 'Big'),
    ('00000000-0000-7000-8000-000000000002', 'Other');
INSERT INTO users (workspace_id, id, email, full_name, role, password_hash) VALUES
    ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000a1', 'o@big.test', 'Owner', 'owner', 'x'),
    ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-0000000000a2', 'o@other.test', 'Owner', 'owner', 'x');

WITH names (last_names, first_names) AS (
    SELECT ARRAY['Иванов','Петров','Сидоров','Smith','Johnson','Kuznetsov','Popov','Sokolov','Lebedev','Novikov'],
           ARRAY['Иван','Пётр','Анна','John','Mary','Olga','Sergey','Elena','Dmitry','Kate']
)
INSERT INTO clients (workspace_id, id, kind, display_name, last_name, first_name, name, tax_id, relationship,
                     lifecycle_stage, source, owner_id, emails, phones, email_keys, phone_keys, tags, search_text,
                     created_at, updated_at)
SELECT CASE WHEN n <= 200000 THEN '00000000-0000-7000-8000-000000000001'::uuid ELSE '00000000-0000-7000-8000-000000000002'::uuid END,
       gen_random_uuid(),
       CASE WHEN n % 5 = 0 THEN 'company' ELSE 'person' END,
       CASE WHEN n % 5 = 0 THEN 'Company ' || n ELSE last_names[1 + n % 10] || ' ' || first_names[1 + (n / 10) % 10] || ' ' || n END,
       CASE WHEN n % 5 = 0 THEN NULL ELSE last_names[1 + n % 10] END,
       CASE WHEN n % 5 = 0 THEN NULL ELSE first_names[1 + (n / 10) % 10] END,
       CASE WHEN n % 5 = 0 THEN 'Company ' || n END,
       CASE WHEN n % 5 = 0 THEN (7700000000 + n)::text END,
       (ARRAY['customer','prospect','supplier','partner','other'])[1 + n % 5],
       (ARRAY['lead','prospect','customer','loyal','churned'])[1 + n % 5],
       (ARRAY['website','pos','mobile_app','event','phone'])[1 + n % 5],
       CASE WHEN n <= 200000 THEN '00000000-0000-7000-8000-0000000000a1'::uuid ELSE '00000000-0000-7000-8000-0000000000a2'::uuid END,
       jsonb_build_array(jsonb_build_object('value', 'client' || n || '@example.com', 'primary', true)),
       jsonb_build_array(jsonb_build_object('value', '+7912' || lpad(n::text, 7, '0'), 'primary', true)),
       ARRAY['client' || n || '@example.com'],
       ARRAY['+7912' || lpad(n::text, 7, '0')],
       CASE WHEN n % 100 = 0 THEN ARRAY['vip'] ELSE '{}' END,
       lower(CASE WHEN n % 5 = 0 THEN 'Company ' || n ELSE last_names[1 + n % 10] || ' ' || first_names[1 + (n / 10) % 10] || ' ' || n END)
           || ' client' || n || '@example.com +7912' || lpad(n::text, 7, '0'),
       now() - n * interval '1 minute', now() - (n % 9973) * interval '1 minute'
FROM names, generate_series(1, 250000) n;

INSERT INTO contacts (workspace_id, id, client_id, display_name, first_name, email_keys, phone_keys, search_text, created_at, updated_at)
SELECT workspace_id, gen_random_uuid(), id, 'Contact of ' || display_name, 'Contact', ARRAY['c.' || email_keys[1]], '{}'::text[],
       'contact of ' || search_text, created_at, updated_at
FROM clients WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND kind = 'company'
UNION ALL
SELECT workspace_id, gen_random_uuid(), id, 'Deputy of ' || display_name, 'Deputy', '{}'::text[], '{}'::text[], 'deputy of ' || search_text, created_at, updated_at
FROM clients WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND kind = 'company';
COMMIT;
ANALYZE clients;
ANALYZE contacts;

\echo '--- default list: newest changes first'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
ORDER BY updated_at DESC, id DESC LIMIT 51;

\echo '--- a later page by display name'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
  AND (display_name, id) > ('Petrov', '00000000-0000-0000-0000-000000000000')
ORDER BY display_name, id LIMIT 51;

\echo '--- lookup by email'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
  AND email_keys @> ARRAY['client4242@example.com']
ORDER BY (updated_at + interval '0 seconds') DESC, id DESC LIMIT 51;

\echo '--- lookup by phone'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
  AND phone_keys @> ARRAY['+79120004242']
ORDER BY (updated_at + interval '0 seconds') DESC, id DESC LIMIT 51;

\echo '--- lookup by tax id'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL AND tax_id = '7700004240'
ORDER BY updated_at DESC, id DESC LIMIT 51;

\echo '--- duplicate check on create'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
  AND (email_keys && ARRAY['client4242@example.com'] OR phone_keys && ARRAY['+79120004242'] OR tax_id = '7700004240');

\echo '--- a rare tag'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL AND tags @> ARRAY['vip']
ORDER BY updated_at DESC, id DESC LIMIT 51;

\echo '--- fuzzy search with a typo (Cyrillic)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
  AND (search_text ILIKE '%сидрв 4242%' OR 'сидрв 4242' <% search_text)
ORDER BY word_similarity('сидрв 4242', search_text) DESC, id LIMIT 51;

\echo '--- fuzzy search by a phone fragment'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id FROM clients
WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND deleted_at IS NULL
  AND (search_text ILIKE '%9120004242%' OR '9120004242' <% search_text)
ORDER BY word_similarity('9120004242', search_text) DESC, id LIMIT 51;

\echo '--- a client card: its contacts'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT c.id FROM contacts c
WHERE c.workspace_id = '00000000-0000-7000-8000-000000000001' AND c.deleted_at IS NULL
  AND c.client_id = (SELECT id FROM clients WHERE workspace_id = '00000000-0000-7000-8000-000000000001' AND kind = 'company' LIMIT 1)
ORDER BY c.updated_at DESC, c.id DESC LIMIT 51;
