ALTER TABLE products DROP COLUMN external_refs;
DELETE FROM external_refs WHERE entity = 'product';
