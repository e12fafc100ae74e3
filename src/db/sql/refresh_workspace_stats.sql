-- The periodic part of the client stats, for one workspace ($1): re-ages the activity counts of
-- the last 30 and 90 days, and scores every client who bought 1 to 5 on recency, frequency and
-- monetary value (quintiles within the workspace by cume_dist, so equal values share a score),
-- with the standard RFM class of its recency and frequency scores. Only rows whose values change
-- are written. Returns the number of clients scored.
WITH recent_activity AS (
    SELECT client_id,
           count(*) FILTER (WHERE completed_at >= now() - interval '30 days') AS last_30d,
           count(*) AS last_90d
    FROM activities
    WHERE workspace_id = $1 AND deleted_at IS NULL AND status = 'done' AND client_id IS NOT NULL
      AND completed_at >= now() - interval '90 days'
    GROUP BY client_id
),
scores AS (
    SELECT id,
           ceil(cume_dist() OVER (ORDER BY stats_last_purchase_at) * 5)::smallint AS recency,
           ceil(cume_dist() OVER (ORDER BY stats_won_count) * 5)::smallint AS frequency,
           ceil(cume_dist() OVER (ORDER BY stats_won_amount) * 5)::smallint AS monetary
    FROM clients
    WHERE workspace_id = $1 AND deleted_at IS NULL AND stats_won_count > 0
),
fresh AS (
    SELECT c.id,
           COALESCE(a.last_30d, 0)::integer AS last_30d,
           COALESCE(a.last_90d, 0)::integer AS last_90d,
           s.recency, s.frequency, s.monetary,
           CASE
               WHEN s.recency IS NULL THEN NULL
               WHEN s.recency = 5 AND s.frequency >= 4 THEN 'champions'
               WHEN s.recency >= 3 AND s.frequency >= 4 THEN 'loyal'
               WHEN s.recency <= 2 AND s.frequency = 5 THEN 'cant_lose'
               WHEN s.recency <= 2 AND s.frequency >= 3 THEN 'at_risk'
               WHEN s.recency <= 2 THEN 'hibernating'
               WHEN s.recency = 3 AND s.frequency <= 2 THEN 'about_to_sleep'
               WHEN s.recency = 3 THEN 'need_attention'
               WHEN s.recency = 4 AND s.frequency = 1 THEN 'promising'
               WHEN s.recency = 5 AND s.frequency = 1 THEN 'new_customers'
               ELSE 'potential_loyalists'
           END AS class
    FROM clients AS c
    LEFT JOIN recent_activity AS a ON a.client_id = c.id
    LEFT JOIN scores AS s ON s.id = c.id
    WHERE c.workspace_id = $1 AND c.deleted_at IS NULL
),
updated AS (
    UPDATE clients AS c
    SET stats_activities_30d = f.last_30d,
        stats_activities_90d = f.last_90d,
        stats_rfm_recency = f.recency,
        stats_rfm_frequency = f.frequency,
        stats_rfm_monetary = f.monetary,
        stats_rfm_class = f.class
    FROM fresh AS f
    WHERE c.workspace_id = $1 AND c.id = f.id
      AND (c.stats_activities_30d, c.stats_activities_90d, c.stats_rfm_recency, c.stats_rfm_frequency,
           c.stats_rfm_monetary, c.stats_rfm_class)
          IS DISTINCT FROM (f.last_30d, f.last_90d, f.recency, f.frequency, f.monetary, f.class)
    RETURNING 1
)
SELECT (SELECT count(*) FROM scores) AS scored, (SELECT count(*) FROM updated) AS updated
