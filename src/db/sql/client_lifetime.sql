-- The basis of the lifetime value estimate (GET /reports/clients), after the `params` and `seen`
-- CTEs that `client_dynamics::prefix` writes: the purchases of the clients seen in the 365 days
-- ending on the range's last day, and in the 365 days before those, and how many of the earlier
-- year's buyers bought again in the later one.
days AS (
    SELECT l.client_id, l.won_on, l.deal_id, bool_or(l.amount_base IS NULL) AS unconverted,
           sum(l.amount_base) AS revenue
    FROM sales_lines AS l, params AS p
    WHERE l.workspace_id = p.workspace_id AND l.won_on > p.to_day - 730 AND l.won_on <= p.to_day
      AND l.client_id IN (SELECT seen.id FROM seen)
    GROUP BY l.client_id, l.won_on, l.deal_id
),
last_year AS (
    SELECT d.* FROM days AS d, params AS p WHERE d.won_on > p.to_day - 365
),
year_before AS (
    SELECT d.* FROM days AS d, params AS p WHERE d.won_on <= p.to_day - 365
)
SELECT (SELECT count(*) FROM last_year) AS deals,
       (SELECT count(*) FROM last_year WHERE NOT unconverted) AS priced_deals,
       (SELECT sum(revenue) FROM last_year) AS revenue,
       (SELECT count(DISTINCT client_id) FROM last_year) AS buyers,
       (SELECT count(DISTINCT client_id) FROM year_before) AS earlier_buyers,
       (SELECT count(DISTINCT client_id) FROM year_before
         WHERE client_id IN (SELECT client_id FROM last_year)) AS retained_buyers
