//! `decide(state, command) -> events | rejection`: every rule of the model,
//! synchronous and free of IO. Time comes from the command's `issued_at`, so
//! deciding the same command against the same state always gives the same
//! answer.
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::code::Code;
use crate::{
    command::{
        AcceptInvite, Command, CreateContact, MatchOn, PatchContact, RecordInviteDeliveryFailed, RecordInviteSent,
        UpsertContact,
    },
    contact::{Address, Contact, ContactKind, Profile},
    error::{FieldError, Rejection},
    event::*,
    ids::{AddressId, CommandId, ContactId, InviteId, derive_ulid},
    roles::{Grant, GrantRequest, GrantRule, GrantStatus, RequestedStatus},
    rules::{
        check_unique, create_rules, effective, invitable, keep_for_kind, patch_rules, profile_rules, registered,
        unknown_roles, upsert_update_rules,
    },
    state::{Invite, InviteStatus, TenantInfo, TenantState},
    warning::{Warning, warnings_of},
};

#[derive(Clone, Copy, Debug)]
pub struct Context {
    pub command_id: CommandId,
    pub issued_at: DateTime<Utc>,
    pub invite_ttl: Duration,
}

impl Context {
    pub fn new(command_id: CommandId, issued_at: DateTime<Utc>) -> Self {
        Self { command_id, issued_at, invite_ttl: Duration::days(7) }
    }
}

/// What a decision did: its events (none: accepted, nothing changed), the
/// contact it was about, whether it created that contact, and what it did
/// less than asked. Readers take these from the decision record; nobody
/// works them out again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decided {
    pub events: Vec<Event>,
    pub subject: Option<ContactId>,
    pub created: bool,
    pub warnings: Vec<Warning>,
}

/// Decides `command` against `state`: what it did, or why not.
pub fn decide(state: &TenantState, command: &Command, ctx: &Context) -> Result<Decided, Rejection> {
    let events = events_of(state, command, ctx)?;
    let subject = subject_of(state, command, ctx);
    let created = events.iter().any(|e| matches!(e, Event::ContactCreated(c) if Some(c.contact_id) == subject));
    Ok(Decided { events, subject, created, warnings: warnings_of(state, command) })
}

