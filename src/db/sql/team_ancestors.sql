-- The ancestors of a team, nearest first. $1: workspace id, $2: team id.
WITH RECURSIVE chain (id, parent_id, depth, path) AS (
    SELECT t.id, t.parent_id, 0, ARRAY[t.id]
    FROM teams t
    WHERE t.workspace_id = $1 AND t.id = $2
  UNION ALL
    SELECT p.id, p.parent_id, c.depth + 1, c.path || p.id
    FROM chain c
    JOIN teams p ON p.workspace_id = $1 AND p.id = c.parent_id
    WHERE NOT p.id = ANY (c.path)
)
SELECT id FROM chain WHERE depth > 0 ORDER BY depth
