DROP TABLE api_keys;
DELETE FROM users WHERE kind = 'api_key';
ALTER TABLE users DROP COLUMN kind;
