DELETE FROM imports WHERE entity IN ('contacts', 'deals');
ALTER TABLE imports DROP CONSTRAINT imports_entity_check;
ALTER TABLE imports ADD CONSTRAINT imports_entity_check CHECK (entity IN ('clients', 'products'));
