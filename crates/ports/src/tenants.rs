use async_trait::async_trait;
use ledger_domain::TenantId;
use serde::Serialize;

use crate::Unavailable;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantView {
    pub tenant_id: TenantId,
    pub name: String,
    pub contact_capture: bool,
}

/// Tenants as the read model knows them: by API key (authentication) and by id.
#[async_trait]
pub trait Tenants: Send + Sync + 'static {
    async fn tenant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<TenantView>, Unavailable>;
    async fn tenant(&self, tenant: TenantId) -> Result<Option<TenantView>, Unavailable>;
}
