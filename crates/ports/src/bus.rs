use async_trait::async_trait;
use ledger_protocol::CommandEnvelope;

use crate::Unavailable;

/// The write side: publishes commands for the command handler to decide,
/// and says whether the broker and the handler are ready.
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
