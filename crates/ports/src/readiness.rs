use async_trait::async_trait;

/// Readiness of the read side, for `/readyz`.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// Whether the read model's database answers.
    async fn database_ready(&self) -> bool;
}
