-- Contacts, deals and activities carry the ids other systems know them by, as clients and
-- products do: the list in the row, the index (unique per workspace, entity and system id) in
-- external_refs with entity 'contact', 'deal' or 'activity'. An activity's older single
-- `external_ref` (a call's or a mail's id, unique in the workspace) stays as it was.
ALTER TABLE contacts ADD COLUMN external_refs jsonb NOT NULL DEFAULT '[]';
ALTER TABLE deals ADD COLUMN external_refs jsonb NOT NULL DEFAULT '[]';
ALTER TABLE activities ADD COLUMN external_refs jsonb NOT NULL DEFAULT '[]';
