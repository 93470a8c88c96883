//! Example payloads, one or two per command, that the published JSON Schemas
//! carry (`#[schemars(example = ...)]` on the command types). They are part
//! of the wire contract, so the schema tests feed each one to
//! `wire::parse`: an example the parser refuses fails the build.
use serde_json::{Value, json};

const CONTACT: &str = "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const INVITE: &str = "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV";

pub(crate) fn delete_contact() -> Value {
    json!({ "contact_id": CONTACT, "expected_version": 3 })
}

pub(crate) fn create_tenant() -> Value {
    json!({ "name": "Acme Ltd", "api_key_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" })
}

pub(crate) fn rotate_api_key() -> Value {
    json!({ "api_key_hash": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", "previous_valid_secs": 86400 })
}

pub(crate) fn configure_tenant() -> Value {
    json!({ "contact_capture": false })
}

/// A user invited to set their password, with roles by rule and by bypass.
pub(crate) fn create_user() -> Value {
    json!({
        "kind": "user",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "external_id": "crm-1815",
        "tags": ["newsletter"],
        "address": { "line1": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH", "country_code": "GB" },
        "invite": true,
        "access_roles": ["customer", { "reference": "trade-account", "expires": "2030-01-01T00:00:00Z", "status": "active" }],
    })
}

pub(crate) fn create_contact() -> Value {
    json!({ "kind": "contact", "email": "sam@example.com", "metadata": { "source": "webinar" } })
}

pub(crate) fn upsert_contact() -> Value {
    json!({ "match_on": "email", "kind": "contact", "email": "sam@example.com", "first_name": "Sam", "tags": ["lead"] })
}

pub(crate) fn patch_contact() -> Value {
    json!({ "contact_id": CONTACT, "expected_version": 3, "patch": { "title": "CTO", "phone": null } })
}

pub(crate) fn define_access_role() -> Value {
    json!({ "reference": "trade-account", "name": "Trade account", "grant_rule": "manual_approval" })
}

pub(crate) fn grant_roles() -> Value {
    json!({
        "contact_id": CONTACT,
        "access_roles": [
            "customer",
            { "reference": "newsletter", "expires": "2030-01-01T00:00:00Z" },
            { "reference": "trade-account", "status": "active" },
        ],
    })
}

/// `ApproveRole` and `RevokeRole`.
pub(crate) fn role_ref() -> Value {
    json!({ "contact_id": CONTACT, "reference": "trade-account" })
}

pub(crate) fn request_invite() -> Value {
    json!({ "contact_id": CONTACT })
}

pub(crate) fn record_invite_sent() -> Value {
    json!({ "invite_id": INVITE, "message_id": "<invite-01ARZ3NDEKTSV4RRFFQ69G5FAV@contact-ledger>" })
}

pub(crate) fn record_invite_delivery_failed() -> Value {
    json!({ "invite_id": INVITE, "reason": "550 5.1.1 mailbox unavailable", "attempts": 5 })
}

pub(crate) fn accept_invite() -> Value {
    json!({ "invite_id": INVITE, "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA" })
}
