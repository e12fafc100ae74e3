-- Fuzzy search by name whose cost doesn't grow with the number of clients.
--
-- Ranking `word_similarity(q, search_text)` over every client whose text shares trigrams with
-- `q` read thousands of rows at 1M clients (a common surname, or a fragment inside every e-mail
-- address built from it). Instead, `q` is matched against the workspace's vocabulary of name
-- words, which grows with the variety of names, not with the number of clients; each matched
-- word then lists its clients in id order from a btree, so a page reads at most a page per word.
--
-- The words of a client are the runs of letters in its `search_text` (display name and legal
-- name, lower-cased by the application), outside e-mail addresses: digits, punctuation and
-- quotes split words, so `ООО «Ромашка 12»` gives `ооо` and `ромашка`. E-mail addresses and
-- numbers are unique per client; the `email=`/`phone=` lookups and the substring search find them.

CREATE VIEW client_name_words_source AS
SELECT c.workspace_id, c.id AS client_id, w.word
FROM clients AS c
CROSS JOIN LATERAL (
    SELECT DISTINCT word
    FROM regexp_split_to_table(c.search_text, '\s+') AS token,
         -- Not a letter: ASCII other than letters, and the usual typographic marks beyond it.
         regexp_split_to_table(token, '[\x01-\x40\x5b-\x60\x7b-\x7f«»“”„‘’–—…№]+') AS word
    WHERE strpos(token, '@') = 0 AND word <> ''
) AS w;

CREATE TABLE client_name_vocabulary (
    workspace_id uuid NOT NULL REFERENCES workspaces (id),
    word text NOT NULL,
    PRIMARY KEY (workspace_id, word)
);
CREATE INDEX client_name_vocabulary_search_idx ON client_name_vocabulary USING gin (workspace_id, word gin_trgm_ops);

-- Kept for deleted clients too, so a restore needs nothing; searches join the live clients.
CREATE TABLE client_name_words (
    workspace_id uuid NOT NULL,
    word text NOT NULL,
    client_id uuid NOT NULL,
    PRIMARY KEY (workspace_id, word, client_id),
    FOREIGN KEY (workspace_id, client_id) REFERENCES clients (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX client_name_words_client_idx ON client_name_words (workspace_id, client_id);

INSERT INTO client_name_words (workspace_id, word, client_id)
SELECT workspace_id, word, client_id FROM client_name_words_source;

INSERT INTO client_name_vocabulary (workspace_id, word)
SELECT DISTINCT workspace_id, word FROM client_name_words;

ANALYZE client_name_words, client_name_vocabulary;
