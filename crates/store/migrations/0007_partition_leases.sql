-- Which process runs which partition, per role (handler, projector, mailer).
-- A member renews its row while it lives; a lease is held while its
-- expires_at is in the future. Leases only decide who should work: a
-- handler's records still count only by the claim epoch in the log, and a
-- projector's writes only by the offsets stored with them.
CREATE TABLE pool_members (
    role       text        NOT NULL,
    member     text        NOT NULL,
    expires_at timestamptz NOT NULL,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role, member)
);

CREATE TABLE partition_leases (
    role        text        NOT NULL,
    partition   integer     NOT NULL,
    owner       text,
    -- Raised each time the lease changes hands.
    lease_epoch bigint      NOT NULL DEFAULT 0,
    expires_at  timestamptz,
    -- The owner's task is past its start-up (a handler has claimed and rebuilt).
    working     boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (role, partition)
);
