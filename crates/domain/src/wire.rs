//! The wire: untrusted JSON (a command payload from the log, a contact body
//! from HTTP) read into typed commands. It checks shape only: types, ids,
//! enumerations, required and unknown fields, and that a password hash is
//! an argon2id string. What a command may do is the domain's to say
//! (`rules`, applied by `decide`).
//!
//! One answer names every failing field: when the shape is wrong, the wire
//! adds the state-free rule failures (`rules::admit`) of what it could read,
//! leaving out fields that already failed.
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::{
    command::*,
    contact::{ADDRESS_FIELDS, ContactKind, PROFILE_FIELDS, Profile},
    error::FieldError,
    ids::{ContactId, InviteId},
    input::Reader,
    patch::ProfilePatch,
    roles::{GrantRequest, GrantRule, RequestedStatus},
    rules,
    secret::Password,
};

/// Where a contact body comes from: the log carries `contact_id` and an
/// argon2id `password_hash`; a client sends a plaintext `password` (hashed
/// at the edge) and may send neither of the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Log,
    Client,
}

/// A contact body from a client: a create or an upsert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactWrite {
    Create,
    Upsert,
}

/// Keys a patch may carry that are not the client's to change.
const READ_ONLY: &[&str] =
    &["id", "number", "version", "registered", "created_at", "updated_at", "password", "password_hash", "invite"];

/// Reads a command payload of the given type, listing every field that is wrong.
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
        "RotateApiKey" => {
            let api_key_hash = required(&mut r, "api_key_hash", Reader::string);
            let previous_valid_secs = required(&mut r, "previous_valid_secs", Reader::int);
            api_key_hash.zip(previous_valid_secs).map(|(api_key_hash, previous_valid_secs)| {
                Command::RotateApiKey(RotateApiKey { api_key_hash, previous_valid_secs })
            })
        }
        "CreateContact" => read_create(&mut r, None, Origin::Log).map(Command::CreateContact),
        "UpsertContact" => read_upsert(&mut r, Origin::Log),
        "PatchContact" => {
            let contact_id = read_contact_id(&mut r, "contact_id");
            let expected_version = read_expected_version(&mut r);
            let patch = match r.object("patch") {
                Some(obj) => Some(read_patch(&mut r, obj)),
                None => {
                    if !r.has("patch") {
                        r.error("patch", "required", "is required");
                    }
                    None
                }
            };
            contact_id
                .zip(patch)
                .map(|(contact_id, patch)| Command::PatchContact(PatchContact { contact_id, expected_version, patch }))
        }
        "DeleteContact" => {
            let contact_id = read_contact_id(&mut r, "contact_id");
            let expected_version = read_expected_version(&mut r);
            contact_id.map(|contact_id| Command::DeleteContact(DeleteContact { contact_id, expected_version }))
        }
        "DefineAccessRole" => {
            let reference = required(&mut r, "reference", Reader::string);
            let after_reference = r.error_count();
            let name = required(&mut r, "name", Reader::string);
            let grant_rule = required(&mut r, "grant_rule", Reader::string).and_then(|x| {
                GrantRule::parse(&x).or_else(|| {
                    r.error("grant_rule", "invalid_value", "must be automatic, email_verification or manual_approval");
                    None
                })
            });
            match (reference, name, grant_rule) {
                (Some(reference), Some(name), Some(grant_rule)) => {
                    Some(Command::DefineAccessRole(DefineAccessRole { reference, name, grant_rule }))
                }
                (reference, ..) => {
                    // No command, but its reference's rule still belongs in
                    // the answer, where the reference was read.
                    let rule = reference.as_deref().and_then(rules::reference_rule);
                    r.absorb_at(after_reference, rule.into_iter().collect());
                    None
                }
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
        "RequestInvite" => {
            read_contact_id(&mut r, "contact_id").map(|contact_id| Command::RequestInvite(RequestInvite { contact_id }))
        }
        "RecordInviteSent" => {
            let invite_id = read_invite_id(&mut r);
            let message_id = required(&mut r, "message_id", Reader::string);
            invite_id
                .zip(message_id)
                .map(|(invite_id, message_id)| Command::RecordInviteSent(RecordInviteSent { invite_id, message_id }))
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
            let password_hash = read_hash(&mut r, true);
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
    finish(r, command)
}

/// Reads a contact body from a client into a `CreateContact` or
/// `UpsertContact`, its plaintext password held as a `Password`.
pub fn contact_body(write: ContactWrite, body: &Map<String, Value>) -> Result<Command, Vec<FieldError>> {
    let mut r = Reader::new(body);
    let command = match write {
        ContactWrite::Create => read_create(&mut r, None, Origin::Client).map(Command::CreateContact),
        ContactWrite::Upsert => read_upsert(&mut r, Origin::Client),
    };
    finish(r, command)
}

/// The command, or every shape error plus the state-free rule failures of
/// the fields that were read.
fn finish(r: Reader<'_>, command: Option<Command>) -> Result<Command, Vec<FieldError>> {
    let mut errors = r.finish();
    match command {
        Some(c) if errors.is_empty() => Ok(c),
        _ if errors.is_empty() => Err(vec![FieldError::new("payload", "invalid", "could not be read")]),
        command => {
            let failed: HashSet<String> = errors.iter().map(|e| e.field.clone()).collect();
            let rules = command.as_ref().map(rules::admit).unwrap_or_default();
            errors.extend(rules.into_iter().filter(|e| !failed_already(&failed, &e.field)));
            Err(errors)
        }
    }
}

/// `field`, or an object it is inside, already failed: one lookup per
/// prefix, whatever the number of failures.
fn failed_already(failed: &HashSet<String>, field: &str) -> bool {
    failed.contains(field) || field.char_indices().any(|(i, c)| c == '.' && failed.contains(&field[..i]))
}

fn required<'a, T>(r: &mut Reader<'a>, key: &'a str, read: fn(&mut Reader<'a>, &'a str) -> Option<T>) -> Option<T> {
    let before = r.error_count();
    let v = read(r, key);
    if v.is_none() && r.error_count() == before {
        r.error(key, "required", "is required");
    }
    v
}

fn read_expected_version(r: &mut Reader<'_>) -> Option<u64> {
    r.int("expected_version").and_then(|v| match u64::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            r.error("expected_version", "invalid_value", "must not be negative");
            None
        }
    })
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

