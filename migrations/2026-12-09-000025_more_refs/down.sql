DELETE FROM external_refs WHERE entity IN ('contact', 'deal', 'activity');
ALTER TABLE activities DROP COLUMN external_refs;
ALTER TABLE deals DROP COLUMN external_refs;
ALTER TABLE contacts DROP COLUMN external_refs;
