//! The contact model shared by every vendor shape: one record type with a
//! `kind` (Evance's user/guest/branch/recipient plus the lightweight
//! `contact` of Zephr, orq.ai and emnify).
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{AddressId, ContactId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    User,
    Guest,
    Branch,
    Recipient,
    Contact,
}

impl ContactKind {
    /// A packed contact (and so a snapshot) stores its kind as its index
    /// here: a reorder changes the encoding, which the protocol's golden
    /// snapshot test catches until the snapshot format number is raised.
    pub const ALL: [ContactKind; 5] =
        [ContactKind::User, ContactKind::Guest, ContactKind::Branch, ContactKind::Recipient, ContactKind::Contact];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::User => "user",
            ContactKind::Guest => "guest",
            ContactKind::Branch => "branch",
            ContactKind::Recipient => "recipient",
            ContactKind::Contact => "contact",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds whose email must be unique among contacts of the same kind.
    pub fn email_is_unique(self) -> bool {
        !matches!(self, ContactKind::Guest)
    }
}

/// A primary address as stored: names and company are filled from the contact
/// when the address is set without them (Evance's inheritance rule).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    pub id: Option<AddressId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

/// Everything about a contact that a client may set and change later.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 120))]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_order_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Profile {
    /// Names of the fields whose values differ, in declaration order.
    pub fn changed_fields(&self, other: &Profile) -> Vec<String> {
        let (a, b) = (to_map(self), to_map(other));
        PROFILE_FIELDS.iter().filter(|f| a.get(**f) != b.get(**f)).map(|f| (*f).to_owned()).collect()
    }
}

/// A Profile always serialises to an object (strings, ids and string-keyed
/// maps only), so the empty map is never used.
fn to_map(p: &Profile) -> Map<String, Value> {
    match serde_json::to_value(p) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// The profile's fields as it serialises them: what the wire reads, what a
/// change lists, and what the store's columns are checked against.
pub const PROFILE_FIELDS: &[&str] = &[
    "external_id",
    "email",
    "first_name",
    "last_name",
    "name",
    "company",
    "title",
    "department",
    "phone",
    "mobile",
    "avatar_url",
    "purchase_order_number",
    "address",
    "tags",
    "metadata",
];

/// An address's fields as it serialises them, but for its `id`.
pub const ADDRESS_FIELDS: &[&str] =
    &["line1", "line2", "line3", "city", "region", "zip", "country_code", "first_name", "last_name", "company"];

/// A contact as the domain knows it: the state a decision is taken against,
/// and the shape the read model serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    pub id: ContactId,
    pub number: u64,
    pub kind: ContactKind,
    pub type_id: Option<i64>,
    #[serde(flatten)]
    pub profile: Profile,
    pub registered: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Emails are compared trimmed and lowercased; the address as given is kept
/// for display.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: Value) -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// The field lists are what serde writes, in no particular order: a
    /// field added to `Profile` or `Address` without them fails here.
    #[test]
    fn the_field_lists_are_the_serialised_fields() {
        let s = || Some("x".to_owned());
        let address = Address {
            id: None,
            line1: s(),
            line2: s(),
            line3: s(),
            city: s(),
            region: s(),
            zip: s(),
            country_code: s(),
            first_name: s(),
            last_name: s(),
            company: s(),
        };
        let mut a = keys(serde_json::to_value(&address).unwrap());
        a.retain(|k| k != "id");
        let mut want: Vec<String> = ADDRESS_FIELDS.iter().map(|f| f.to_string()).collect();
        a.sort();
        want.sort();
        assert_eq!(a, want);
        let profile = Profile {
            external_id: s(),
            email: s(),
            first_name: s(),
            last_name: s(),
            name: s(),
            company: s(),
            title: s(),
            department: s(),
            phone: s(),
            mobile: s(),
            avatar_url: s(),
            purchase_order_number: s(),
            address: Some(address),
            tags: BTreeSet::from(["t".to_owned()]),
            metadata: Map::new(),
        };
        let mut p = keys(serde_json::to_value(&profile).unwrap());
        let mut want: Vec<String> = PROFILE_FIELDS.iter().map(|f| f.to_string()).collect();
        p.sort();
        want.sort();
        assert_eq!(p, want);
    }
}
