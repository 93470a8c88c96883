//! The bodies of the native API as the document describes them. The handlers
//! read bodies with the domain's wire (`ledger_domain::wire`) and write them
//! with `json!`, so these types exist for their schemas only: each mirrors
//! what its handler reads or writes, reusing the domain's own types (and so
//! their schemas) wherever the wire shape is theirs. The HTTP tests hold
//! every real answer against them (`tests/api/support.rs` checks each one),
//! and send the example bodies to the real handlers (`tests/api/openapi.rs`).
#![allow(dead_code, reason = "described, never built: these types exist for their schemas")]

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use ledger_domain::{
    Code, CommandId, ContactId, ContactKind, FieldError, InviteId, MatchOn, Profile, TenantId, Warning,
    command::{ConfigureTenant, DefineAccessRole},
    roles::{Effective, GrantItem, GrantRule, GrantStatus},
    rules::PASSWORD_RULE,
};
use schemars::{JsonSchema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::{commands::NOT_THROUGH_API, openapi::bridge};

fn password() -> String {
    format!(
        "The plaintext password: hashed with argon2id on arrival, never stored, logged or published. It {PASSWORD_RULE}."
    )
}

// ---- Requests ----------------------------------------------------------------------------

/// A new contact: its kind, its profile, and for a user a password or an
/// invite, and access roles. Unknown fields are refused (422
/// `unknown_field`); `null` or an empty string leaves a field out.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = examples::new_user(), example = examples::new_contact())]
pub struct NewContact {
    pub kind: ContactKind,
    /// The client's own contact type number; fixed at creation.
    pub type_id: Option<i64>,
    #[serde(flatten)]
    pub profile: Profile,
    #[schemars(description = password(), extend("writeOnly" = true, "format" = "password"))]
    pub password: Option<String>,
    /// Email the user a link to set their password (users only).
    #[serde(default)]
    pub invite: bool,
    /// Grants for a user: each a role reference (the role's grant rule
    /// applies) or a grant object. Other kinds ignore them, with a warning.
    #[serde(default)]
    pub access_roles: Vec<GrantItem>,
}

/// Create or update: the contact matched by `email` (the default) or by
/// `external_id` among contacts of its kind is updated with the fields
/// given, or created when there is none.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = examples::upsert_by_email(), example = examples::upsert_by_external_id())]
pub struct ContactUpsert {
    /// What finds the contact to update; the field it names is required.
    #[serde(default = "email")]
    pub match_on: MatchOn,
    #[serde(default = "contact")]
    pub kind: ContactKind,
    /// The client's own contact type number; fixed at creation.
    pub type_id: Option<i64>,
    #[serde(flatten)]
    pub profile: Profile,
    #[schemars(description = password(), extend("writeOnly" = true, "format" = "password"))]
    pub password: Option<String>,
    /// Email the user a link to set their password (users only).
    #[serde(default)]
    pub invite: bool,
    /// Grants for a user, as in a create.
    #[serde(default)]
    pub access_roles: Vec<GrantItem>,
}

fn email() -> MatchOn {
    MatchOn::Email
}

fn contact() -> ContactKind {
    ContactKind::Contact
}

/// A JSON merge patch (RFC 7386) of the contact's profile.
pub struct ContactPatch;

const PATCH: &str = "A JSON merge patch (RFC 7386) of the contact's profile: each field given replaces the \
    stored one, `null` clears it, and `address` and `metadata` are merged member by member. `kind` and `type_id` \
    are fixed at creation: they may be repeated as they are, never changed (422 `immutable_field`). The read-only \
    fields (`id`, `number`, `version`, `registered`, `created_at`, `updated_at`, `password`, `password_hash`, \
    `invite`) are refused (422 `read_only`), as is any unknown field.";

impl JsonSchema for ContactPatch {
    fn schema_name() -> Cow<'static, str> {
        "ContactPatch".into()
    }

    /// The profile's schema with every field nullable, plus the fixed fields.
    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        let profile = generator.subschema_for::<Profile>();
        let mut properties: Map<String, Value> = profile
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|(name, schema)| (name, nullable(schema)))
            .collect();
        let mut kind = generator.subschema_for::<ContactKind>().to_value();
        if let Value::Object(kind) = &mut kind {
            kind.insert("description".into(), json!("As at creation; it cannot change."));
        }
        properties.insert("kind".into(), kind);
        properties.insert(
            "type_id".into(),
            json!({"type": ["integer", "null"], "format": "int64", "description": "As at creation; it cannot change."}),
        );
        json_schema!({
            "description": PATCH,
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
            "examples": [examples::patch()],
        })
    }
}

