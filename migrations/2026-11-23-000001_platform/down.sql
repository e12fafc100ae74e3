DROP TABLE change_events;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP TABLE teams;
DROP TABLE workspaces;
