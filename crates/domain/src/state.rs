//! A tenant's state as the command handler holds it in memory: the contacts
//! and the indexes that uniqueness rules are decided against. Built only by
//! folding events (`evolve`), never by reading a read model.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::{
    contact::{Contact, ContactKind, normalize_email},
    event::Event,
    ids::{ContactId, InviteId},
    roles::{Grant, GrantStatus, RoleDef},
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: String,
    pub api_key_hash: String,
    pub contact_capture: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct TenantState {
    pub info: Option<TenantInfo>,
    pub contacts: HashMap<ContactId, Contact>,
    emails: HashMap<(ContactKind, String), BTreeSet<ContactId>>,
    external_ids: HashMap<String, ContactId>,
    pub last_number: u64,
    /// The tenant's catalogue of access roles, by reference.
    pub roles: BTreeMap<String, RoleDef>,
    /// Each user's grants, by role reference.
    pub grants: HashMap<ContactId, BTreeMap<String, Grant>>,
    pub invites: HashMap<InviteId, Invite>,
    /// Ids of deleted contacts: never given out again.
    pub deleted: HashSet<ContactId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteStatus {
    Requested,
    Sent,
    Failed,
    Accepted,
    /// A later invite for the same contact replaced it.
    Superseded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invite {
    pub contact_id: ContactId,
    pub expires_at: DateTime<Utc>,
    pub status: InviteStatus,
}

/// `evolve(state, event) -> state`, as the domain's contract reads.
pub fn evolve(mut state: TenantState, event: &Event) -> TenantState {
    state.apply(event);
    state
}

impl TenantState {
    /// Folds one event in place (the handler's hot path avoids a copy).
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::TenantCreated(e) => {
                self.info = Some(TenantInfo {
                    name: e.name.clone(),
                    api_key_hash: e.api_key_hash.clone(),
                    contact_capture: e.contact_capture,
                    created_at: e.at,
                });
            }
            Event::TenantConfigured(e) => {
                if let Some(info) = &mut self.info {
                    info.contact_capture = e.contact_capture;
                }
            }
            Event::ContactCreated(e) => {
                let contact = Contact {
                    id: e.contact_id,
                    number: e.number,
                    kind: e.kind,
                    type_id: e.type_id,
                    profile: e.profile.clone(),
                    registered: false,
                    version: e.version,
                    created_at: e.at,
                    updated_at: e.at,
                };
                self.last_number = self.last_number.max(e.number);
                self.index(&contact);
                self.contacts.insert(e.contact_id, contact);
            }
            Event::ContactUpdated(e) => {
                if let Some(old) = self.contacts.get(&e.contact_id).cloned() {
                    self.unindex(&old);
                    let mut new = old;
                    new.profile = e.profile.clone();
                    new.version = e.version;
                    new.updated_at = e.at;
                    self.index(&new);
                    self.contacts.insert(e.contact_id, new);
                }
            }
            Event::PasswordSet(e) => {
                if let Some(c) = self.contacts.get_mut(&e.contact_id) {
                    c.registered = true;
                    c.version = e.version;
                }
            }
            Event::InviteRequested(e) => {
                // Only the newest invite of a contact can be used: an older link
                // must not set the password after a newer one did.
                for older in self.invites.values_mut().filter(|i| i.contact_id == e.contact_id) {
                    if older.status != InviteStatus::Accepted {
                        older.status = InviteStatus::Superseded;
                    }
                }
                let invite =
                    Invite { contact_id: e.contact_id, expires_at: e.expires_at, status: InviteStatus::Requested };
                self.invites.insert(e.invite_id, invite);
                self.bump(e.contact_id, e.version);
            }
            Event::InviteSent(e) => self.invite_status(e.invite_id, InviteStatus::Sent, e.contact_id, e.version),
            Event::InviteDeliveryFailed(e) => {
                self.invite_status(e.invite_id, InviteStatus::Failed, e.contact_id, e.version)
            }
            Event::InviteAccepted(e) => {
                self.invite_status(e.invite_id, InviteStatus::Accepted, e.contact_id, e.version)
            }
            Event::AccessRoleDefined(e) => {
                let def = RoleDef { reference: e.reference.clone(), name: e.name.clone(), grant_rule: e.grant_rule };
                self.roles.insert(e.reference.clone(), def);
            }
            Event::RoleGranted(e) => {
                let grant = Grant { reference: e.reference.clone(), status: e.status, expires: e.expires };
                self.grants.entry(e.contact_id).or_default().insert(e.reference.clone(), grant);
                self.bump(e.contact_id, e.version);
            }
            Event::RoleActivated(e) => {
                if let Some(g) = self.grants.get_mut(&e.contact_id).and_then(|g| g.get_mut(&e.reference)) {
                    g.status = GrantStatus::Active;
                }
                self.bump(e.contact_id, e.version);
            }
            Event::RoleRevoked(e) => {
                if let Some(g) = self.grants.get_mut(&e.contact_id) {
                    g.remove(&e.reference);
                }
                self.bump(e.contact_id, e.version);
            }
            Event::ContactDeleted(e) => {
                if let Some(old) = self.contacts.remove(&e.contact_id) {
                    self.unindex(&old);
                }
                self.grants.remove(&e.contact_id);
                self.invites.retain(|_, i| i.contact_id != e.contact_id);
                self.deleted.insert(e.contact_id);
            }
        }
    }

    fn invite_status(&mut self, invite: InviteId, status: InviteStatus, contact: ContactId, version: u64) {
        if let Some(i) = self.invites.get_mut(&invite) {
            i.status = status;
        }
        self.bump(contact, version);
    }

    fn bump(&mut self, contact: ContactId, version: u64) {
        if let Some(c) = self.contacts.get_mut(&contact) {
            c.version = version;
        }
    }

    /// Organisation contacts (a `contact` with a `type_id`, emnify's) are not
    /// found by email: they take no part in email uniqueness (an
    /// organisation's billing and technical contact may share one) and an
    /// upsert by email never lands on them.
    fn found_by_email(c: &Contact) -> bool {
        !(c.kind == ContactKind::Contact && c.type_id.is_some())
    }

    fn index(&mut self, c: &Contact) {
        if let Some(email) = c.profile.email.as_ref().filter(|_| Self::found_by_email(c)) {
            self.emails.entry((c.kind, normalize_email(email))).or_default().insert(c.id);
        }
        if let Some(x) = &c.profile.external_id {
            self.external_ids.insert(x.clone(), c.id);
        }
    }

    fn unindex(&mut self, c: &Contact) {
        if let Some(email) = c.profile.email.as_ref().filter(|_| Self::found_by_email(c)) {
            let key = (c.kind, normalize_email(email));
            if let Some(set) = self.emails.get_mut(&key) {
                set.remove(&c.id);
                if set.is_empty() {
                    self.emails.remove(&key);
                }
            }
        }
        if let Some(x) = &c.profile.external_id {
            self.external_ids.remove(x);
        }
    }

    /// Contacts of a kind with this email (compared normalised), oldest first.
    pub fn with_email(&self, kind: ContactKind, email: &str) -> impl Iterator<Item = &Contact> {
        self.emails.get(&(kind, normalize_email(email))).into_iter().flatten().filter_map(|id| self.contacts.get(id))
    }

    pub fn by_external_id(&self, external_id: &str) -> Option<&Contact> {
        self.external_ids.get(external_id).and_then(|id| self.contacts.get(id))
    }
}
