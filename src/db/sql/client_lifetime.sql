-- The basis of the lifetime value estimate (GET /reports/clients), after the `params` and `seen`
-- CTEs that `client_dynamics::prefix` writes: the purchases of the clients seen in the 365 days
-- ending on the range's last day, and which of them bought in the 365 days before those. One row
-- per client, then the sums: a deal is counted by its first line (`deal_head`).
per_client AS (
    SELECT count(*) FILTER (WHERE l.deal_head AND l.won_on > p.to_day - 365) AS deals,
           count(*) FILTER (WHERE l.deal_head AND l.amount_base IS NOT NULL AND l.won_on > p.to_day - 365)
               AS priced_deals,
           sum(l.amount_base) FILTER (WHERE l.won_on > p.to_day - 365) AS revenue,
           bool_or(l.won_on > p.to_day - 365) AS bought_last_year,
           bool_or(l.won_on <= p.to_day - 365) AS bought_year_before
    FROM sales_lines AS l
    JOIN seen AS s ON s.id = l.client_id
    JOIN params AS p ON l.workspace_id = p.workspace_id AND l.won_on > p.to_day - 730 AND l.won_on <= p.to_day
    GROUP BY l.client_id
)
SELECT coalesce(sum(c.deals), 0)::bigint AS deals, coalesce(sum(c.priced_deals), 0)::bigint AS priced_deals,
       sum(c.revenue) AS revenue,
       count(*) FILTER (WHERE c.bought_last_year) AS buyers,
       count(*) FILTER (WHERE c.bought_year_before) AS earlier_buyers,
       count(*) FILTER (WHERE c.bought_year_before AND c.bought_last_year) AS retained_buyers
FROM per_client AS c