/// An argon2id PHC string in `password_hash`: the shape of a hash.
fn read_hash(r: &mut Reader<'_>, must: bool) -> Option<String> {
    let hash = if must { required(r, "password_hash", Reader::string) } else { r.string("password_hash") };
    if hash.as_deref().is_some_and(|h| !h.starts_with("$argon2id$")) {
        r.error("password_hash", "invalid_hash", "must be an argon2id PHC string");
    }
    hash
}

/// A client's plaintext password: not trimmed; empty counts as absent.
fn read_password(r: &mut Reader<'_>) -> Option<Password> {
    match r.raw("password")? {
        Value::String(p) if p.is_empty() => None,
        Value::String(p) => Some(Password::new(p.clone())),
        _ => {
            r.error("password", "invalid_type", "must be a string");
            None
        }
    }
}

/// Reads the kind; a kind the model refuses by name is refused here.
fn read_kind<'a>(r: &mut Reader<'a>, default: Option<ContactKind>) -> Option<ContactKind> {
    let before = r.error_count();
    match r.string("kind") {
        None => {
            if default.is_none() && r.error_count() == before {
                r.error("kind", "required", "is required: user, guest, branch, recipient or contact");
            }
            default
        }
        Some(k) => {
            if let Some(refused) = rules::refused_kind(&k) {
                r.absorb(vec![refused]);
                return None;
            }
            ContactKind::parse(&k).or_else(|| {
                r.error("kind", "invalid_value", "must be one of user, guest, branch, recipient, contact");
                None
            })
        }
    }
}

