-- What every request of user $2 of workspace $1 is checked against, in one trip: whether the
-- account is active, its role and own visibility, its team, and its role's settings in the
-- workspace (visibility, read budget, personal data); the clients shared with the user directly,
-- and whether the workspace has any team shares (only then are the user's teams' shares looked up).
SELECT u.active, u.role, u.visibility, u.team_id, w.timezone,
       CASE u.role WHEN 'admin' THEN w.admin_visibility WHEN 'manager' THEN w.manager_visibility
                   WHEN 'sales' THEN w.sales_visibility ELSE w.viewer_visibility END AS role_visibility,
       CASE u.role WHEN 'admin' THEN w.admin_read_budget WHEN 'manager' THEN w.manager_read_budget
                   WHEN 'sales' THEN w.sales_read_budget ELSE w.viewer_read_budget END AS role_read_budget,
       CASE u.role WHEN 'admin' THEN w.admin_personal_data WHEN 'manager' THEN w.manager_personal_data
                   WHEN 'sales' THEN w.sales_personal_data ELSE w.viewer_personal_data END AS role_personal_data,
       ARRAY(SELECT s.client_id FROM client_shares s
             WHERE s.workspace_id = $1 AND s.user_id = $2) AS shared_with_user,
       EXISTS (SELECT 1 FROM client_shares s WHERE s.workspace_id = $1 AND s.team_id IS NOT NULL) AS team_shares
FROM users u
JOIN workspaces w ON w.id = u.workspace_id
WHERE u.workspace_id = $1 AND u.id = $2
