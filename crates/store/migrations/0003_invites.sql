-- Invites: the read model `contact_invites` (projected from InviteRequested,
-- InviteSent, InviteDeliveryFailed, InviteAccepted; a replay clears and
-- rebuilds it), and the mailer's own tables, which are NOT read models: they
-- record side effects (tokens handed out, mails accepted by SMTP) that the log
-- cannot rebuild, so a replay never touches them.

-- `state` only moves forward: requested -> failed -> sent -> accepted (the
-- domain never goes back), so a repeated event cannot undo a later one.
CREATE TABLE contact_invites (
    tenant_id    text COLLATE "C" NOT NULL,
    invite_id    text COLLATE "C" PRIMARY KEY,
    contact_id   text COLLATE "C" NOT NULL,
    state        text NOT NULL CHECK (state IN ('requested', 'sent', 'failed', 'accepted')),
    expires_at   timestamptz NOT NULL,
    requested_at timestamptz NOT NULL,
    sent_at      timestamptz,
    message_id   text,
    accepted_at  timestamptz
);

CREATE INDEX contact_invites_by_contact ON contact_invites (tenant_id, contact_id, invite_id);

-- One row per invite the mailer took up. Only the SHA-256 (hex) of a token is
-- kept. `pending`: a token was made and the mail may be on its way; `sent`:
-- the SMTP server accepted it, so it is never sent again. A pending row found
-- after a crash gets a fresh token; the one it replaces moves to
-- `superseded_hashes` and stays valid, because that mail may have been
-- accepted before the crash and a receiver may drop the re-send (same
-- Message-ID) as a duplicate, leaving the person with the earlier link.
CREATE TABLE invite_tokens (
    token_hash        text PRIMARY KEY,
    tenant_id         text COLLATE "C" NOT NULL,
    invite_id         text COLLATE "C" NOT NULL UNIQUE,
    contact_id        text COLLATE "C" NOT NULL,
    expires_at        timestamptz NOT NULL,
    state             text NOT NULL CHECK (state IN ('pending', 'sent')),
    created_at        timestamptz NOT NULL,
    sent_at           timestamptz,
    superseded_hashes text[] NOT NULL DEFAULT '{}'
);

CREATE INDEX invite_tokens_by_superseded_hash ON invite_tokens USING gin (superseded_hashes);

-- The mailer's next offset and fencing epoch per events partition, kept apart
-- from the projector's: a replay rewinds the projector, never the mailer.
CREATE TABLE mailer_positions (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    epoch       bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
