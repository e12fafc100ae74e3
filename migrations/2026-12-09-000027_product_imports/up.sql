-- An import writes products too (a catalogue from a shop or an accounting system).
ALTER TABLE imports DROP CONSTRAINT imports_entity_check;
ALTER TABLE imports ADD CONSTRAINT imports_entity_check CHECK (entity IN ('clients', 'products'));
