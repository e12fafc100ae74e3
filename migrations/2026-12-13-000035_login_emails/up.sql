-- Login starts from an email alone, before the workspace is known. On Citus, users are spread over
-- the nodes by workspace, and finding an email among them asks every node; this table, keyed by
-- the email and shared by all workspaces (a reference table on Citus, copied to every node), says
-- which workspaces to ask. People only: API keys' principals never log in. Kept by the code that
-- creates users and changes their email (`User::create`, `User::update`), in the same transaction.
CREATE TABLE login_emails (
    -- Lower-cased, as login compares emails.
    email text NOT NULL,
    workspace_id uuid NOT NULL,
    user_id uuid NOT NULL,
    PRIMARY KEY (email, workspace_id)
);

INSERT INTO login_emails (email, workspace_id, user_id)
SELECT lower(email), workspace_id, id FROM users WHERE kind = 'person';
