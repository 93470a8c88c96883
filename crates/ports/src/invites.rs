use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::{ContactId, InviteId, TenantId};
use serde::Serialize;

use crate::Unavailable;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteState {
    Requested,
    Sent,
    Failed,
    Accepted,
    /// A newer invite for the same contact replaced it (it was not accepted).
    Superseded,
}

/// What an invite token (looked up by its SHA-256) leads to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InviteTokenView {
    pub tenant_id: TenantId,
    pub invite_id: InviteId,
    pub contact_id: ContactId,
    pub expires_at: DateTime<Utc>,
    /// The invite's state in the read model (`requested` until the mailer's
    /// report is projected).
    pub state: InviteState,
}

/// Invite tokens: what an invite link leads to (the invite page and
/// `POST /v1/invites/accept`).
#[async_trait]
pub trait Invites: Send + Sync + 'static {
    /// The invite a token was issued for, by the token's SHA-256 (hex).
    async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteTokenView>, Unavailable>;
}