/// A schema that also admits `null`.
fn nullable(schema: Value) -> Value {
    let mut schema = schema;
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        if !types.contains(&json!("null")) {
            types.push(json!("null"));
        }
        return schema;
    }
    if let Some(Value::String(t)) = schema.get("type").cloned() {
        schema["type"] = json!([t, "null"]);
        schema.as_object_mut().map(|s| s.remove("default"));
        return schema;
    }
    let admits_null =
        schema.get("anyOf").and_then(Value::as_array).is_some_and(|a| a.contains(&json!({"type": "null"})));
    if admits_null { schema } else { json!({"anyOf": [schema, {"type": "null"}]}) }
}

/// Access roles to grant to a user: each a role reference (the role's grant
/// rule applies) or a grant object (an expiry, and `status: "active"` to
/// bypass the rule). A contact that is not a user ignores them, with a
/// warning. The path names the contact (a `contact_id` here is refused).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = examples::role_grants())]
pub struct RoleGrants {
    pub access_roles: Vec<GrantItem>,
}

/// The token from the invite link, and the password to set.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = examples::invite_acceptance())]
pub struct InviteAcceptance {
    /// The token of the invite link (`/invite/{token}`).
    pub token: String,
    #[schemars(description = password(), extend("writeOnly" = true, "format" = "password"))]
    pub password: String,
}

/// A role for the tenant's catalogue.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRoleDefinition {
    #[serde(flatten)]
    pub role: DefineAccessRole,
}

/// Switches contact capture (`/v1/contacts/upsert`, vendor create-or-update
/// routes) on or off.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    #[serde(flatten)]
    pub settings: ConfigureTenant,
}

/// A command envelope as it travels on the commands topic: a `type` and its
/// `payload` (as in `schemas/commands/<type>.v1.json`, the log's form: a
/// `password_hash`, never a plaintext). `command_id` (the idempotency key
/// of the command), `tenant_id` (the key's own tenant) and `issued_at` are
/// filled in when left out. `CreateTenant`, `RecordInviteSent`,
/// `RecordInviteDeliveryFailed` and `AcceptInvite` cannot be sent this way
/// (403 `command_not_allowed`).
pub struct CommandEnvelope;

impl JsonSchema for CommandEnvelope {
    fn schema_name() -> Cow<'static, str> {
        "CommandEnvelope".into()
    }

    /// The domain's `Command` (`{type, payload}`, one variant per type)
    /// without the types the API refuses, each with the envelope's fields.
    fn json_schema(generator: &mut SchemaGenerator) -> schemars::Schema {
        let command = generator.subschema_for::<ledger_domain::Command>();
        let envelope = json!({
            "command_id": generator.subschema_for::<CommandId>(),
            "tenant_id": generator.subschema_for::<TenantId>(),
            "issued_at": {"type": "string", "format": "date-time"},
        });
        let variants: Vec<Value> = command
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|v| {
                let name = v.pointer("/properties/type/const").or_else(|| v.pointer("/properties/type/enum/0"));
                !name.and_then(Value::as_str).is_some_and(|n| NOT_THROUGH_API.contains(&n))
            })
            .map(|v| {
                let mut v = v.clone();
                if let (Some(Value::Object(properties)), Value::Object(extra)) =
                    (v.get_mut("properties"), envelope.clone())
                {
                    properties.extend(extra);
                }
                v["additionalProperties"] = json!(false);
                v
            })
            .collect();
        json_schema!({ "oneOf": variants, "examples": [examples::envelope()] })
    }
}

// ---- Responses ---------------------------------------------------------------------------

// A contact as the read model shows it: the domain's `Contact` itself (a doc
// comment here would make it a schema of its own, shadowing the domain's).
#[derive(JsonSchema)]
#[serde(transparent)]
pub struct Contact(pub ledger_domain::Contact);

