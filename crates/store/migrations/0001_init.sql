-- Read models (rebuilt from the log by the projector) and the API's own
-- bookkeeping (idempotency keys, submitted commands), which a rebuild keeps.
-- Ids are stored as they print (`tenant_<ULID>`, `contact_<ULID>`, bare ULID
-- for commands) with the "C" collation, so text order is ULID (time) order.

CREATE TABLE tenants (
    tenant_id       text COLLATE "C" PRIMARY KEY,
    name            text NOT NULL,
    api_key_hash    text NOT NULL UNIQUE,
    contact_capture boolean NOT NULL,
    created_at      timestamptz NOT NULL
);

CREATE TABLE contacts (
    tenant_id             text COLLATE "C" NOT NULL,
    contact_id            text COLLATE "C" NOT NULL,
    number                bigint NOT NULL,
    kind                  text NOT NULL,
    type_id               bigint,
    external_id           text,
    email                 text,
    email_normalized      text,
    first_name            text,
    last_name             text,
    name                  text,
    company               text,
    title                 text,
    department            text,
    phone                 text,
    mobile                text,
    avatar_url            text,
    purchase_order_number text,
    address               jsonb,
    tags                  text[] NOT NULL DEFAULT '{}',
    metadata              jsonb NOT NULL DEFAULT '{}',
    registered            boolean NOT NULL DEFAULT false,
    version               bigint NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, contact_id)
);

CREATE INDEX contacts_by_email ON contacts (tenant_id, email_normalized, contact_id);
CREATE INDEX contacts_by_kind ON contacts (tenant_id, kind, contact_id);
CREATE INDEX contacts_by_external_id ON contacts (tenant_id, external_id, contact_id);
CREATE INDEX contacts_by_tag ON contacts USING gin (tags);

CREATE TABLE contact_events (
    tenant_id     text COLLATE "C" NOT NULL,
    contact_id    text COLLATE "C" NOT NULL,
    version       bigint NOT NULL,
    idx           integer NOT NULL,
    event_type    text NOT NULL,
    event_version integer NOT NULL,
    occurred_at   timestamptz NOT NULL,
    command_id    text COLLATE "C" NOT NULL,
    data          jsonb NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, version, idx)
);

CREATE TABLE command_outcomes (
    command_id   text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    command_type text NOT NULL,
    status       text NOT NULL CHECK (status IN ('accepted', 'rejected')),
    contact_id   text COLLATE "C",
    rejection    jsonb,
    issued_at    timestamptz NOT NULL,
    events       jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE projector_positions (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    epoch       bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

CREATE TABLE idempotency_keys (
    tenant_id    text COLLATE "C" NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    command_id   text COLLATE "C" NOT NULL,
    issued_at    timestamptz NOT NULL,
    status       integer,
    headers      jsonb,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE submitted_commands (
    command_id   text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now()
);
