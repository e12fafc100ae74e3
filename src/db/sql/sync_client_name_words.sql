-- The name words of some clients after their names changed ($1 workspace, $2 the clients' ids):
-- words a client no longer has go, new ones come, and the vocabulary learns new words. The
-- vocabulary is written in word order, so two writers adding the same new words never wait on each
-- other in opposite orders. A word nobody uses any more stays in the vocabulary: it matches no
-- client.
WITH current_words AS (
    SELECT client_id, word FROM client_name_words_source WHERE workspace_id = $1 AND client_id = ANY($2)
), gone AS (
    DELETE FROM client_name_words AS w
    WHERE w.workspace_id = $1 AND w.client_id = ANY($2)
      AND NOT EXISTS (SELECT FROM current_words AS c WHERE c.client_id = w.client_id AND c.word = w.word)
), learned AS (
    INSERT INTO client_name_vocabulary (workspace_id, word)
    SELECT DISTINCT $1::uuid, word FROM current_words ORDER BY 2
    ON CONFLICT DO NOTHING
)
INSERT INTO client_name_words (workspace_id, word, client_id)
SELECT $1, word, client_id FROM current_words
ON CONFLICT DO NOTHING
