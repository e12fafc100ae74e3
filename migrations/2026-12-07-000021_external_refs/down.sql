DROP TABLE external_refs;
ALTER TABLE clients DROP COLUMN external_refs;