fn read_upsert<'a>(r: &mut Reader<'a>, origin: Origin) -> Option<Command> {
    let match_on = match r.string("match_on").as_deref() {
        None | Some("email") => Some(MatchOn::Email),
        Some("external_id") => Some(MatchOn::ExternalId),
        Some(_) => {
            r.error("match_on", "invalid_value", "must be \"email\" or \"external_id\"");
            None
        }
    };
    let contact = read_create(r, Some(ContactKind::Contact), origin);
    match_on.zip(contact).map(|(match_on, contact)| Command::UpsertContact(UpsertContact { match_on, contact }))
}

fn read_create<'a>(r: &mut Reader<'a>, default_kind: Option<ContactKind>, origin: Origin) -> Option<CreateContact> {
    let contact_id = match origin {
        Origin::Log if r.has("contact_id") => read_contact_id(r, "contact_id"),
        _ => None,
    };
    let kind = read_kind(r, default_kind);
    let type_id = r.int("type_id");
    let profile = read_profile(r);
    let (password_hash, password) = match origin {
        Origin::Log => (read_hash(r, false), None),
        Origin::Client => (None, read_password(r)),
    };
    let invite = r.bool("invite").unwrap_or(false);
    let access_roles = read_grants(r, "access_roles");
    let Some(kind) = kind else {
        // Without a kind there is no command, but the fields' own rules
        // still belong in the answer.
        let failed = r.failed_fields();
        let rules = rules::field_rules(&profile, type_id, password.as_ref());
        r.absorb(rules.into_iter().filter(|e| !failed_already(&failed, &e.field)).collect());
        return None;
    };
    Some(CreateContact { contact_id, kind, type_id, profile, password_hash, password, invite, access_roles })
}

/// Reads every profile field the model knows (`PROFILE_FIELDS`); null and
/// empty strings count as absent.
fn read_profile<'a>(r: &mut Reader<'a>) -> Profile {
    let mut fields = Map::new();
    for &name in PROFILE_FIELDS {
        if let Some(value) = r.raw(name)
            && let Some(v) = read_field(r, name, value)
            && !v.is_null()
        {
            fields.insert(name.to_owned(), v);
        }
    }
    // Fields the wire has checked always make a `Profile`; if they did not
    // (a wire bug), the payload is refused rather than read as empty.
    serde_json::from_value(Value::Object(fields)).unwrap_or_else(|e| {
        r.error("payload", "invalid", format!("does not fit the profile: {e}"));
        Profile::default()
    })
}

/// One profile field's value in the profile's form: strings trimmed (an
/// `external_id` is taken as given), an empty string as null; `None` when
/// its type is wrong (and the error recorded).
fn read_field<'a>(r: &mut Reader<'a>, name: &str, value: &'a Value) -> Option<Value> {
    match (name, value) {
        (_, Value::Null) => Some(Value::Null),
        ("external_id", Value::String(s)) => Some(Value::String(s.clone())),
        ("address", Value::Object(obj)) => {
            let mut ar = r.child("address", obj);
            let address = read_address(&mut ar);
            let errors = ar.finish();
            r.absorb(errors);
            Some(Value::Object(address))
        }
        ("tags", Value::Array(items)) => {
            let mut tags = Vec::new();
            for item in items {
                match item.as_str() {
                    Some(t) => tags.push(Value::String(t.trim().to_owned())),
                    None => {
                        r.error("tags", "invalid_type", "must be an array of strings");
                        return None;
                    }
                }
            }
            Some(Value::Array(tags))
        }
        ("metadata", Value::Object(_)) => Some(value.clone()),
        ("address" | "metadata", _) => {
            r.error(name, "invalid_type", "must be an object");
            None
        }
        ("tags", _) => {
            r.error(name, "invalid_type", "must be an array");
            None
        }
        (_, Value::String(s)) => Some(text(s)),
        _ => {
            r.error(name, "invalid_type", "must be a string");
            None
        }
    }
}

fn text(s: &str) -> Value {
    match s.trim() {
        "" => Value::Null,
        t => Value::String(t.to_owned()),
    }
}

