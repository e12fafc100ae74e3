-- Products carry the ids other systems know them by, as clients do: the list here, the index
-- (unique per workspace, entity and system id) in external_refs with entity 'product'.
ALTER TABLE products ADD COLUMN external_refs jsonb NOT NULL DEFAULT '[]';
