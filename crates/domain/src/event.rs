//! Events: what happened, in the past tense. Each has a stable type name and
//! a schema version; old versions stay readable forever (upcast on read).
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    contact::{ContactKind, Profile},
    ids::{ContactId, InviteId},
    roles::{GrantRule, GrantStatus},
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantCreated {
    pub name: String,
    pub api_key_hash: String,
    pub contact_capture: bool,
    pub at: DateTime<Utc>,
}

/// The tenant's API key was replaced: `api_key_hash` is key `key_version`;
/// the keys before it work until `previous_valid_until`, then never.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyRotated {
    pub api_key_hash: String,
    pub key_version: u32,
    pub previous_valid_until: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantConfigured {
    pub contact_capture: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContactCreated {
    pub contact_id: ContactId,
    pub number: u64,
    pub kind: ContactKind,
    pub type_id: Option<i64>,
    pub profile: Profile,
    pub version: u64,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContactUpdated {
    pub contact_id: ContactId,
    /// The whole profile after the change, so a reader never needs the past.
    pub profile: Profile,
    pub changed: Vec<String>,
    pub version: u64,
    pub at: DateTime<Utc>,
}

/// The contact is gone: it leaves every read model and list, and its email
/// and external id are free again; its events stay in the log (and its
/// history stays readable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContactDeleted {
    pub contact_id: ContactId,
    pub version: u64,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PasswordSet {
    pub contact_id: ContactId,
    /// argon2id PHC string.
    pub password_hash: String,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteRequested {
    pub contact_id: ContactId,
    pub invite_id: InviteId,
    pub expires_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteSent {
    pub contact_id: ContactId,
    pub invite_id: InviteId,
    /// The `Message-ID` the mail went out with (derived from the invite id).
    pub message_id: String,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteDeliveryFailed {
    pub contact_id: ContactId,
    pub invite_id: InviteId,
    pub reason: String,
    pub attempts: u32,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InviteAccepted {
    pub contact_id: ContactId,
    pub invite_id: InviteId,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessRoleDefined {
    pub reference: String,
    pub name: String,
    pub grant_rule: GrantRule,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleGranted {
    pub contact_id: ContactId,
    pub reference: String,
    pub status: GrantStatus,
    pub expires: Option<DateTime<Utc>>,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleActivated {
    pub contact_id: ContactId,
    pub reference: String,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleRevoked {
    pub contact_id: ContactId,
    pub reference: String,
    pub version: u64,
}

/// Every event once: its variant and data type. The variant's name is the
/// event's type name in the log (serde's tag, `TYPES` and `event_type` all
/// come from this one list).
macro_rules! events {
    ($($variant:ident($data:ty)),* $(,)?) => {
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(tag = "type", content = "data")]
        pub enum Event {
            $($variant($data)),*
        }

        impl Event {
            /// Every event type name, in the order of the variants.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant)),*];

            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => stringify!($variant)),*
                }
            }
        }
    };
}

events! {
    TenantCreated(TenantCreated),
    TenantConfigured(TenantConfigured),
    ApiKeyRotated(ApiKeyRotated),
    ContactCreated(ContactCreated),
    ContactUpdated(ContactUpdated),
    PasswordSet(PasswordSet),
    InviteRequested(InviteRequested),
    InviteSent(InviteSent),
    InviteDeliveryFailed(InviteDeliveryFailed),
    InviteAccepted(InviteAccepted),
    AccessRoleDefined(AccessRoleDefined),
    RoleGranted(RoleGranted),
    RoleActivated(RoleActivated),
    RoleRevoked(RoleRevoked),
    ContactDeleted(ContactDeleted),
}

impl Event {
    /// Schema version of the event's data (see `upcast`).
    pub fn event_version(&self) -> u32 {
        crate::upcast::current_version(self.event_type()).unwrap_or(1)
    }

    pub fn contact_id(&self) -> Option<ContactId> {
        match self {
            Event::ContactCreated(e) => Some(e.contact_id),
            Event::ContactUpdated(e) => Some(e.contact_id),
            Event::PasswordSet(e) => Some(e.contact_id),
            Event::InviteRequested(e) => Some(e.contact_id),
            Event::InviteSent(e) => Some(e.contact_id),
            Event::InviteDeliveryFailed(e) => Some(e.contact_id),
            Event::InviteAccepted(e) => Some(e.contact_id),
            Event::RoleGranted(e) => Some(e.contact_id),
            Event::RoleActivated(e) => Some(e.contact_id),
            Event::RoleRevoked(e) => Some(e.contact_id),
            Event::ContactDeleted(e) => Some(e.contact_id),
            Event::TenantCreated(_)
            | Event::TenantConfigured(_)
            | Event::ApiKeyRotated(_)
            | Event::AccessRoleDefined(_) => None,
        }
    }

    /// The contact's version after this event, for contact events.
    pub fn contact_version(&self) -> Option<u64> {
        match self {
            Event::ContactCreated(e) => Some(e.version),
            Event::ContactUpdated(e) => Some(e.version),
            Event::PasswordSet(e) => Some(e.version),
            Event::InviteRequested(e) => Some(e.version),
            Event::InviteSent(e) => Some(e.version),
            Event::InviteDeliveryFailed(e) => Some(e.version),
            Event::InviteAccepted(e) => Some(e.version),
            Event::RoleGranted(e) => Some(e.version),
            Event::RoleActivated(e) => Some(e.version),
            Event::RoleRevoked(e) => Some(e.version),
            Event::ContactDeleted(e) => Some(e.version),
            Event::TenantCreated(_)
            | Event::TenantConfigured(_)
            | Event::ApiKeyRotated(_)
            | Event::AccessRoleDefined(_) => None,
        }
    }

    /// The data as JSON; an error rather than `null` when it cannot be written.
    pub fn data(&self) -> Result<serde_json::Value, serde_json::Error> {
        let full = serde_json::to_value(self)?;
        Ok(full.get("data").cloned().unwrap_or(serde_json::Value::Null))
    }

    /// Rebuilds an event from its type, the schema version it was written
    /// with and its data: older versions are upcast first (`upcast`).
    pub fn from_parts(event_type: &str, version: u32, data: serde_json::Value) -> Result<Event, serde_json::Error> {
        use serde::de::Error as _;
        let data = crate::upcast::upcast(event_type, version, data).map_err(serde_json::Error::custom)?;
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": data }))
    }
}
