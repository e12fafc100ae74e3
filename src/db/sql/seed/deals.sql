-- About $5 deals per client among clients $3..$4 of workspace $1 (seed $2), in pipeline $6 with
-- open stages $7, won stage $8 and lost stage $9, created over three years with a seasonal peak in
-- November and December, each with one to three line items from the products $10 (prices $11,
-- groups $12, names $14), in currency $13. Deals older than 45 days are won (60%) or lost (38%);
-- recent ones mostly open.
WITH clients_in_batch AS (
    SELECT n, cl.id AS client_id, cl.owner_id
    FROM generate_series($3::bigint, $4::bigint) AS n
    JOIN clients AS cl ON cl.workspace_id = $1 AND cl.id = md5('client' || ':' || $2::text || ':' || n::text)::uuid
), deal_rows AS (
    SELECT c.client_id, c.owner_id, c.n * 100 + k AS dn
    FROM clients_in_batch AS c
    CROSS JOIN LATERAL generate_series(1, (abs(hashint8extended(c.n, $2 * 1000 + 31)) % (2 * $5::bigint + 1))::int) AS k
), dated AS (
    SELECT d.*,
           -- Months drawn with seasonality (December three times as likely as July), over three years.
           make_timestamptz(
               extract(year FROM now())::int - (abs(hashint8extended(dn, $2 * 1000 + 32)) % 3)::int,
               (ARRAY[1,2,3,3,4,5,6,7,8,9,9,10,10,11,11,11,12,12,12])[1 + (abs(hashint8extended(dn, $2 * 1000 + 33)) % 19)],
               1 + (abs(hashint8extended(dn, $2 * 1000 + 34)) % 28)::int, (abs(hashint8extended(dn, $2 * 1000 + 35)) % 24)::int, 0, 0, 'UTC') AS drawn_at
    FROM deal_rows AS d
), placed AS (
    SELECT d.*,
           CASE WHEN drawn_at > now() THEN drawn_at - interval '1 year' ELSE drawn_at END AS created_at
    FROM dated AS d
), decided AS (
    SELECT p.*,
           CASE
               WHEN p.created_at > now() - interval '45 days' THEN
                   CASE WHEN (abs(hashint8extended(dn, $2 * 1000 + 36)) % 10) < 8 THEN 'open' ELSE 'won' END
               -- Older deals are closed but for a few forgotten ones (2%).
               ELSE CASE WHEN (abs(hashint8extended(dn, $2 * 1000 + 36)) % 50) < 30 THEN 'won'
                         WHEN (abs(hashint8extended(dn, $2 * 1000 + 36)) % 50) < 49 THEN 'lost'
                         ELSE 'open' END
           END AS status
    FROM placed AS p
), items AS (
    SELECT d.dn, i,
           1 + (abs(hashint8extended(d.dn * 10 + i, $2 * 1000 + 37)) % (array_length($10::uuid[], 1))) AS product,
           (1 + (abs(hashint8extended(d.dn * 10 + i, $2 * 1000 + 38)) % 10))::numeric AS quantity
    FROM decided AS d
    CROSS JOIN LATERAL generate_series(1, 1 + (abs(hashint8extended(d.dn, $2 * 1000 + 39)) % 3)::int) AS i
), totals AS (
    SELECT dn, sum(quantity * ($11::numeric[])[product]) AS amount FROM items GROUP BY dn
), inserted_deals AS (
    -- Parents first: Citus runs data-modifying CTEs one by one, in order, and checks each
    -- foreign key as it goes.
    INSERT INTO deals (workspace_id, id, title, client_id, pipeline_id, stage_id, status, amount, currency, amount_base,
                       probability, expected_close_date, closed_at, lost_reason, owner_id, tags, search_text,
                       stage_entered_at, version, created_at, updated_at, created_by, updated_by)
    SELECT $1, md5('deal' || ':' || $2::text || ':' || d.dn::text)::uuid,
           (ARRAY['Order','Annual contract','Pilot','Renewal','Bulk purchase','Gift sets'])[1 + abs(hashint8extended(d.dn, $2 * 1000 + 40)) % 6] || ' #' || d.dn,
           d.client_id, $6,
           CASE d.status WHEN 'won' THEN $8 WHEN 'lost' THEN $9
                ELSE ($7::uuid[])[1 + (abs(hashint8extended(d.dn, $2 * 1000 + 41)) % (array_length($7::uuid[], 1)))] END,
           d.status, t.amount, $13, t.amount,
           CASE d.status WHEN 'won' THEN 100 WHEN 'lost' THEN 0 ELSE 10 + 20 * (abs(hashint8extended(d.dn, $2 * 1000 + 42)) % 4)::int END,
           (d.created_at + interval '30 days')::date,
           CASE WHEN d.status <> 'open'
                THEN least(d.created_at + make_interval(days => 3 + (abs(hashint8extended(d.dn, $2 * 1000 + 43)) % 40)::int), now()) END,
           CASE WHEN d.status = 'lost'
                THEN (ARRAY['Price too high','Chose a competitor','No budget','No response','Postponed'])[1 + abs(hashint8extended(d.dn, $2 * 1000 + 44)) % 5] END,
           d.owner_id,
           CASE WHEN (abs(hashint8extended(d.dn, $2 * 1000 + 45)) % 5) = 0 THEN ARRAY['q' || extract(quarter FROM d.created_at)] ELSE '{}' END,
           lower('deal #' || d.dn),
           d.created_at, 1, d.created_at, d.created_at, d.owner_id, d.owner_id
    FROM decided AS d
    JOIN totals AS t ON t.dn = d.dn
    RETURNING id
), inserted_items AS (
    INSERT INTO deal_items (workspace_id, id, deal_id, position, product_id, name, product_group, quantity, unit_price, total)
    SELECT $1, md5('item' || ':' || $2::text || ':' || (i.dn * 10 + i.i)::text)::uuid, md5('deal' || ':' || $2::text || ':' || i.dn::text)::uuid, i.i,
           ($10::uuid[])[i.product], ($14::text[])[i.product], ($12::text[])[i.product], i.quantity,
           ($11::numeric[])[i.product], i.quantity * ($11::numeric[])[i.product]
    FROM items AS i
), history AS (
    INSERT INTO deal_stage_changes (workspace_id, id, deal_id, from_stage_id, to_stage_id, changed_at, changed_by)
    SELECT $1, md5('stage-change' || ':' || $2::text || ':' || d.dn::text)::uuid, md5('deal' || ':' || $2::text || ':' || d.dn::text)::uuid, NULL,
           ($7::uuid[])[1], d.created_at, d.owner_id
    FROM decided AS d
)
-- The new deals, for the board's running totals.
SELECT id FROM inserted_deals
