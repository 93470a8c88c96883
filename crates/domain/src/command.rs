//! Commands: what a client asks for, as types. Each has a stable `type` name
//! and a JSON payload; `wire::parse` reads a payload (shape only) and
//! `Command::payload` writes it back. What a command may do is decided by
//! `decide`, under the rules in `rules`.
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    contact::ContactKind,
    contact::Profile,
    examples,
    ids::{ContactId, InviteId},
    patch::ProfilePatch,
    roles::{GrantItem, GrantRequest, GrantRule},
    secret::Password,
};

/// What the parser checks of a password hash: an argon2id PHC string.
pub(crate) const ARGON2ID: &str = r"^\$argon2id\$";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::create_tenant())]
pub struct CreateTenant {
    pub name: String,
    /// SHA-256 (hex) of the tenant's API key; the key itself never leaves the CLI.
    pub api_key_hash: String,
}

/// A new API key for the tenant; the one in force keeps working for
/// `previous_valid_secs` more, then never.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::rotate_api_key())]
pub struct RotateApiKey {
    /// SHA-256 (hex) of the new API key; the key itself never leaves the CLI.
    pub api_key_hash: String,
    /// How long the keys in force before keep working, in seconds (0: they
    /// stop at once; at most 30 days).
    #[schemars(range(min = 0, max = 2_592_000))]
    pub previous_valid_secs: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::configure_tenant())]
pub struct ConfigureTenant {
    pub contact_capture: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::create_user(), example = examples::create_contact())]
pub struct CreateContact {
    /// Optional; when absent the contact id is derived from the command id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    pub kind: ContactKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<i64>,
    #[serde(flatten)]
    pub profile: Profile,
    /// An argon2id PHC string, made at the edge; never a plaintext password.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(ARGON2ID))]
    pub password_hash: Option<String>,
    /// The plaintext from an HTTP body, until the edge hashes it into
    /// `password_hash`; never serialised, so never in the log.
    #[serde(skip)]
    #[schemars(skip)]
    pub password: Option<Password>,
    #[serde(default)]
    pub invite: bool,
    /// Grants for a user; ignored for other kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<GrantItem>")]
    pub access_roles: Vec<GrantRequest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchOn {
    Email,
    ExternalId,
}

/// Zephr's create-or-update: find the contact by email (or external id) and
/// update it, or create it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::upsert_contact())]
pub struct UpsertContact {
    pub match_on: MatchOn,
    #[serde(flatten)]
    pub contact: CreateContact,
}

/// A JSON merge patch (RFC 7386) over the contact's profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::patch_contact())]
pub struct PatchContact {
    pub contact_id: ContactId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
    #[schemars(with = "Map<String, Value>")]
    pub patch: ProfilePatch,
}

/// Deletes a contact (orq.ai, emnify, native `DELETE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::delete_contact())]
pub struct DeleteContact {
    pub contact_id: ContactId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
}

/// Adds a role to the tenant's catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::define_access_role())]
pub struct DefineAccessRole {
    /// A slug: lowercase letters, digits, `-` and `_`, at most 64.
    #[schemars(pattern(r"^[a-z0-9][a-z0-9_-]{0,63}$"))]
    pub reference: String,
    pub name: String,
    pub grant_rule: GrantRule,
}

/// Grants catalogue roles to a user (ignored for other kinds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::grant_roles())]
pub struct GrantRoles {
    pub contact_id: ContactId,
    #[schemars(with = "Vec<GrantItem>")]
    pub access_roles: Vec<GrantRequest>,
}

/// Approves a pending grant, or revokes a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::role_ref())]
pub struct RoleRef {
    pub contact_id: ContactId,
    pub reference: String,
}

/// Sends a user (another) invite to set their password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::request_invite())]
pub struct RequestInvite {
    pub contact_id: ContactId,
}

/// The mailer's report: the invite mail was accepted by the SMTP server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::record_invite_sent())]
pub struct RecordInviteSent {
    pub invite_id: InviteId,
    pub message_id: String,
}

/// The mailer's report: delivery failed after its retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::record_invite_delivery_failed())]
pub struct RecordInviteDeliveryFailed {
    pub invite_id: InviteId,
    pub reason: String,
    pub attempts: u32,
}

/// The invited user set their password (hashed at the edge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::accept_invite())]
pub struct AcceptInvite {
    pub invite_id: InviteId,
    #[schemars(pattern(ARGON2ID))]
    pub password_hash: String,
}

/// Every command once: its variant and payload type. The variant's name is
/// the command's type name on the wire (serde's tag, `TYPES` and
/// `command_type` all come from this one list).
macro_rules! commands {
    ($($variant:ident($payload:ty)),* $(,)?) => {
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
        #[serde(tag = "type", content = "payload")]
        pub enum Command {
            $($variant($payload)),*
        }

        impl Command {
            /// Every command type name, in the order of the variants.
            pub const TYPES: &'static [&'static str] = &[$(stringify!($variant)),*];

            pub fn command_type(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => stringify!($variant)),*
                }
            }
        }
    };
}

commands! {
    CreateTenant(CreateTenant),
    ConfigureTenant(ConfigureTenant),
    RotateApiKey(RotateApiKey),
    CreateContact(CreateContact),
    UpsertContact(UpsertContact),
    PatchContact(PatchContact),
    DeleteContact(DeleteContact),
    DefineAccessRole(DefineAccessRole),
    GrantRoles(GrantRoles),
    ApproveRole(RoleRef),
    RevokeRole(RoleRef),
    RequestInvite(RequestInvite),
    RecordInviteSent(RecordInviteSent),
    RecordInviteDeliveryFailed(RecordInviteDeliveryFailed),
    AcceptInvite(AcceptInvite),
}

impl Command {
    /// Puts the edge's argon2id hash of the plaintext password in a contact command.
    pub fn set_password_hash(&mut self, hash: String) {
        match self {
            Command::CreateContact(c) | Command::UpsertContact(UpsertContact { contact: c, .. }) => {
                c.password_hash = Some(hash);
            }
            _ => {}
        }
    }

    /// The payload as JSON; an error rather than `null` when it cannot be written.
    pub fn payload(&self) -> Result<Value, serde_json::Error> {
        let full = serde_json::to_value(self)?;
        Ok(full.get("payload").cloned().unwrap_or(Value::Null))
    }
}
