//! Invites in the projection: `contact_invites`, one row per invite.
//!
//! Why a batch can be written one statement per kind of event, in a fixed
//! order: an invite's state only moves forward (requested -> failed -> sent
//! -> accepted; the domain never reports a failure after a send, nor a send
//! after an acceptance), and every update is guarded to move it forward only.
//! Running the statements in that order therefore gives, for any events a
//! batch holds, what applying them one by one gives, and a repeated (older)
//! event cannot undo a newer one.
//!
//! `superseded` is the other end an invite can reach: a request for the
//! same contact at a higher contact version replaces every invite of the
//! contact that is not accepted (the domain's rule). It is written last, as
//! that rule over the whole table ("a newer request exists and this invite
//! is not accepted"), so it does not depend on how the requests are spread
//! over batches, nor on their order inside one, and a repeated older
//! request changes nothing. No update takes a `superseded` row, so nothing
//! moves an invite out of it. That loses no acceptance: the domain refuses
//! to accept a superseded invite and never supersedes an accepted one, so an
//! acceptance in the log always precedes any newer request for the contact,
//! and within one batch it is written before the rule looks.
use chrono::{DateTime, Utc};
use ledger_domain::{
    InviteId,
    event::{InviteAccepted, InviteDeliveryFailed, InviteRequested, InviteSent},
};
use sqlx::PgConnection;

use crate::error::{Result, to_i64};

const INSERT_REQUESTED: &str = "INSERT INTO contact_invites \
     (tenant_id, invite_id, contact_id, state, expires_at, requested_at, version) \
     SELECT u.tenant_id, u.invite_id, u.contact_id, 'requested', u.expires_at, u.at, u.version \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int8[]) \
     AS u(tenant_id, invite_id, contact_id, expires_at, at, version) \
     ON CONFLICT (tenant_id, invite_id) DO NOTHING";

const MARK_FAILED: &str = "UPDATE contact_invites i SET state = 'failed' \
     FROM UNNEST($1::text[], $2::text[]) AS u(tenant_id, invite_id) \
     WHERE i.tenant_id = u.tenant_id AND i.invite_id = u.invite_id AND i.state = 'requested'";

const MARK_SENT: &str = "UPDATE contact_invites i SET state = 'sent', sent_at = u.at, message_id = u.message_id \
     FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS u(tenant_id, invite_id, at, message_id) \
     WHERE i.tenant_id = u.tenant_id AND i.invite_id = u.invite_id AND i.state IN ('requested', 'failed')";

const MARK_ACCEPTED: &str = "UPDATE contact_invites i SET state = 'accepted', accepted_at = u.at \
     FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) AS u(tenant_id, invite_id, at) \
     WHERE i.tenant_id = u.tenant_id AND i.invite_id = u.invite_id AND i.state NOT IN ('accepted', 'superseded')";

/// For the contacts a batch requested invites for.
const MARK_SUPERSEDED: &str = "UPDATE contact_invites i SET state = 'superseded' \
     FROM (SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[])) AS u(tenant_id, contact_id) \
     WHERE i.tenant_id = u.tenant_id AND i.contact_id = u.contact_id \
     AND i.state NOT IN ('accepted', 'superseded') \
     AND EXISTS (SELECT 1 FROM contact_invites n \
                 WHERE n.tenant_id = i.tenant_id AND n.contact_id = i.contact_id AND n.version > i.version)";

/// The invite events of a batch as columns, by kind; `at` is the decision's
/// time (`Decision::at`).
#[derive(Default)]
pub(crate) struct InviteChanges {
    requested: Requested,
    failed: Keys,
    sent: Sent,
    accepted: Accepted,
}

#[derive(Default)]
struct Keys {
    tenant: Vec<String>,
    invite: Vec<String>,
}

impl Keys {
    fn push(&mut self, tenant_id: &str, invite: InviteId) {
        self.tenant.push(tenant_id.to_owned());
        self.invite.push(invite.to_string());
    }
}

#[derive(Default)]
struct Requested {
    keys: Keys,
    contact: Vec<String>,
    expires_at: Vec<DateTime<Utc>>,
    at: Vec<DateTime<Utc>>,
    /// The contact's version the request was decided at.
    version: Vec<i64>,
}

#[derive(Default)]
struct Sent {
    keys: Keys,
    at: Vec<DateTime<Utc>>,
    message_id: Vec<String>,
}

#[derive(Default)]
struct Accepted {
    keys: Keys,
    at: Vec<DateTime<Utc>>,
}

impl InviteChanges {
    pub fn requested(&mut self, tenant_id: &str, e: &InviteRequested, at: DateTime<Utc>) -> Result<()> {
        let r = &mut self.requested;
        r.version.push(to_i64(e.version)?);
        r.keys.push(tenant_id, e.invite_id);
        r.contact.push(e.contact_id.to_string());
        r.expires_at.push(e.expires_at);
        r.at.push(at);
        Ok(())
    }

    pub fn failed(&mut self, tenant_id: &str, e: &InviteDeliveryFailed) {
        self.failed.push(tenant_id, e.invite_id);
    }

    pub fn sent(&mut self, tenant_id: &str, e: &InviteSent, at: DateTime<Utc>) {
        let s = &mut self.sent;
        s.keys.push(tenant_id, e.invite_id);
        s.at.push(at);
        s.message_id.push(e.message_id.clone());
    }

    pub fn accepted(&mut self, tenant_id: &str, e: &InviteAccepted, at: DateTime<Utc>) {
        self.accepted.keys.push(tenant_id, e.invite_id);
        self.accepted.at.push(at);
    }
}

/// Writes a batch's invite changes, in the order of the states, then marks
/// what the batch's requests superseded.
pub(crate) async fn write(conn: &mut PgConnection, c: InviteChanges) -> Result<()> {
    let r = c.requested;
    let requested_for = (r.keys.tenant.clone(), r.contact.clone());
    if !r.keys.tenant.is_empty() {
        sqlx::query(INSERT_REQUESTED)
            .bind(r.keys.tenant)
            .bind(r.keys.invite)
            .bind(r.contact)
            .bind(r.expires_at)
            .bind(r.at)
            .bind(r.version)
            .execute(&mut *conn)
            .await?;
    }
    let f = c.failed;
    if !f.tenant.is_empty() {
        sqlx::query(MARK_FAILED).bind(f.tenant).bind(f.invite).execute(&mut *conn).await?;
    }
    let s = c.sent;
    if !s.keys.tenant.is_empty() {
        sqlx::query(MARK_SENT)
            .bind(s.keys.tenant)
            .bind(s.keys.invite)
            .bind(s.at)
            .bind(s.message_id)
            .execute(&mut *conn)
            .await?;
    }
    let a = c.accepted;
    if !a.keys.tenant.is_empty() {
        sqlx::query(MARK_ACCEPTED).bind(a.keys.tenant).bind(a.keys.invite).bind(a.at).execute(&mut *conn).await?;
    }
    if !requested_for.0.is_empty() {
        sqlx::query(MARK_SUPERSEDED).bind(requested_for.0).bind(requested_for.1).execute(&mut *conn).await?;
    }
    Ok(())
}