/// An address's fields (`ADDRESS_FIELDS`), as a profile holds them; null
/// and empty clear a field, and a supplied `id` is accepted and ignored (the
/// domain gives addresses their ids).
fn read_address<'a>(r: &mut Reader<'a>) -> Map<String, Value> {
    r.allow("id");
    let mut fields = Map::new();
    for &name in ADDRESS_FIELDS {
        let Some(value) = r.raw_or_null(name) else { continue };
        let v = match value {
            Value::Null => Value::Null,
            Value::String(s) if name == "country_code" => text(&s.to_uppercase()),
            Value::String(s) => text(s),
            _ => {
                r.error(name, "invalid_type", "must be a string");
                continue;
            }
        };
        fields.insert(name.to_owned(), v);
    }
    fields
}

/// A merge patch over the profile: each key a profile field (null clears
/// it), `kind` and `type_id` only as they are, nothing read-only.
fn read_patch<'a>(outer: &mut Reader<'a>, obj: &'a Map<String, Value>) -> ProfilePatch {
    let mut r = Reader::new(obj);
    let fixed = |r: &mut Reader<'a>, key: &'a str| {
        r.allow(key);
        r.error(key, "immutable_field", "is fixed at creation");
    };
    let kind = match obj.get("kind") {
        None => None,
        Some(v) => match v.as_str().and_then(ContactKind::parse) {
            Some(kind) => {
                r.allow("kind");
                Some(kind)
            }
            None => {
                fixed(&mut r, "kind");
                None
            }
        },
    };
    let type_id = match obj.get("type_id") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_i64() {
            Some(n) => Some(Some(n)),
            None => {
                fixed(&mut r, "type_id");
                None
            }
        },
    };
    r.allow("type_id");
    for &key in READ_ONLY {
        if obj.contains_key(key) {
            r.allow(key);
            r.error(key, "read_only", "cannot be changed here");
        }
    }
    let mut fields = Map::new();
    for &name in PROFILE_FIELDS {
        if let Some(value) = r.raw_or_null(name)
            && let Some(v) = read_field(&mut r, name, value)
        {
            fields.insert(name.to_owned(), v);
        }
    }
    let errors = r.finish();
    outer.absorb(errors);
    ProfilePatch::new(fields, kind, type_id)
}

