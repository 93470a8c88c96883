-- Command and invite ids are a tenant's own: a client chooses the ids of the
-- commands it publishes (and an invite's id derives from its command's), so
-- two tenants may use one id. Every table keyed by such an id is keyed by the
-- tenant and the id.
ALTER TABLE command_outcomes DROP CONSTRAINT command_outcomes_pkey;
ALTER TABLE command_outcomes ADD PRIMARY KEY (command_id, tenant_id);

ALTER TABLE submitted_commands DROP CONSTRAINT submitted_commands_pkey;
ALTER TABLE submitted_commands ADD PRIMARY KEY (command_id, tenant_id);

ALTER TABLE contact_invites DROP CONSTRAINT contact_invites_pkey;
ALTER TABLE contact_invites ADD PRIMARY KEY (tenant_id, invite_id);

ALTER TABLE invite_tokens DROP CONSTRAINT invite_tokens_invite_id_key;
ALTER TABLE invite_tokens ADD CONSTRAINT invite_tokens_tenant_invite_key UNIQUE (tenant_id, invite_id);
