-- The command handler's snapshots: its partition state as it stood before
-- events offset next_offset, under the claim of `epoch`. A claim loads the
-- newest usable one and folds only the records after it.
CREATE TABLE handler_snapshots (
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    epoch       bigint      NOT NULL,
    writer_id   text        NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    state       bytea       NOT NULL,
    PRIMARY KEY (topic, partition, next_offset)
);

-- Every claim a handler won, registered before it decides anything. A
-- snapshot of epoch E at next_offset O is from a superseded writer when a
-- claim of a higher epoch sits before O: it is never loaded, and once such a
-- claim is registered no snapshot of a lower epoch can be stored.
CREATE TABLE handler_claims (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    epoch        bigint      NOT NULL,
    claim_offset bigint      NOT NULL,
    writer_id    text        NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, epoch)
);
