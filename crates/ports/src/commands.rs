use std::time::Duration;

use async_trait::async_trait;
use ledger_domain::{CommandId, ContactId, Rejection, TenantId, Warning};
use serde::Serialize;

use crate::{EventView, Unavailable};

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

/// Commands and their decisions: what the projector recorded, waiting for
/// it, and the ids the API submitted (so an undecided one reads `pending`).
#[async_trait]
pub trait Commands: Send + Sync + 'static {
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
}
