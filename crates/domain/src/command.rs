//! Commands: what a client asks for. Each has a stable `type` name and a JSON
//! payload; `Command::parse` reads a payload from the wire collecting every
//! field error, `Command::payload` writes it back.
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    contact::{Address, ContactKind, Profile},
    error::FieldError,
    examples,
    ids::{ContactId, InviteId},
    input::Reader,
    roles::{GrantItem, GrantRequest, GrantRule, is_reference, read_grants},
    validate::check_profile,
};

/// What the parser checks of a password hash: an argon2id PHC string.
const ARGON2ID: &str = r"^\$argon2id\$";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(example = examples::create_tenant())]
pub struct CreateTenant {
    pub name: String,
    /// SHA-256 (hex) of the tenant's API key; the key itself never leaves the CLI.
    pub api_key_hash: String,
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
    pub patch: Map<String, Value>,
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(tag = "type", content = "payload")]
pub enum Command {
    CreateTenant(CreateTenant),
    ConfigureTenant(ConfigureTenant),
    CreateContact(CreateContact),
    UpsertContact(UpsertContact),
    PatchContact(PatchContact),
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
    pub const TYPES: &'static [&'static str] = &[
        "CreateTenant",
        "ConfigureTenant",
        "CreateContact",
        "UpsertContact",
        "PatchContact",
        "DefineAccessRole",
        "GrantRoles",
        "ApproveRole",
        "RevokeRole",
        "RequestInvite",
        "RecordInviteSent",
        "RecordInviteDeliveryFailed",
        "AcceptInvite",
    ];

    pub fn command_type(&self) -> &'static str {
        match self {
            Command::CreateTenant(_) => "CreateTenant",
            Command::ConfigureTenant(_) => "ConfigureTenant",
            Command::CreateContact(_) => "CreateContact",
            Command::UpsertContact(_) => "UpsertContact",
            Command::PatchContact(_) => "PatchContact",
            Command::DefineAccessRole(_) => "DefineAccessRole",
            Command::GrantRoles(_) => "GrantRoles",
            Command::ApproveRole(_) => "ApproveRole",
            Command::RevokeRole(_) => "RevokeRole",
            Command::RequestInvite(_) => "RequestInvite",
            Command::RecordInviteSent(_) => "RecordInviteSent",
            Command::RecordInviteDeliveryFailed(_) => "RecordInviteDeliveryFailed",
            Command::AcceptInvite(_) => "AcceptInvite",
        }
    }

    /// The payload as JSON; an error rather than `null` when it cannot be written.
    pub fn payload(&self) -> Result<Value, serde_json::Error> {
        let full = serde_json::to_value(self)?;
        Ok(full.get("payload").cloned().unwrap_or(Value::Null))
    }

    /// Reads a payload of the given type, listing every field that is wrong.
    pub fn parse(command_type: &str, payload: &Value) -> Result<Command, Vec<FieldError>> {
        let Some(obj) = payload.as_object() else {
            return Err(vec![FieldError::new("payload", "invalid_type", "must be an object")]);
        };
        let mut r = Reader::new(obj);
        let command = match command_type {
            "CreateTenant" => {
                let name = required(&mut r, "name", Reader::string);
                let api_key_hash = required(&mut r, "api_key_hash", Reader::string);
                name.zip(api_key_hash)
                    .map(|(name, api_key_hash)| Command::CreateTenant(CreateTenant { name, api_key_hash }))
            }
            "ConfigureTenant" => required(&mut r, "contact_capture", Reader::bool)
                .map(|contact_capture| Command::ConfigureTenant(ConfigureTenant { contact_capture })),
            "CreateContact" => read_create(&mut r, None).map(Command::CreateContact),
            "UpsertContact" => {
                let match_on = match r.string("match_on").as_deref() {
                    None | Some("email") => Some(MatchOn::Email),
                    Some("external_id") => Some(MatchOn::ExternalId),
                    Some(_) => {
                        r.error("match_on", "invalid_value", "must be \"email\" or \"external_id\"");
                        None
                    }
                };
                let contact = read_create(&mut r, Some(ContactKind::Contact));
                match_on
                    .zip(contact)
                    .map(|(match_on, contact)| Command::UpsertContact(UpsertContact { match_on, contact }))
            }
            "PatchContact" => {
                let contact_id = read_contact_id(&mut r, "contact_id");
                let expected_version = r.int("expected_version").and_then(|v| match u64::try_from(v) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        r.error("expected_version", "invalid_value", "must not be negative");
                        None
                    }
                });
                let patch = r.object("patch").cloned();
                if patch.is_none() && !r.has("patch") {
                    r.error("patch", "required", "is required");
                }
                contact_id.zip(patch).map(|(contact_id, patch)| {
                    Command::PatchContact(PatchContact { contact_id, expected_version, patch })
                })
            }
            "DefineAccessRole" => {
                let reference = required(&mut r, "reference", Reader::string);
                if reference.as_deref().is_some_and(|x| !is_reference(x)) {
                    r.error(
                        "reference",
                        "invalid_reference",
                        "must be a slug: lowercase letters, digits, - and _, at most 64",
                    );
                }
                let name = required(&mut r, "name", Reader::string);
                let grant_rule = required(&mut r, "grant_rule", Reader::string).and_then(|x| {
                    GrantRule::parse(&x).or_else(|| {
                        r.error(
                            "grant_rule",
                            "invalid_value",
                            "must be automatic, email_verification or manual_approval",
                        );
                        None
                    })
                });
                match (reference, name, grant_rule) {
                    (Some(reference), Some(name), Some(grant_rule)) => {
                        Some(Command::DefineAccessRole(DefineAccessRole { reference, name, grant_rule }))
                    }
                    _ => None,
                }
            }
            "GrantRoles" => {
                let contact_id = read_contact_id(&mut r, "contact_id");
                if r.raw("access_roles").is_none() {
                    r.error("access_roles", "required", "is required: a list of role references or grant objects");
                }
                let access_roles = read_grants(&mut r, "access_roles");
                contact_id.map(|contact_id| Command::GrantRoles(GrantRoles { contact_id, access_roles }))
            }
            "ApproveRole" | "RevokeRole" => {
                let contact_id = read_contact_id(&mut r, "contact_id");
                let reference = required(&mut r, "reference", Reader::string);
                contact_id.zip(reference).map(|(contact_id, reference)| {
                    let role = RoleRef { contact_id, reference };
                    if command_type == "ApproveRole" { Command::ApproveRole(role) } else { Command::RevokeRole(role) }
                })
            }
            "RequestInvite" => read_contact_id(&mut r, "contact_id")
                .map(|contact_id| Command::RequestInvite(RequestInvite { contact_id })),
            "RecordInviteSent" => {
                let invite_id = read_invite_id(&mut r);
                let message_id = required(&mut r, "message_id", Reader::string);
                invite_id.zip(message_id).map(|(invite_id, message_id)| {
                    Command::RecordInviteSent(RecordInviteSent { invite_id, message_id })
                })
            }
            "RecordInviteDeliveryFailed" => {
                let invite_id = read_invite_id(&mut r);
                let reason = required(&mut r, "reason", Reader::string);
                let attempts = match r.int("attempts").map(u32::try_from) {
                    None => 1,
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        r.error("attempts", "invalid_value", "must be a whole number from 0 to 4294967295");
                        0
                    }
                };
                invite_id.zip(reason).map(|(invite_id, reason)| {
                    Command::RecordInviteDeliveryFailed(RecordInviteDeliveryFailed { invite_id, reason, attempts })
                })
            }
            "AcceptInvite" => {
                let invite_id = read_invite_id(&mut r);
                let password_hash = required(&mut r, "password_hash", Reader::string);
                if password_hash.as_deref().is_some_and(|h| !h.starts_with("$argon2id$")) {
                    r.error("password_hash", "invalid_hash", "must be an argon2id PHC string");
                }
                invite_id
                    .zip(password_hash)
                    .map(|(invite_id, password_hash)| Command::AcceptInvite(AcceptInvite { invite_id, password_hash }))
            }
            _ => {
                return Err(vec![FieldError::new(
                    "type",
                    "unknown_command",
                    format!("must be one of {}", Command::TYPES.join(", ")),
                )]);
            }
        };
        let errors = r.finish();
        match command {
            Some(c) if errors.is_empty() => Ok(c),
            _ if errors.is_empty() => Err(vec![FieldError::new("payload", "invalid", "could not be read")]),
            _ => Err(errors),
        }
    }
}