/// The new contact; `warnings` when the create did less than it asked for
/// (access roles given to a contact that is not a user).
#[derive(JsonSchema)]
pub struct CreatedContact {
    #[serde(flatten)]
    pub contact: ledger_domain::Contact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

/// The contact created or updated, and which it was.
#[derive(JsonSchema)]
pub struct UpsertedContact {
    #[serde(flatten)]
    pub contact: ledger_domain::Contact,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Outcome {
    /// 201: no contact matched, so one was created.
    Created,
    /// 200: the matched contact was updated (or already was so).
    Updated,
}

/// A page of contacts ordered by id.
#[derive(JsonSchema)]
pub struct ContactPage {
    pub data: Vec<ledger_domain::Contact>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The `cursor` of the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// A contact's history, oldest first.
#[derive(JsonSchema)]
pub struct EventList {
    pub data: Vec<ContactEvent>,
}

/// One event of a contact's history.
#[derive(JsonSchema)]
pub struct ContactEvent {
    /// The event type, e.g. `ContactCreated`, `ContactUpdated`, `RoleGranted`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The contact's version after the event.
    pub version: u64,
    /// When the command that caused it was issued.
    pub time: DateTime<Utc>,
    pub command_id: CommandId,
    /// The event's data as in `schemas/events/<type>.v1.json`, with secrets
    /// (a `password_hash`) left out.
    pub data: Map<String, Value>,
}

/// A contact's grants, each with what it amounts to at `as_of`.
#[derive(JsonSchema)]
pub struct GrantList {
    /// The moment the `effective` statuses are judged at.
    pub as_of: DateTime<Utc>,
    pub data: Vec<GrantEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

/// A grant of an access role.
#[derive(JsonSchema)]
pub struct GrantEntry {
    pub reference: String,
    /// As recorded: `active`, or `pending` until approved or verified.
    pub status: GrantStatus,
    /// What the grant amounts to at `as_of` (`revoked` only in a past list).
    pub effective: Effective,
    pub expires: Option<DateTime<Utc>>,
    /// When the grant was last given or changed.
    pub granted_at: DateTime<Utc>,
    /// In a past list (`as_of`), when it had been revoked by then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The invite requested; the mailer sends its link.
#[derive(JsonSchema)]
pub struct InviteCreated {
    pub invite_id: InviteId,
    pub contact_id: ContactId,
    pub expires_at: DateTime<Utc>,
}

/// The invited user's contact, now registered with the password set.
#[derive(JsonSchema)]
pub struct InviteAccepted {
    pub contact: ledger_domain::Contact,
    pub registered: bool,
}

/// A role of the tenant's catalogue.
#[derive(JsonSchema)]
pub struct AccessRole {
    pub reference: String,
    pub name: String,
    pub grant_rule: GrantRule,
    pub created_at: DateTime<Utc>,
}

/// The tenant's whole role catalogue, ordered by reference.
#[derive(JsonSchema)]
pub struct AccessRoleList {
    pub data: Vec<AccessRole>,
}

/// The command was published; poll its status at `Location`.
#[derive(JsonSchema)]
pub struct CommandSubmitted {
    pub command_id: CommandId,
    pub status: Pending,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Pending {
    Pending,
}

/// How a command was decided, or that it is not decided yet.
#[derive(JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CommandState {
    /// Published, not decided yet.
    Pending { command_id: CommandId },
    /// Decided and accepted: the events it appended (none when it changed nothing).
    Accepted {
        command_id: CommandId,
        #[serde(rename = "type")]
        command_type: String,
        /// The contact it concerned, if any.
        contact_id: Option<ContactId>,
        events: Vec<ContactEvent>,
    },
    /// Decided and rejected: the problem a synchronous call would have answered.
    Rejected {
        command_id: CommandId,
        #[serde(rename = "type")]
        command_type: String,
        problem: Problem,
    },
}

/// The caller's tenant.
#[derive(JsonSchema)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub name: String,
    /// Whether create-or-update routes may create contacts.
    pub contact_capture: bool,
}

/// The process is up.
#[derive(JsonSchema)]
pub struct Health {
    pub status: Ok,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Ok {
    Ok,
}

/// The broker, the database and the command handler all answered.
#[derive(JsonSchema)]
pub struct Ready {
    pub status: ReadyStatus,
    pub checks: Checks,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum ReadyStatus {
    Ready,
}

/// Each dependency, and whether it answered within the port timeout.
#[derive(JsonSchema)]
pub struct Checks {
    pub broker: bool,
    pub database: bool,
    /// Every partition has a live command handler past its claim.
    pub handler: bool,
    /// Every partition has a live projector.
    pub projector: bool,
}

/// `not_ready`: the problem, with each check and the names of those that failed.
#[derive(JsonSchema)]
pub struct NotReady {
    #[serde(flatten)]
    pub problem: Problem,
    pub checks: Checks,
    pub failed: Vec<Dependency>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Dependency {
    Broker,
    Database,
    Handler,
    Projector,
}

/// An error, as RFC 9457 problem details (`application/problem+json`). The
/// `code` is stable (the API contract: see the table in the introduction);
/// `detail` is for people. A validation problem lists every failing field in
/// `errors` at once (the first 100, and how many more in `errors_omitted`).
#[derive(JsonSchema)]
pub struct Problem {
    /// `urn:contact-ledger:problem:<code>`.
    #[serde(rename = "type")]
    #[schemars(extend("format" = "uri"))]
    pub problem_type: String,
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    pub code: Code,
    pub detail: String,
    /// Every failing field (`validation_failed`), or the field a conflict is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// `validation_failed` with more failing fields than one answer lists
    /// (100): how many are not in `errors`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_omitted: Option<u64>,
    /// `decision_pending`: the command that was published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_id: Option<CommandId>,
    /// `decision_pending`: where to poll its decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

bridge!(
    Request: NewContact,
    ContactUpsert,
    ContactPatch,
    RoleGrants,
    InviteAcceptance,
    AccessRoleDefinition,
    TenantSettings,
    CommandEnvelope,
);

bridge!(
    Response: Contact,
    CreatedContact,
    UpsertedContact,
    ContactPage,
    EventList,
    GrantList,
    InviteCreated,
    InviteAccepted,
    AccessRole,
    AccessRoleList,
    CommandSubmitted,
    CommandState,
    Tenant,
    Health,
    Ready,
    NotReady,
    Problem,
);

/// Example bodies (the document's tests check each against its schema).
pub mod examples {
    use serde_json::{Value, json};

