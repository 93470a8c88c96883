use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, TenantId};
use serde_json::Value;

use crate::Unavailable;

/// A stored HTTP response for an idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// What claiming an idempotency key found.
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

/// `Idempotency-Key`s of writes: claiming a key for a request, and storing
/// the answer to replay to a retry.
#[async_trait]
pub trait IdempotencyKeys: Send + Sync + 'static {
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
}
