ALTER TABLE clients DROP COLUMN merged_into;