fn required<'a, T>(r: &mut Reader<'a>, key: &'a str, read: fn(&mut Reader<'a>, &'a str) -> Option<T>) -> Option<T> {
    let before = r.error_count();
    let v = read(r, key);
    if v.is_none() && r.error_count() == before {
        r.error(key, "required", "is required");
    }
    v
}

fn read_contact_id<'a>(r: &mut Reader<'a>, key: &'a str) -> Option<ContactId> {
    let s = required(r, key, Reader::string)?;
    match s.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            r.error(key, "invalid_id", "must be a contact id (contact_<ULID>)");
            None
        }
    }
}

fn read_invite_id<'a>(r: &mut Reader<'a>) -> Option<InviteId> {
    let s = required(r, "invite_id", Reader::string)?;
    match s.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            r.error("invite_id", "invalid_id", "must be an invite id (invite_<ULID>)");
            None
        }
    }
}

/// Reads the kind: `hq` is refused by name (Evance does not allow adding one).
pub fn read_kind<'a>(r: &mut Reader<'a>, default: Option<ContactKind>) -> Option<ContactKind> {
    let before = r.error_count();
    match r.string("kind") {
        None => {
            if default.is_none() && r.error_count() == before {
                r.error("kind", "required", "is required: user, guest, branch, recipient or contact");
            }
            default
        }
        Some(k) if k == "hq" => {
            r.error("kind", "kind_not_allowed", "an hq contact cannot be added");
            None
        }
        Some(k) => ContactKind::parse(&k).or_else(|| {
            r.error("kind", "invalid_value", "must be one of user, guest, branch, recipient, contact");
            None
        }),
    }
}

