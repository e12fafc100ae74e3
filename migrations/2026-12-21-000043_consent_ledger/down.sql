ALTER TABLE segment_exports DROP COLUMN excluded_without_consent, DROP COLUMN consent_purpose;
ALTER TABLE workspaces DROP COLUMN consent_purposes;
DROP STATISTICS clients_consent_marketing_email, clients_consent_marketing_sms, clients_consent_calls, clients_consent_profiling;
ALTER TABLE contacts DROP COLUMN consents;
ALTER TABLE clients DROP COLUMN consents;
DROP TABLE consent_records;
