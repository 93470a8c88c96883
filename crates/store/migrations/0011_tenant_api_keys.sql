-- A tenant's API keys (read model, from TenantCreated and ApiKeyRotated): each
-- key's SHA-256 with its version; a key replaced by a rotation works until
-- `valid_until`, the one in force has none. Authentication reads this table;
-- `tenants.api_key_hash` stays the tenant's first key.
CREATE TABLE tenant_api_keys (
    api_key_hash text PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    key_version  integer NOT NULL,
    valid_until  timestamptz,
    UNIQUE (tenant_id, key_version)
);

INSERT INTO tenant_api_keys (api_key_hash, tenant_id, key_version)
SELECT api_key_hash, tenant_id, 1 FROM tenants;