/// Reads an `access_roles` list: each item a reference string or
/// `{reference, expires, status}` (`expires` in RFC 3339 / ATOM).
fn read_grants<'a>(r: &mut Reader<'a>, key: &'a str) -> Vec<GrantRequest> {
    let Some(items) = r.array(key) else { return Vec::new() };
    if let Some(e) = rules::too_many_grants(&r.path(key), items.len()) {
        r.absorb(vec![e]);
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("{key}[{i}]");
        match item {
            Value::String(reference) => {
                out.push(GrantRequest { reference: reference.trim().to_owned(), expires: None, status: None })
            }
            Value::Object(obj) => {
                let mut gr = r.child(&field, obj);
                let before = gr.error_count();
                let reference = gr.string("reference");
                if reference.is_none() && gr.error_count() == before {
                    gr.error("reference", "required", "is required");
                }
                let expires = gr.string("expires").and_then(|s| match DateTime::parse_from_rfc3339(&s) {
                    Ok(t) => Some(t.with_timezone(&Utc)),
                    Err(_) => {
                        gr.error("expires", "invalid_time", "must be an RFC 3339 / ATOM date-time");
                        None
                    }
                });
                let status = match gr.string("status").as_deref() {
                    None => None,
                    Some("active") => Some(RequestedStatus::Active),
                    Some(_) => {
                        gr.error("status", "invalid_value", "may only be \"active\"");
                        None
                    }
                };
                let errors = gr.finish();
                let ok = errors.is_empty();
                r.absorb(errors);
                if let (Some(reference), true) = (reference, ok) {
                    out.push(GrantRequest { reference, expires, status });
                }
            }
            _ => r.absorb(vec![FieldError::new(field, "invalid_type", "must be a role reference or an object")]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_client_body_carries_the_password_as_a_secret_and_never_serialises_it() {
        let body =
            json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "a@b.io", "password": "s3cret-pass"});
        let command = contact_body(ContactWrite::Create, body.as_object().unwrap()).unwrap();
        let Command::CreateContact(c) = &command else { panic!("{command:?}") };
        assert_eq!(c.password.as_ref().map(Password::expose), Some("s3cret-pass"));
        assert_eq!(c.password_hash, None);
        let written = serde_json::to_string(&command.payload().unwrap()).unwrap();
        assert!(!written.contains("s3cret-pass"), "{written}");
        assert!(!format!("{command:?}").contains("s3cret-pass"));
    }

    #[test]
    fn a_client_may_not_send_a_hash_or_an_id_and_the_log_may_not_send_a_plaintext() {
        let body = json!({"kind": "contact", "email": "a@b.io", "password_hash": "$argon2id$x", "contact_id": "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV"});
        let errors = contact_body(ContactWrite::Create, body.as_object().unwrap()).unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        fields.sort();
        assert_eq!(fields, vec![("contact_id", "unknown_field"), ("password_hash", "unknown_field")]);
        let errors =
            parse("CreateContact", &json!({"kind": "contact", "email": "a@b.io", "password": "x1234567"})).unwrap_err();
        assert!(errors.iter().any(|e| e.field == "password" && e.code == "unknown_field"), "{errors:?}");
    }

    #[test]
    fn a_patch_is_read_into_typed_fields_and_written_back_as_the_merge_patch() {
        let payload = json!({"contact_id": "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV", "patch": {
            "title": "  CTO ", "phone": "", "address": {"city": "Leeds", "zip": null, "id": "x"}, "tags": [" a "], "kind": "user"}});
        let Command::PatchContact(p) = parse("PatchContact", &payload).unwrap() else { panic!() };
        assert_eq!(p.patch.kind, Some(ContactKind::User));
        assert_eq!(
            serde_json::to_value(&p.patch).unwrap(),
            json!({"kind": "user", "title": "CTO", "phone": null, "address": {"city": "Leeds", "zip": null}, "tags": ["a"]})
        );
        let before = Profile { title: Some("CEO".into()), phone: Some("1".into()), ..Profile::default() };
        let after = p.patch.apply(&before).unwrap();
        assert_eq!((after.title.as_deref(), after.phone.as_deref()), (Some("CTO"), None));
        assert_eq!(after.address.as_ref().and_then(|a| a.city.as_deref()), Some("Leeds"));
        let _: &crate::contact::Address = after.address.as_ref().unwrap();
    }

    #[test]
    fn a_patch_refuses_read_only_and_changed_fixed_fields_and_wrong_types() {
        let payload = json!({"contact_id": "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV", "patch": {
            "version": 3, "kind": "hq", "type_id": "x", "email": 5, "address": "nowhere", "nope": 1}});
        let errors = parse("PatchContact", &payload).unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        fields.sort();
        assert_eq!(
            fields,
            vec![
                ("address", "invalid_type"),
                ("email", "invalid_type"),
                ("kind", "immutable_field"),
                ("nope", "unknown_field"),
                ("type_id", "immutable_field"),
                ("version", "read_only"),
            ]
        );
    }

    #[test]
    fn a_grant_list_past_its_cap_is_one_error_and_none_of_its_items_is_read() {
        let roles: Vec<_> = (0..rules::GRANTS_MAX + 1).map(|_| json!({"status": "no"})).collect();
        let body = json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "a@b.io",
            "password": "s3cret-pass", "access_roles": roles});
        let errors = contact_body(ContactWrite::Create, body.as_object().unwrap()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(fields, [("access_roles", "too_many")]);
        let roles: Vec<_> = (0..rules::GRANTS_MAX).map(|i| json!(format!("role-{i}"))).collect();
        let body = json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "a@b.io",
            "password": "s3cret-pass", "access_roles": roles});
        let Command::CreateContact(c) = contact_body(ContactWrite::Create, body.as_object().unwrap()).unwrap() else {
            panic!("a create")
        };
        assert_eq!(c.access_roles.len(), rules::GRANTS_MAX);
    }
}
