use async_trait::async_trait;
use ledger_protocol::CommandEnvelope;

use crate::Unavailable;

/// The write side: publishes commands for the command handler to decide,
/// and says whether the broker answers. Whether a handler runs every
/// partition is the pool's to tell ([`crate::Readiness`]).
#[async_trait]
pub trait CommandBus: Send + Sync + 'static {
    /// Appends the command to the commands topic (keyed by tenant) and
    /// returns once the broker acknowledged it.
    async fn submit(&self, envelope: &CommandEnvelope) -> Result<(), Unavailable>;
    /// Whether the broker answers.
    async fn broker_ready(&self) -> bool;
}
