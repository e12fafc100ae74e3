-- The name words of every client of workspace $1, after a bulk load.
WITH added AS (
    INSERT INTO client_name_words (workspace_id, word, client_id)
    SELECT workspace_id, word, client_id FROM client_name_words_source WHERE workspace_id = $1
    ON CONFLICT DO NOTHING
    RETURNING word
)
INSERT INTO client_name_vocabulary (workspace_id, word)
SELECT DISTINCT $1::uuid, word FROM added
ON CONFLICT DO NOTHING
