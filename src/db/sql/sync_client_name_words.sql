-- The name words of one client after its names changed ($1 workspace, $2 client): words it no
-- longer has go, new ones come, and the vocabulary learns new words. The vocabulary is written in
-- word order, so two writers adding the same new words never wait on each other in opposite
-- orders. A word nobody uses any more stays in the vocabulary: it matches no client.
WITH current_words AS (
    SELECT word FROM client_name_words_source WHERE workspace_id = $1 AND client_id = $2
), gone AS (
    DELETE FROM client_name_words AS w
    WHERE w.workspace_id = $1 AND w.client_id = $2 AND w.word NOT IN (SELECT word FROM current_words)
), learned AS (
    INSERT INTO client_name_vocabulary (workspace_id, word)
    SELECT $1, word FROM current_words ORDER BY word
    ON CONFLICT DO NOTHING
)
INSERT INTO client_name_words (workspace_id, word, client_id)
SELECT $1, word, $2 FROM current_words
ON CONFLICT DO NOTHING
