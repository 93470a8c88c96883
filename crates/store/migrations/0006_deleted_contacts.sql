-- A deleted contact (ContactDeleted) keeps its row as a tombstone: every read
-- leaves it out, and because the row and its raised version stay, a
-- re-delivered create or update of it changes nothing. Its events stay in
-- contact_events, so its history is still readable.
ALTER TABLE contacts ADD COLUMN deleted_at timestamptz;

-- emnify addresses a contact by its per-tenant number.
CREATE INDEX contacts_by_number ON contacts (tenant_id, number);
