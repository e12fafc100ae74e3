ALTER INDEX clients_email_keys_idx RESET (fastupdate);
ALTER INDEX clients_phone_keys_idx RESET (fastupdate);
ALTER INDEX clients_tags_idx RESET (fastupdate);
ALTER INDEX contacts_email_keys_idx RESET (fastupdate);
ALTER INDEX contacts_phone_keys_idx RESET (fastupdate);
ALTER INDEX deals_tags_idx RESET (fastupdate);
