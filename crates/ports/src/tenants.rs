use async_trait::async_trait;
use ledger_domain::TenantId;
use serde::Serialize;

use crate::Unavailable;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantView {
    pub tenant_id: TenantId,
    pub name: String,
    pub contact_capture: bool,
    /// The version of the API key the caller used (by id: of the key in
    /// force). Not part of the tenant's answer.
    #[serde(skip)]
    pub key_version: u32,
}

/// Tenants as the read model knows them: by API key (authentication) and by id.
#[async_trait]
pub trait Tenants: Send + Sync + 'static {
    /// The tenant whose API key (in force, or replaced but still within its
    /// overlap) has this hash.
    async fn tenant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<TenantView>, Unavailable>;
    async fn tenant(&self, tenant: TenantId) -> Result<Option<TenantView>, Unavailable>;
    /// Whether the tenant's API key `key_version` still works (in force, or
    /// within the overlap a rotation gave it).
    async fn key_works(&self, tenant: TenantId, key_version: u32) -> Result<bool, Unavailable>;
}
