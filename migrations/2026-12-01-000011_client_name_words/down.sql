DROP TABLE client_name_words;
DROP TABLE client_name_vocabulary;
DROP VIEW client_name_words_source;
