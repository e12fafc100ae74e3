-- The base's dynamics (GET /reports/clients), after the `params` and `seen` CTEs that
-- `client_dynamics::prefix` writes: `params` holds the workspace, the range, today, the dormancy
-- and loss thresholds and the period unit; `seen` the live clients the caller sees, with the day
-- each was created in the workspace's time zone.
--
-- Every client's purchase days come from its sales lines (one row per line of each live won deal),
-- each with the purchase day before and after it. A day is one event of each kind it is: a
-- client's first purchase, a repeat, a return after more than the dormancy threshold, and the days
-- the threshold and the loss threshold run out after it when no purchase came in between. Events
-- before the range are tallied apart (`before`) for the figures that add up over the base's life.
days AS (
    SELECT l.client_id, l.won_on, count(DISTINCT l.deal_id) AS deals,
           count(DISTINCT l.deal_id) FILTER (WHERE l.amount_base IS NULL) AS unconverted,
           sum(l.amount_base) AS revenue
    FROM sales_lines AS l, params AS p
    WHERE l.workspace_id = p.workspace_id AND l.won_on <= p.to_day
      AND l.client_id IN (SELECT seen.id FROM seen)
    GROUP BY l.client_id, l.won_on
),
purchases AS (
    SELECT d.client_id, d.won_on, d.deals, d.unconverted, d.revenue,
           lag(d.won_on) OVER client_days AS previous_on, lead(d.won_on) OVER client_days AS next_on
    FROM days AS d
    WINDOW client_days AS (PARTITION BY d.client_id ORDER BY d.won_on)
),
events AS (
    SELECT 'new' AS kind, s.created_on AS day, s.id AS client_id, 0::bigint AS deals,
           0::bigint AS unconverted, NULL::numeric AS revenue
    FROM seen AS s
    UNION ALL
    SELECT 'buyer', u.won_on, u.client_id, u.deals, u.unconverted, u.revenue FROM purchases AS u
    UNION ALL
    SELECT CASE WHEN u.previous_on IS NULL THEN 'first' ELSE 'repeat' END, u.won_on, u.client_id, 0, 0, NULL
    FROM purchases AS u
    UNION ALL
    SELECT 'reactivated', u.won_on, u.client_id, 0, 0, NULL
    FROM purchases AS u, params AS p
    WHERE u.won_on - u.previous_on > p.dormant_days
    UNION ALL
    SELECT threshold.kind, u.won_on + threshold.days, u.client_id, 0, 0, NULL
    FROM purchases AS u, params AS p,
         LATERAL (VALUES ('dormant', p.dormant_days), ('lost', p.lost_days)) AS threshold (kind, days)
    WHERE u.next_on IS NULL OR u.next_on > u.won_on + threshold.days
)
SELECT t.kind, t.before, t.period, GROUPING(t.period) = 1 AS whole_range,
       count(DISTINCT t.client_id) AS clients, sum(t.deals)::bigint AS deals,
       sum(t.unconverted)::bigint AS unconverted_deals, sum(t.revenue) AS revenue
FROM (
    SELECT e.kind, e.day < p.from_day AS before, e.client_id, e.deals, e.unconverted, e.revenue,
           CASE WHEN e.day < p.from_day THEN NULL
                ELSE GREATEST(date_trunc(p.unit, e.day::timestamp)::date, p.from_day) END AS period
    FROM events AS e, params AS p
    WHERE e.day <= LEAST(p.to_day, p.today)
) AS t
GROUP BY GROUPING SETS ((t.kind, t.before, t.period), (t.kind, t.before))
