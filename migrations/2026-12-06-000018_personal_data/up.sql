-- Which roles see personal data (persons' names, emails, phones, messengers, street addresses,
-- birth dates, persons' tax ids, notes) in full; the others get it masked. The owner always sees
-- it in full.
ALTER TABLE workspaces
    ADD COLUMN admin_personal_data text NOT NULL DEFAULT 'full' CHECK (admin_personal_data IN ('full', 'masked')),
    ADD COLUMN manager_personal_data text NOT NULL DEFAULT 'full' CHECK (manager_personal_data IN ('full', 'masked')),
    ADD COLUMN sales_personal_data text NOT NULL DEFAULT 'full' CHECK (sales_personal_data IN ('full', 'masked')),
    ADD COLUMN viewer_personal_data text NOT NULL DEFAULT 'masked' CHECK (viewer_personal_data IN ('full', 'masked'));
