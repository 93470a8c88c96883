use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, Contact, ContactId, ContactKind, TenantId};
use serde::Serialize;
use serde_json::Value;

use crate::Unavailable;

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

/// A tenant's contacts as projected: one by id or external id, filtered
/// pages, and a contact's history.
#[async_trait]
pub trait Contacts: Send + Sync + 'static {
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
}
