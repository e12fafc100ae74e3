-- An import writes contacts and deals too (a company's people, its order history).
ALTER TABLE imports DROP CONSTRAINT imports_entity_check;
ALTER TABLE imports ADD CONSTRAINT imports_entity_check CHECK (entity IN ('clients', 'contacts', 'deals', 'products'));
