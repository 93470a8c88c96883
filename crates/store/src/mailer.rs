//! The invite mailer's own tables. They are not read models: they record side
//! effects the log cannot rebuild (a token handed out, a mail the SMTP server
//! accepted), so a replay never clears them, and they are what keeps a
//! replay, a re-read or a restart from mailing anyone twice.
//!
//! - `invite_tokens`: per invite, the SHA-256 of its token and whether its
//!   mail was accepted (`sent`). `begin_invite` refuses a sent invite.
//! - `mailer_positions`: the mailer's next offset and fencing epoch per events
//!   partition. A `MailerBatch` holds the mailer lock for a batch and stores
//!   the positions with its commit, so two mailers never work on one batch.
use std::{collections::BTreeMap, fmt};

use chrono::{DateTime, Utc};
use ledger_domain::{ContactId, InviteId, TenantId};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Row, Transaction};

use crate::{
    error::{Error, Result, to_i64, to_u64},
    projection::{Positions, save_positions},
    store::Store,
};

/// Held for a mailer batch; a second mailer waits for the first's batch.
const MAILER_LOCK: i64 = 0x636c_5f6d_6169_6c72; // "cl_mailr"
/// With the partition as the second key: one mailer batch of a partition at a time.
const MAILER_PARTITION_LOCK: i32 = 0x636c_6d6c; // "clml"

/// A single-use invite token: 256 random bits as 64 lowercase hex digits.
/// Only its hash is stored; `Debug` does not show it, so it cannot end up in
/// a log line by accident.
pub struct InviteToken(String);

impl InviteToken {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        InviteToken(hex::encode(bytes))
    }

    /// The token itself, for the invite link (and nothing else).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        invite_token_hash(&self.0)
    }
}

impl fmt::Debug for InviteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteToken(<redacted>)")
    }
}

/// How a token is stored and looked up: SHA-256 of its text, lowercase hex.
pub fn invite_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The invite a token is made for (from its `InviteRequested`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteTicket {
    pub tenant_id: TenantId,
    pub invite_id: InviteId,
    pub contact_id: ContactId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// A token was made; its mail may or may not have gone out.
    Pending,
    /// The SMTP server accepted the mail: never send it again.
    Sent,
}

/// Where the mailer is in one events partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailerPosition {
    pub next_offset: i64,
    /// The fencing epoch of the partition's current writer.
    pub epoch: u64,
}

// A sent row never changes again: the WHERE leaves it alone and nothing is
// returned. A pending row (a crash before `mark_invite_sent`) gets the new
// hash and keeps the old one valid (see the migration for why).
const BEGIN_INVITE: &str = "INSERT INTO invite_tokens \
     (token_hash, tenant_id, invite_id, contact_id, expires_at, state, created_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', now()) \
     ON CONFLICT (tenant_id, invite_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = EXCLUDED.created_at, \
     superseded_hashes = invite_tokens.superseded_hashes || invite_tokens.token_hash \
     WHERE invite_tokens.state = 'pending' \
     RETURNING token_hash";