    pub fn new_user() -> Value {
        json!({
            "kind": "user",
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Analytical Engines Ltd",
            "address": {"line1": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH", "country_code": "GB"},
            "tags": ["vip"],
            "password": "analytical1engine",
            "access_roles": ["newsletter", {"reference": "trade-account", "expires": "2030-01-01T00:00:00Z"}],
        })
    }

    pub fn new_contact() -> Value {
        json!({"kind": "contact", "email": "grace@example.com", "first_name": "Grace", "metadata": {"source": "fair"}})
    }

    pub fn upsert_by_email() -> Value {
        json!({"email": "grace@example.com", "first_name": "Grace", "metadata": {"plan": "gold"}})
    }

    pub fn upsert_by_external_id() -> Value {
        json!({"match_on": "external_id", "external_id": "crm-1042", "email": "linus@example.com", "title": "CTO"})
    }

    pub fn patch() -> Value {
        json!({"title": "Countess", "phone": null, "address": {"city": "Leeds"}, "tags": ["vip", "speaker"]})
    }

    pub fn role_grants() -> Value {
        json!({"access_roles": ["newsletter", {"reference": "trade-account", "expires": "2030-01-01T00:00:00Z", "status": "active"}]})
    }

    pub fn invite_acceptance() -> Value {
        json!({"token": "k3J9s0d8f7G6h5J4k3L2", "password": "analytical1engine"})
    }

    pub fn envelope() -> Value {
        json!({
            "command_id": "01J9ZQ3M8N2P4R6S8T0V2W4X6Y",
            "type": "PatchContact",
            "payload": {"contact_id": "contact_01J9ZQ3M8N2P4R6S8T0V2W4X6Z", "expected_version": 3, "patch": {"title": "CTO"}},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::schema::Side;
    use ledger_domain::contact::PROFILE_FIELDS;

    fn schema_of<T: JsonSchema>() -> Value {
        crate::openapi::schema::generate_for_test::<T>(Side::Request)
    }

    #[test]
    fn a_patch_names_every_profile_field_nullable_and_the_fixed_ones() {
        let schema = schema_of::<ContactPatch>();
        let properties = schema["properties"].as_object().unwrap();
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort();
        let mut want: Vec<&str> = PROFILE_FIELDS.iter().copied().chain(["kind", "type_id"]).collect();
        want.sort();
        assert_eq!(names, want);
        for name in PROFILE_FIELDS {
            let accepts_null = jsonschema::is_valid(&properties[*name], &json!(null));
            assert!(accepts_null, "{name}: {}", properties[*name]);
        }
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn an_envelope_offers_every_command_an_api_key_may_send() {
        let schema = schema_of::<CommandEnvelope>();
        let types: Vec<&str> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.pointer("/properties/type/enum/0").and_then(Value::as_str).unwrap())
            .collect();
        let want: Vec<&str> =
            ledger_domain::Command::TYPES.iter().copied().filter(|t| !NOT_THROUGH_API.contains(t)).collect();
        assert_eq!(types, want);
    }
}
