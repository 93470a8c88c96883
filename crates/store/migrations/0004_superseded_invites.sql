-- Superseded invites (issue 6): a newer invite of a contact replaces every
-- older one not yet accepted, as the domain decides on `InviteRequested`.
-- The read model learns it too, so a replaced link is refused (410) before
-- its form is shown. What "newer" means is the contact's version the
-- request was decided at (`version`), which the handler raises with every
-- decision about the contact; the decision's time is set by the client and
-- does not order anything.
ALTER TABLE contact_invites ADD COLUMN version bigint;

-- Rows projected before this migration: their request's version is in the
-- contact's history (a replay would give the same).
UPDATE contact_invites i SET version = e.version
FROM contact_events e
WHERE e.tenant_id = i.tenant_id AND e.contact_id = i.contact_id
  AND e.event_type = 'InviteRequested' AND e.data->>'invite_id' = i.invite_id;
UPDATE contact_invites SET version = 0 WHERE version IS NULL;
ALTER TABLE contact_invites ALTER COLUMN version SET NOT NULL;

ALTER TABLE contact_invites DROP CONSTRAINT contact_invites_state_check;
ALTER TABLE contact_invites ADD CONSTRAINT contact_invites_state_check
    CHECK (state IN ('requested', 'sent', 'failed', 'accepted', 'superseded'));

UPDATE contact_invites i SET state = 'superseded'
WHERE i.state <> 'accepted'
  AND EXISTS (SELECT 1 FROM contact_invites n
              WHERE n.tenant_id = i.tenant_id AND n.contact_id = i.contact_id AND n.version > i.version);