fn read_create<'a>(r: &mut Reader<'a>, default_kind: Option<ContactKind>) -> Option<CreateContact> {
    let creating = default_kind.is_none();
    let contact_id = if r.has("contact_id") { read_contact_id(r, "contact_id") } else { None };
    let kind = read_kind(r, default_kind);
    let type_id = r.int("type_id");
    let profile = read_profile(r);
    let password_hash = r.string("password_hash");
    if let Some(h) = &password_hash
        && !h.starts_with("$argon2id$")
    {
        r.error("password_hash", "invalid_hash", "must be an argon2id PHC string");
    }
    let invite = r.bool("invite").unwrap_or(false);
    let access_roles = read_grants(r, "access_roles");
    // Field rules run here too, so one answer lists parse and rule failures
    // together; `decide` applies the same rules again against the state.
    let mut rules = check_profile(&profile, type_id);
    if !creating && type_id.is_none() {
        // An upsert may update an existing invoice contact: its type is only
        // known against the state, so `decide` checks this rule there.
        rules.retain(|e| e.code != "only_for_invoice_contacts");
    }
    if let (Some(kind), true) = (kind, creating) {
        let c = CreateContact {
            contact_id,
            kind,
            type_id,
            profile: profile.clone(),
            password_hash: password_hash.clone(),
            invite,
            access_roles: Vec::new(),
        };
        rules = crate::decide::create_rules(&c);
    }
    let failed: Vec<String> = r.failed_fields();
    r.absorb(
        rules
            .into_iter()
            .filter(|e| !failed.iter().any(|f| e.field == *f || e.field.starts_with(&format!("{f}."))))
            .collect(),
    );
    Some(CreateContact { contact_id, kind: kind?, type_id, profile, password_hash, invite, access_roles })
}

/// Reads every profile field the model knows.
pub fn read_profile<'a>(r: &mut Reader<'a>) -> Profile {
    let mut p = Profile {
        external_id: r.exact_string("external_id"),
        email: r.string("email"),
        first_name: r.string("first_name"),
        last_name: r.string("last_name"),
        name: r.string("name"),
        company: r.string("company"),
        title: r.string("title"),
        department: r.string("department"),
        phone: r.string("phone"),
        mobile: r.string("mobile"),
        avatar_url: r.string("avatar_url"),
        purchase_order_number: r.string("purchase_order_number"),
        ..Profile::default()
    };
    if let Some(obj) = r.object("address") {
        let mut ar = r.child("address", obj);
        p.address = Some(read_address(&mut ar));
        let errors = ar.finish();
        r.absorb(errors);
    }
    if let Some(items) = r.array("tags") {
        for item in items {
            match item.as_str() {
                Some(t) => {
                    p.tags.insert(t.trim().to_owned());
                }
                None => {
                    r.error("tags", "invalid_type", "must be an array of strings");
                    break;
                }
            }
        }
    }
    if let Some(m) = r.object("metadata") {
        p.metadata = m.clone();
    }
    p
}

fn read_address<'a>(r: &mut Reader<'a>) -> Address {
    // A supplied address id is accepted and ignored: a new address is made.
    r.allow("id");
    Address {
        id: None,
        line1: r.string("line1"),
        line2: r.string("line2"),
        line3: r.string("line3"),
        city: r.string("city"),
        region: r.string("region"),
        zip: r.string("zip"),
        country_code: r.string("country_code").map(|c| c.to_uppercase()),
        first_name: r.string("first_name"),
        last_name: r.string("last_name"),
        company: r.string("company"),
    }
}
