use async_trait::async_trait;

use crate::Unavailable;

/// How many of a role's partitions have a live process working on them
/// (the pool's lease rows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub partitions: u32,
    pub served: u32,
}

impl Coverage {
    /// Every partition is served (and there is at least one).
    pub fn complete(&self) -> bool {
        self.partitions > 0 && self.served == self.partitions
    }
}

/// Readiness, for `/readyz` and the metrics.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// Whether the read model's database answers.
    async fn database_ready(&self) -> bool;
    /// How many of `role`'s partitions (`handler`, `projector`, `mailer`)
    /// have a live owner past its start-up.
    async fn coverage(&self, role: &str) -> Result<Coverage, Unavailable>;
}