/// An empty list means "accepted, nothing changed".
fn events_of(state: &TenantState, command: &Command, ctx: &Context) -> Result<Vec<Event>, Rejection> {
    match command {
        Command::CreateTenant(c) => match state.info {
            Some(_) => Err(Rejection::conflict(Code::TenantExists, "tenant_id", "the tenant already exists")),
            None => Ok(vec![Event::TenantCreated(TenantCreated {
                name: c.name.clone(),
                api_key_hash: c.api_key_hash.clone(),
                contact_capture: true,
                at: ctx.issued_at,
            })]),
        },
        Command::ConfigureTenant(c) => {
            let info = tenant(state)?;
            if info.contact_capture == c.contact_capture {
                Ok(vec![])
            } else {
                Ok(vec![Event::TenantConfigured(TenantConfigured { contact_capture: c.contact_capture })])
            }
        }
        Command::RotateApiKey(r) => {
            let info = tenant(state)?;
            let errors = crate::rules::admit(command);
            if !errors.is_empty() {
                return Err(Rejection::invalid(errors));
            }
            if r.api_key_hash == info.api_key_hash {
                return Err(Rejection::invalid(vec![FieldError::new(
                    "api_key_hash",
                    "key_in_force",
                    "is the key in force already: rotate to a new key",
                )]));
            }
            Ok(vec![Event::ApiKeyRotated(ApiKeyRotated {
                api_key_hash: r.api_key_hash.clone(),
                key_version: info.key_version + 1,
                previous_valid_until: ctx.issued_at + Duration::seconds(r.previous_valid_secs),
                at: ctx.issued_at,
            })])
        }
        Command::CreateContact(c) => {
            tenant(state)?;
            create(state, c, ctx)
        }
        Command::UpsertContact(u) => upsert(state, u, ctx),
        Command::PatchContact(p) => patch(state, p, ctx),
        Command::DeleteContact(d) => {
            let existing = contact(state, d.contact_id)?;
            expect_version(&existing, d.expected_version)?;
            Ok(vec![Event::ContactDeleted(ContactDeleted {
                contact_id: existing.id,
                version: existing.version + 1,
                at: ctx.issued_at,
            })])
        }
        Command::DefineAccessRole(d) => {
            tenant(state)?;
            if state.roles.contains_key(&d.reference) {
                return Err(Rejection::conflict(Code::RoleExists, "reference", "the tenant already has this role"));
            }
            Ok(vec![Event::AccessRoleDefined(AccessRoleDefined {
                reference: d.reference.clone(),
                name: d.name.clone(),
                grant_rule: d.grant_rule,
                at: ctx.issued_at,
            })])
        }
        Command::GrantRoles(g) => {
            let contact = contact(state, g.contact_id)?;
            if contact.kind != ContactKind::User {
                // Evance: roles supplied for any other kind are ignored.
                return Ok(vec![]);
            }
            let held = state.grants.get(&contact.id);
            let wanted = grants(state, contact.id, &g.access_roles, contact.version + 1)?;
            Ok(wanted.into_iter().filter(|e| !unchanged_grant(e, held)).collect())
        }
        Command::ApproveRole(r) => {
            let contact = contact(state, r.contact_id)?;
            match grant(state, contact.id, &r.reference)?.status {
                GrantStatus::Active => Ok(vec![]),
                GrantStatus::Pending => Ok(vec![Event::RoleActivated(RoleActivated {
                    contact_id: contact.id,
                    reference: r.reference.clone(),
                    version: contact.version + 1,
                })]),
            }
        }
        Command::RequestInvite(r) => {
            let contact = contact(state, r.contact_id)?;
            invitable(&contact)?;
            Ok(vec![invite_requested(contact.id, contact.version + 1, ctx)])
        }
        Command::RecordInviteSent(r) => {
            let (id, invite) = invite(state, r.invite_id)?;
            if matches!(invite.status, InviteStatus::Sent | InviteStatus::Accepted | InviteStatus::Superseded) {
                return Ok(vec![]);
            }
            Ok(vec![Event::InviteSent(InviteSent {
                contact_id: invite.contact_id,
                invite_id: id,
                message_id: r.message_id.clone(),
                version: version_of(state, invite.contact_id) + 1,
            })])
        }
        Command::RecordInviteDeliveryFailed(r) => {
            let (id, invite) = invite(state, r.invite_id)?;
            if invite.status != InviteStatus::Requested {
                return Ok(vec![]);
            }
            Ok(vec![Event::InviteDeliveryFailed(InviteDeliveryFailed {
                contact_id: invite.contact_id,
                invite_id: id,
                reason: r.reason.clone(),
                attempts: r.attempts,
                version: version_of(state, invite.contact_id) + 1,
            })])
        }
        Command::AcceptInvite(a) => accept_invite(state, a, ctx),
        Command::RevokeRole(r) => {
            let contact = contact(state, r.contact_id)?;
            grant(state, contact.id, &r.reference)?;
            Ok(vec![Event::RoleRevoked(RoleRevoked {
                contact_id: contact.id,
                reference: r.reference.clone(),
                version: contact.version + 1,
            })])
        }
    }
}

/// A conditional write names the version it was made against.
fn expect_version(existing: &Contact, expected: Option<u64>) -> Result<(), Rejection> {
    match expected {
        Some(expected) if expected != existing.version => {
            Err(Rejection::VersionMismatch { expected, actual: existing.version })
        }
        _ => Ok(()),
    }
}

fn invite_requested(contact_id: ContactId, version: u64, ctx: &Context) -> Event {
    Event::InviteRequested(InviteRequested {
        contact_id,
        invite_id: InviteId(derive_ulid(ctx.command_id, "invite")),
        expires_at: ctx.issued_at + ctx.invite_ttl,
        version,
    })
}

fn invite(state: &TenantState, id: InviteId) -> Result<(InviteId, Invite), Rejection> {
    tenant(state)?;
    let invite = state.invites.get(&id).ok_or_else(|| Rejection::not_found(Code::InviteNotFound, "no such invite"))?;
    Ok((id, *invite))
}

fn version_of(state: &TenantState, contact: ContactId) -> u64 {
    state.contact_version(contact).unwrap_or(0)
}

