-- Access roles: a tenant's catalogue (`AccessRoleDefined`) and each user's
-- current grants (`RoleGranted` / `RoleActivated` / `RoleRevoked`). Both are
-- read models: a replay clears and rebuilds them. References are slugs kept
-- in the "C" collation so "ordered by reference" is plain byte order.

CREATE TABLE access_roles (
    tenant_id  text COLLATE "C" NOT NULL,
    reference  text COLLATE "C" NOT NULL,
    name       text NOT NULL,
    grant_rule text NOT NULL CHECK (grant_rule IN ('automatic', 'email_verification', 'manual_approval')),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, reference)
);

-- A revoked grant is deleted; `granted_at` is the `issued_at` of the decision
-- that last granted or changed (activated) the grant.
CREATE TABLE contact_roles (
    tenant_id  text COLLATE "C" NOT NULL,
    contact_id text COLLATE "C" NOT NULL,
    reference  text COLLATE "C" NOT NULL,
    status     text NOT NULL CHECK (status IN ('active', 'pending')),
    expires    timestamptz,
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, reference)
);
