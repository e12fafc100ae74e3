DELETE FROM imports WHERE entity = 'products';
ALTER TABLE imports DROP CONSTRAINT imports_entity_check;
ALTER TABLE imports ADD CONSTRAINT imports_entity_check CHECK (entity IN ('clients'));