/// Setting the password through an invite: the password is set, the invite
/// is used up, and the email counts as verified, so the user's pending
/// `email_verification` grants become active.
fn accept_invite(state: &TenantState, a: &AcceptInvite, ctx: &Context) -> Result<Vec<Event>, Rejection> {
    let (id, invite) = invite(state, a.invite_id)?;
    if invite.status == InviteStatus::Accepted {
        return Err(Rejection::Gone { code: Code::InviteUsed, message: "this invite has already been used".into() });
    }
    if invite.status == InviteStatus::Superseded {
        return Err(Rejection::Gone {
            code: Code::InviteSuperseded,
            message: "a newer invite replaced this one: use the link in the latest email".into(),
        });
    }
    if ctx.issued_at >= invite.expires_at {
        return Err(Rejection::Gone { code: Code::InviteExpired, message: "this invite has expired".into() });
    }
    let contact_id = invite.contact_id;
    let version = version_of(state, contact_id) + 1;
    let mut events = vec![
        Event::PasswordSet(PasswordSet { contact_id, password_hash: a.password_hash.clone(), version }),
        Event::InviteAccepted(InviteAccepted { contact_id, invite_id: id, version }),
    ];
    for grant in state.grants.get(&contact_id).into_iter().flat_map(|g| g.values()) {
        let verification =
            state.roles.get(&grant.reference).is_some_and(|r| r.grant_rule == GrantRule::EmailVerification);
        if grant.status == GrantStatus::Pending && verification {
            events.push(Event::RoleActivated(RoleActivated {
                contact_id,
                reference: grant.reference.clone(),
                version,
            }));
        }
    }
    Ok(events)
}

fn contact(state: &TenantState, id: ContactId) -> Result<Contact, Rejection> {
    tenant(state)?;
    state.contact(id).ok_or_else(|| Rejection::not_found(Code::ContactNotFound, "no such contact"))
}

fn grant<'s>(state: &'s TenantState, contact: ContactId, reference: &str) -> Result<&'s Grant, Rejection> {
    state
        .grants
        .get(&contact)
        .and_then(|g| g.get(reference))
        .ok_or_else(|| Rejection::not_found(Code::GrantNotFound, "the contact has no such role"))
}

/// `RoleGranted` events for the requested grants: every reference must be
/// in the catalogue (422 otherwise); a string follows the role's rule, an
/// explicit `status: "active"` bypasses it.
fn grants(
    state: &TenantState,
    contact: ContactId,
    requests: &[GrantRequest],
    version: u64,
) -> Result<Vec<Event>, Rejection> {
    let errors = unknown_roles(state, requests);
    if !errors.is_empty() {
        return Err(Rejection::invalid(errors));
    }
    let mut events: Vec<Event> = Vec::new();
    let held = state.grants.get(&contact);
    for req in requests {
        let Some(role) = state.roles.get(&req.reference) else { continue };
        let current = held.and_then(|g| g.get(&req.reference)).map(|g| g.status);
        // A grant the user already holds keeps its status (re-sending a role
        // must not undo an approval); a new one follows the role's rule.
        let status = match (req.status, current, role.grant_rule) {
            (Some(RequestedStatus::Active), _, _) | (None, None, GrantRule::Automatic) => GrantStatus::Active,
            (_, Some(current), _) => current,
            _ => GrantStatus::Pending,
        };
        // A reference given twice: the last one stands.
        events.retain(|e| !matches!(e, Event::RoleGranted(g) if g.reference == req.reference));
        events.push(Event::RoleGranted(RoleGranted {
            contact_id: contact,
            reference: req.reference.clone(),
            status,
            expires: req.expires,
            version,
        }));
    }
    Ok(events)
}

/// A `RoleGranted` that would leave the grant as it is.
fn unchanged_grant(e: &Event, held: Option<&std::collections::BTreeMap<String, Grant>>) -> bool {
    match (e, held) {
        (Event::RoleGranted(r), Some(h)) => {
            h.get(&r.reference).is_some_and(|old| old.status == r.status && old.expires == r.expires)
        }
        _ => false,
    }
}

fn tenant(state: &TenantState) -> Result<&TenantInfo, Rejection> {
    state.info.as_ref().ok_or_else(|| Rejection::not_found(Code::TenantNotFound, "no such tenant"))
}

