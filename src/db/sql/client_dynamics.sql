-- The base's dynamics (GET /reports/clients), after the `params` and `seen` CTEs that
-- `client_dynamics::prefix` writes: `params` holds the workspace, the range, today, the dormancy
-- and loss thresholds and the period unit; `seen` the live clients the caller sees, with the day
-- each was created in the workspace's time zone.
--
-- Every client's purchase days come from its sales lines (one row per line of each live won deal),
-- each with the purchase day before and after it. A day in the range is one event of each kind it
-- is: a purchase, the client's first or a repeat, a return after more than the dormancy threshold;
-- and the days the dormancy and loss thresholds run out after a purchase, when no purchase came in
-- between, are events of their own. Only the figures that add up over the base's life (clients,
-- customers, revenue) are tallied before the range, with plain counts and sums.
days AS (
    -- A join rather than `IN (SELECT … FROM seen)`: PostgreSQL knows how many clients `seen` holds,
    -- but not how many distinct ones, and would look the lines up client by client.
    SELECT l.client_id, l.won_on, count(*) FILTER (WHERE l.deal_head) AS deals,
           count(*) FILTER (WHERE l.deal_head AND l.amount_base IS NULL) AS unconverted,
           sum(l.amount_base) AS revenue
    FROM sales_lines AS l
    JOIN seen AS s ON s.id = l.client_id
    JOIN params AS p ON l.workspace_id = p.workspace_id AND l.won_on <= p.to_day
    GROUP BY l.client_id, l.won_on
),
purchases AS (
    SELECT d.client_id, d.won_on, d.deals, d.unconverted, d.revenue,
           lag(d.won_on) OVER client_days AS previous_on, lead(d.won_on) OVER client_days AS next_on
    FROM days AS d
    WINDOW client_days AS (PARTITION BY d.client_id ORDER BY d.won_on)
),
-- The purchases whose events can fall in the range: those in it, and those whose thresholds may
-- run out in it.
recent AS (
    SELECT u.* FROM purchases AS u, params AS p WHERE u.won_on >= p.from_day - p.lost_days
),
-- Each buyer once per period, with what their purchases in it were.
bought AS (
    SELECT GREATEST(date_trunc(p.unit, u.won_on::timestamp)::date, p.from_day) AS period, u.client_id,
           sum(u.deals) AS deals, sum(u.unconverted) AS unconverted, sum(u.revenue) AS revenue,
           bool_or(u.previous_on IS NULL) AS first, bool_or(u.previous_on IS NOT NULL) AS again,
           bool_or(u.won_on - u.previous_on > p.dormant_days) AS returned
    FROM recent AS u, params AS p
    WHERE u.won_on BETWEEN p.from_day AND LEAST(p.to_day, p.today)
    GROUP BY 1, 2
),
-- Each client once per period in which their dormancy or loss threshold ran out.
lapsed AS (
    SELECT threshold.kind, GREATEST(date_trunc(p.unit, (u.won_on + threshold.days)::timestamp)::date, p.from_day)
           AS period, u.client_id
    FROM recent AS u, params AS p,
         LATERAL (VALUES ('dormant', p.dormant_days), ('lost', p.lost_days)) AS threshold (kind, days)
    WHERE u.won_on + threshold.days BETWEEN p.from_day AND LEAST(p.to_day, p.today)
      AND (u.next_on IS NULL OR u.next_on > u.won_on + threshold.days)
    GROUP BY 1, 2, 3
),
-- The buyers' figures per period, and over the range (a client once, whichever periods they bought in).
buying AS (
    SELECT b.period, count(*) AS buyers, count(*) FILTER (WHERE b.first) AS firsts,
           count(*) FILTER (WHERE b.again) AS repeats, count(*) FILTER (WHERE b.returned) AS returns,
           sum(b.deals) AS deals, sum(b.unconverted) AS unconverted, sum(b.revenue) AS revenue
    FROM bought AS b
    GROUP BY b.period
    UNION ALL
    SELECT NULL, count(*), count(*) FILTER (WHERE c.first), count(*) FILTER (WHERE c.again),
           count(*) FILTER (WHERE c.returned), sum(c.deals), sum(c.unconverted), sum(c.revenue)
    FROM (
        SELECT b.client_id, bool_or(b.first) AS first, bool_or(b.again) AS again, bool_or(b.returned) AS returned,
               sum(b.deals) AS deals, sum(b.unconverted) AS unconverted, sum(b.revenue) AS revenue
        FROM bought AS b
        GROUP BY b.client_id
    ) AS c
)
SELECT kind.name AS kind, false AS before, b.period, b.period IS NULL AS whole_range, kind.clients,
       CASE WHEN kind.name = 'buyer' THEN coalesce(b.deals, 0) ELSE 0 END::bigint AS deals,
       CASE WHEN kind.name = 'buyer' THEN coalesce(b.unconverted, 0) ELSE 0 END::bigint AS unconverted_deals,
       CASE WHEN kind.name = 'buyer' THEN b.revenue END AS revenue
FROM buying AS b,
     LATERAL (VALUES ('buyer', b.buyers), ('first', b.firsts), ('repeat', b.repeats), ('reactivated', b.returns))
         AS kind (name, clients)
UNION ALL
SELECT l.kind, false, l.period, false, count(*), 0, 0, NULL FROM lapsed AS l GROUP BY l.kind, l.period
UNION ALL
SELECT l.kind, false, NULL, true, count(DISTINCT l.client_id), 0, 0, NULL FROM lapsed AS l GROUP BY l.kind
UNION ALL
SELECT 'new', false, GREATEST(date_trunc(p.unit, s.created_on::timestamp)::date, p.from_day), false, count(*), 0, 0, NULL
FROM seen AS s, params AS p WHERE s.created_on BETWEEN p.from_day AND LEAST(p.to_day, p.today) GROUP BY 3
UNION ALL
SELECT 'new', false, NULL, true, count(*), 0, 0, NULL
FROM seen AS s, params AS p WHERE s.created_on BETWEEN p.from_day AND LEAST(p.to_day, p.today)
UNION ALL
SELECT 'new', true, NULL, true, count(*), 0, 0, NULL
FROM seen AS s, params AS p WHERE s.created_on < p.from_day
UNION ALL
SELECT 'first', true, NULL, true, count(*), 0, 0, NULL
FROM purchases AS u, params AS p WHERE u.previous_on IS NULL AND u.won_on < p.from_day
UNION ALL
SELECT 'buyer', true, NULL, true, 0, coalesce(sum(d.deals), 0)::bigint, coalesce(sum(d.unconverted), 0)::bigint,
       sum(d.revenue)
FROM days AS d, params AS p WHERE d.won_on < p.from_day
