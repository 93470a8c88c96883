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
    /// The contact with this per-tenant number (emnify's numeric id).
    pub number: Option<u64>,
    /// Only contacts with (true) or without (false) a `type_id`.
    pub typed: Option<bool>,
}

/// Where a page of contacts starts; every page is in id (creation) order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cursor {
    /// The first contacts.
    #[default]
    Start,
    /// The contacts right after this id.
    After(ContactId),
    /// The contacts right before this id (the last `limit` of them).
    Before(ContactId),
    /// Skipping this many (page-numbered lists).
    Offset(u64),
}

impl From<Option<ContactId>> for Cursor {
    fn from(after: Option<ContactId>) -> Self {
        after.map_or(Cursor::Start, Cursor::After)
    }
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
    /// The version of the event type's schema `data` is written in, when the
    /// store knows it (not part of the answer): what `Event::from_parts`
    /// needs to read `data` back as an event. `version` is the contact's.
    #[serde(skip)]
    pub schema_version: Option<u32>,
}

/// A tenant's contacts as projected: one by id or external id, filtered
/// pages, and a contact's history.
#[async_trait]
pub trait Contacts: Send + Sync + 'static {
    async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, Unavailable>;
    async fn contact_by_external_id(&self, tenant: TenantId, external_id: &str)
    -> Result<Option<Contact>, Unavailable>;
    /// At most `limit` contacts from `cursor`, ordered by id.
    async fn contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        cursor: Cursor,
        limit: u32,
    ) -> Result<Vec<Contact>, Unavailable>;
    /// How many contacts the filter matches.
    async fn count_contacts(&self, tenant: TenantId, filter: &ContactFilter) -> Result<u64, Unavailable>;
    async fn contact_events(&self, tenant: TenantId, id: ContactId) -> Result<Vec<EventView>, Unavailable>;
}
