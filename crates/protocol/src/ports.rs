//! The ports the HTTP adapter talks through. The Kafka adapter implements
//! `CommandBus`, the PostgreSQL adapter implements `ReadModel`; the binary
//! plugs them together, so adapters never depend on each other.
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::{
    CommandId, Contact, ContactId, ContactKind, InviteId, Rejection, TenantId, Warning,
    roles::{GrantChange, GrantRule, GrantStatus},
};
use serde::Serialize;
use serde_json::Value;

use crate::envelope::CommandEnvelope;

/// Infrastructure trouble (broker or database down, timeouts). Maps to 503.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

#[async_trait]
pub trait CommandBus: Send + Sync + 'static {
    /// Appends the command to the commands topic (keyed by tenant) and
    /// returns once the broker acknowledged it.
    async fn submit(&self, envelope: &CommandEnvelope) -> Result<(), Unavailable>;
    /// Whether the command handler has caught up with its partitions.
    async fn handler_ready(&self) -> bool;
    /// Whether the broker answers.
    async fn broker_ready(&self) -> bool;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantView {
    pub tenant_id: TenantId,
    pub name: String,
    pub contact_capture: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactFilter {
    pub email: Option<String>,
    pub kind: Option<ContactKind>,
    pub tag: Option<String>,
    pub external_id: Option<String>,
}

/// One event in a contact's history, secrets removed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventView {
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u64,
    pub time: DateTime<Utc>,
    pub command_id: CommandId,
    pub data: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Accepted,
    Rejected,
}

/// A decided command as the projector recorded it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandView {
    pub command_id: CommandId,
    pub tenant_id: TenantId,
    pub command_type: String,
    pub status: CommandStatus,
    pub contact_id: Option<ContactId>,
    /// The events (type, version, data; secrets removed) when accepted.
    pub events: Vec<EventView>,
    /// Whether the decision created `contact_id` (its record says so).
    pub created: bool,
    /// What the decision did less than asked.
    pub warnings: Vec<Warning>,
    /// The rejection, when rejected.
    pub rejection: Option<Rejection>,
}

/// A role of the tenant's catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleView {
    pub reference: String,
    pub name: String,
    pub grant_rule: GrantRule,
    pub created_at: DateTime<Utc>,
}

/// A contact's grant as recorded (the API works out the effective status at
/// a given time with `ledger_domain::roles::Grant::effective`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantView {
    pub reference: String,
    pub status: GrantStatus,
    pub expires: Option<DateTime<Utc>>,
    /// When the grant was last given or changed (the command's `issued_at`).
    pub granted_at: DateTime<Utc>,
}

/// One change of a contact's grant, from the contact's history: what its
/// role event did and when the decision was issued (`GET .../roles?as_of=`
/// folds these with `ledger_domain::roles::grant_as_of`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantChangeView {
    pub reference: String,
    /// The contact's version after the change.
    pub version: u64,
    pub at: DateTime<Utc>,
    pub change: GrantChange,
}

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

/// A stored HTTP response for an idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Idempotency {
    /// First use of the key: go ahead with this command id.
    Fresh,
    /// The key was used with the same request and its command is still in
    /// flight (or its first caller crashed): re-submit with the same id.
    InFlight { command_id: CommandId, issued_at: DateTime<Utc> },
    /// The key was used with the same request and answered: replay it.
    Done(StoredResponse),
    /// The key was used with a different request.
    Mismatch,
}

#[async_trait]
pub trait ReadModel: Send + Sync + 'static {
    async fn tenant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<TenantView>, Unavailable>;
    async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, Unavailable>;
    async fn contact_by_external_id(&self, tenant: TenantId, external_id: &str)
    -> Result<Option<Contact>, Unavailable>;
    /// Contacts ordered by id, after `after` when given, at most `limit`.
    async fn contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        after: Option<ContactId>,
        limit: u32,
    ) -> Result<Vec<Contact>, Unavailable>;
    async fn contact_events(&self, tenant: TenantId, id: ContactId) -> Result<Vec<EventView>, Unavailable>;
    async fn command(&self, tenant: TenantId, id: CommandId) -> Result<Option<CommandView>, Unavailable>;
    /// Waits until the projector has recorded the command's outcome (so the
    /// read model already shows it), or the timeout passes.
    async fn wait_for_command(
        &self,
        tenant: TenantId,
        id: CommandId,
        timeout: Duration,
    ) -> Result<Option<CommandView>, Unavailable>;
    /// Remembers that the API accepted this command id (for `pending`).
    async fn record_submitted(&self, tenant: TenantId, id: CommandId) -> Result<(), Unavailable>;
    async fn was_submitted(&self, tenant: TenantId, id: CommandId) -> Result<bool, Unavailable>;
    /// Claims an idempotency key for a request (identified by its hash).
    async fn idempotency_begin(
        &self,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
        command_id: CommandId,
        issued_at: DateTime<Utc>,
    ) -> Result<Idempotency, Unavailable>;
    async fn idempotency_finish(
        &self,
        tenant: TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), Unavailable>;
    async fn database_ready(&self) -> bool;
    /// The tenant's access-role catalogue, ordered by reference.
    async fn access_roles(&self, tenant: TenantId) -> Result<Vec<RoleView>, Unavailable>;
    /// A contact's current grants (revoked ones are gone), ordered by reference.
    async fn contact_grants(&self, tenant: TenantId, contact: ContactId) -> Result<Vec<GrantView>, Unavailable>;
    /// Every change of a contact's grants whose decision was issued at or
    /// before `until`, in the order of the contact's versions.
    async fn grant_history(
        &self,
        tenant: TenantId,
        contact: ContactId,
        until: DateTime<Utc>,
    ) -> Result<Vec<GrantChangeView>, Unavailable>;
    /// The invite a token was issued for, by the token's SHA-256 (hex).
    async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteTokenView>, Unavailable>;
    async fn tenant(&self, tenant: TenantId) -> Result<Option<TenantView>, Unavailable>;
}
