-- A client's lifecycle stage moves by itself as its purchases say (lead → customer at the first
-- won deal, → loyal at the workspace's repeat count, → churned when dormant past its time) unless
-- a user set it by hand. A stage other than the default `lead` was set by someone before this
-- existed: it stays theirs.
ALTER TABLE clients ADD COLUMN lifecycle_set_by_hand boolean NOT NULL DEFAULT false;
UPDATE clients SET lifecycle_set_by_hand = true WHERE lifecycle_stage <> 'lead';

ALTER TABLE workspaces
    ADD COLUMN loyal_after_purchases integer NOT NULL DEFAULT 3 CHECK (loyal_after_purchases BETWEEN 2 AND 1000),
    ADD COLUMN churned_after_days integer NOT NULL DEFAULT 365 CHECK (churned_after_days BETWEEN 30 AND 3650);