impl Store {
    /// The state of the invite's token, if the mailer has made one.
    /// The invite's state in the read model (`contact_invites`), if projected.
    pub async fn invite_state(&self, tenant: TenantId, invite: InviteId) -> Result<Option<ledger_ports::InviteState>> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM contact_invites WHERE tenant_id = $1 AND invite_id = $2")
                .bind(tenant.to_string())
                .bind(invite.to_string())
                .fetch_optional(self.pool())
                .await?;
        state.map(|s| crate::read::invites::parse_state(&s)).transpose()
    }

    pub async fn invite_token_state(&self, tenant: TenantId, invite: InviteId) -> Result<Option<TokenState>> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM invite_tokens WHERE tenant_id = $1 AND invite_id = $2")
                .bind(tenant.to_string())
                .bind(invite.to_string())
                .fetch_optional(self.pool())
                .await?;
        state.map(|s| parse_token_state(&s)).transpose()
    }

    /// Makes a fresh token for the invite and stores its hash, unless the
    /// invite's mail was already sent (`None`: do not send it again).
    pub async fn begin_invite(&self, ticket: &InviteTicket) -> Result<Option<InviteToken>> {
        let token = InviteToken::generate();
        let stored: Option<String> = sqlx::query_scalar(BEGIN_INVITE)
            .bind(token.hash())
            .bind(ticket.tenant_id.to_string())
            .bind(ticket.invite_id.to_string())
            .bind(ticket.contact_id.to_string())
            .bind(ticket.expires_at)
            .fetch_optional(self.pool())
            .await?;
        Ok(stored.map(|_| token))
    }

    /// Records that the SMTP server accepted the invite's mail. Called right
    /// after the accept, before anything else, to keep the window in which a
    /// crash leads to a re-send as short as it can be.
    pub async fn mark_invite_sent(&self, tenant: TenantId, invite: InviteId) -> Result<()> {
        sqlx::query(
            "UPDATE invite_tokens SET state = 'sent', sent_at = now() \
             WHERE tenant_id = $1 AND invite_id = $2 AND state = 'pending'",
        )
        .bind(tenant.to_string())
        .bind(invite.to_string())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The mailer's stored positions in `topic` (a partition not listed starts at 0).
    pub async fn mailer_positions(&self, topic: &str) -> Result<BTreeMap<i32, MailerPosition>> {
        let mut conn = self.pool().acquire().await?;
        load_positions(&mut conn, topic).await
    }

    /// Begins a mailer batch over every partition: waits for the mailer lock
    /// and loads the positions.
    pub async fn begin_mailer_batch(&self, topic: &str) -> Result<MailerBatch<'_>> {
        self.begin_mailer_batch_of(topic, None).await
    }

    /// Begins a mailer batch over `partition` (every partition when `None`).
    /// Batches of different partitions run side by side; one over every
    /// partition waits for them all.
    pub async fn begin_mailer_batch_of(&self, topic: &str, partition: Option<i32>) -> Result<MailerBatch<'_>> {
        let mut tx = self.pool().begin().await?;
        match partition {
            None => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MAILER_LOCK).execute(&mut *tx).await?;
            }
            Some(p) => {
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2, $3)")
                    .bind(MAILER_LOCK)
                    .bind(MAILER_PARTITION_LOCK)
                    .bind(p)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let positions = load_positions(&mut tx, topic).await?;
        Ok(MailerBatch { tx, topic: topic.to_owned(), positions })
    }
}

/// One mailer batch: the mailer lock and the positions it started from. The
/// token writes of the batch are not part of it (they must be durable the
/// moment they happen); only the positions commit with it.
pub struct MailerBatch<'c> {
    tx: Transaction<'c, Postgres>,
    topic: String,
    positions: BTreeMap<i32, MailerPosition>,
}

impl MailerBatch<'_> {
    pub fn positions(&self) -> &BTreeMap<i32, MailerPosition> {
        &self.positions
    }

    /// Stores the positions given (the others stay as they are) and releases the lock.
    pub async fn commit(mut self, positions: &BTreeMap<i32, MailerPosition>) -> Result<()> {
        let (mut partitions, mut offsets, mut epochs) = (vec![], vec![], vec![]);
        for (partition, p) in positions {
            partitions.push(*partition);
            offsets.push(p.next_offset);
            epochs.push(to_i64(p.epoch)?);
        }
        save_positions(&mut self.tx, Positions::Mailer, &self.topic, partitions, offsets, epochs).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

async fn load_positions(conn: &mut sqlx::PgConnection, topic: &str) -> Result<BTreeMap<i32, MailerPosition>> {
    let rows = sqlx::query("SELECT partition, next_offset, epoch FROM mailer_positions WHERE topic = $1")
        .bind(topic)
        .fetch_all(conn)
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        let position = MailerPosition {
            next_offset: row.try_get("next_offset")?,
            epoch: to_u64("mailer_positions", row.try_get("epoch")?)?,
        };
        out.insert(row.try_get("partition")?, position);
    }
    Ok(out)
}

fn parse_token_state(s: &str) -> Result<TokenState> {
    match s {
        "pending" => Ok(TokenState::Pending),
        "sent" => Ok(TokenState::Sent),
        other => Err(Error::corrupt("invite_tokens", format!("state {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_and_hash_as_lowercase_hex_sha256() {
        let (a, b) = (InviteToken::generate(), InviteToken::generate());
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(invite_token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(a.hash(), invite_token_hash(a.expose()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