fn create(state: &TenantState, c: &CreateContact, ctx: &Context) -> Result<Vec<Event>, Rejection> {
    let kind = c.kind;
    let mut errors = create_rules(c);
    if kind == ContactKind::User {
        errors.extend(unknown_roles(state, &c.access_roles));
    }
    if !errors.is_empty() {
        return Err(Rejection::invalid(errors));
    }
    let (mut profile, password_hash) = effective(c);
    check_unique(state, kind, &profile, None)?;
    let id = c.contact_id.unwrap_or(ContactId(ctx.command_id.0));
    if state.has_contact(id) || state.deleted.contains(&id) {
        return Err(Rejection::conflict(Code::ContactIdTaken, "contact_id", "a contact with this id exists"));
    }
    profile.address = materialize(profile.address.take(), None, &profile, ctx);
    let version = 1;
    let mut events = vec![Event::ContactCreated(ContactCreated {
        contact_id: id,
        number: state.last_number + 1,
        kind,
        type_id: c.type_id,
        profile,
        version,
        at: ctx.issued_at,
    })];
    if let Some(password_hash) = password_hash {
        events.push(Event::PasswordSet(PasswordSet { contact_id: id, password_hash, version }));
    }
    if kind == ContactKind::User {
        events.extend(grants(state, id, &c.access_roles, version)?);
    }
    if c.invite {
        events.push(invite_requested(id, version, ctx));
    }
    Ok(events)
}

/// Gives a new address its id and the names and company it inherits from the
/// contact; an address that already had an id keeps it.
fn materialize(address: Option<Address>, previous: Option<&Address>, p: &Profile, ctx: &Context) -> Option<Address> {
    let mut a = address?;
    a.id = previous.and_then(|prev| prev.id).or_else(|| Some(AddressId(derive_ulid(ctx.command_id, "address"))));
    a.first_name = a.first_name.or_else(|| p.first_name.clone());
    a.last_name = a.last_name.or_else(|| p.last_name.clone());
    a.company = a.company.or_else(|| p.company.clone());
    Some(a)
}

/// The contact a command is about, as the state stands before deciding it.
fn subject_of(state: &TenantState, command: &Command, ctx: &Context) -> Option<ContactId> {
    match command {
        Command::CreateContact(c) => Some(c.contact_id.unwrap_or(ContactId(ctx.command_id.0))),
        Command::UpsertContact(u) => Some(
            upsert_match(state, u).map(|c| c.id).unwrap_or(u.contact.contact_id.unwrap_or(ContactId(ctx.command_id.0))),
        ),
        Command::PatchContact(p) => Some(p.contact_id),
        Command::DeleteContact(d) => Some(d.contact_id),
        Command::GrantRoles(g) => Some(g.contact_id),
        Command::ApproveRole(r) | Command::RevokeRole(r) => Some(r.contact_id),
        Command::RequestInvite(r) => Some(r.contact_id),
        Command::RecordInviteSent(RecordInviteSent { invite_id, .. })
        | Command::RecordInviteDeliveryFailed(RecordInviteDeliveryFailed { invite_id, .. })
        | Command::AcceptInvite(AcceptInvite { invite_id, .. }) => state.invites.get(invite_id).map(|i| i.contact_id),
        Command::CreateTenant(_)
        | Command::ConfigureTenant(_)
        | Command::RotateApiKey(_)
        | Command::DefineAccessRole(_) => None,
    }
}

fn upsert_match(state: &TenantState, u: &UpsertContact) -> Option<Contact> {
    match u.match_on {
        MatchOn::Email => state.with_email(u.contact.kind, u.contact.profile.email.as_deref()?).next(),
        MatchOn::ExternalId => state.by_external_id(u.contact.profile.external_id.as_deref()?),
    }
}

fn upsert(state: &TenantState, u: &UpsertContact, ctx: &Context) -> Result<Vec<Event>, Rejection> {
    let info = tenant(state)?;
    if !info.contact_capture {
        return Err(Rejection::Forbidden {
            code: Code::ContactCaptureDisabled,
            message: "contact capture is not enabled for this tenant".into(),
        });
    }
    let c = &u.contact;
    let found = match u.match_on {
        MatchOn::Email => {
            let Some(email) = &c.profile.email else {
                return Err(Rejection::invalid(vec![FieldError::new(
                    "email",
                    "required",
                    "is required to match on email",
                )]));
            };
            if matches!(c.kind, ContactKind::User | ContactKind::Contact)
                && state.with_email(ContactKind::User, email).any(|u| u.registered)
            {
                return Err(registered(email));
            }
            upsert_match(state, u)
        }
        MatchOn::ExternalId => {
            if c.profile.external_id.is_none() {
                return Err(Rejection::invalid(vec![FieldError::new(
                    "external_id",
                    "required",
                    "is required to match on external_id",
                )]));
            }
            upsert_match(state, u)
        }
    };
    let Some(existing) = found else { return create(state, c, ctx) };
    let existing = &existing;
    upsert_update_rules(existing, c)?;
    let mut merged = merge_upsert(&existing.profile, &c.profile)?;
    merged.address = match c.profile.address.clone() {
        Some(a) => materialize(Some(a), None, &merged, ctx),
        None => existing.profile.address.clone(),
    };
    let mut events = update(state, existing, merged, ctx)?;
    if existing.kind == ContactKind::User && !c.access_roles.is_empty() {
        // Grants on an upsert that updates a user, at the same new version.
        let held = state.grants.get(&existing.id);
        let wanted = grants(state, existing.id, &c.access_roles, existing.version + 1)?;
        events.extend(wanted.into_iter().filter(|e| !unchanged_grant(e, held)));
    }
    Ok(events)
}

/// Upsert overwrites the fields it is given and keeps the rest (the address
/// is the caller's); tags are replaced only by a non-empty list, and
/// metadata keys are merged one level deep. Field by field over the
/// profile's serialised form, so no field list is written out here.
fn merge_upsert(old: &Profile, new: &Profile) -> Result<Profile, Rejection> {
    let broken = |e: serde_json::Error| {
        Rejection::invalid(vec![FieldError::new("payload", "invalid", format!("does not fit the profile: {e}"))])
    };
    let (Value::Object(mut merged), Value::Object(given)) =
        (serde_json::to_value(old).map_err(broken)?, serde_json::to_value(new).map_err(broken)?)
    else {
        return Ok(old.clone());
    };
    for (field, value) in given {
        match (field.as_str(), value) {
            ("address", _) => {}
            ("tags", Value::Array(tags)) if tags.is_empty() => {}
            ("metadata", Value::Object(keys)) => match merged.get_mut("metadata") {
                Some(Value::Object(kept)) => kept.extend(keys),
                _ => {
                    merged.insert(field, Value::Object(keys));
                }
            },
            (_, value) => {
                merged.insert(field, value);
            }
        }
    }
    serde_json::from_value(Value::Object(merged)).map_err(broken)
}

fn update(
    state: &TenantState,
    existing: &Contact,
    mut profile: Profile,
    ctx: &Context,
) -> Result<Vec<Event>, Rejection> {
    keep_for_kind(existing.kind, &mut profile);
    let errors = profile_rules(existing.kind, existing.type_id, &profile);
    if !errors.is_empty() {
        return Err(Rejection::invalid(errors));
    }
    check_unique(state, existing.kind, &profile, Some(existing.id))?;
    let changed = existing.profile.changed_fields(&profile);
    if changed.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![Event::ContactUpdated(ContactUpdated {
        contact_id: existing.id,
        profile,
        changed,
        version: existing.version + 1,
        at: ctx.issued_at,
    })])
}

fn patch(state: &TenantState, p: &PatchContact, ctx: &Context) -> Result<Vec<Event>, Rejection> {
    tenant(state)?;
    let existing =
        state.contact(p.contact_id).ok_or_else(|| Rejection::not_found(Code::ContactNotFound, "no such contact"))?;
    let existing = &existing;
    expect_version(existing, p.expected_version)?;
    let errors = patch_rules(existing, &p.patch);
    if !errors.is_empty() {
        return Err(Rejection::invalid(errors));
    }
    let mut profile = p.patch.apply(&existing.profile).map_err(|e| {
        Rejection::invalid(vec![FieldError::new("patch", "invalid", format!("does not fit the profile: {e}"))])
    })?;
    if existing.profile.address.is_none() {
        profile.address = materialize(profile.address.take(), None, &profile, ctx);
    }
    update(state, existing, profile, ctx)
}
