//! A tenant's state as the command handler holds it in memory: the contacts
//! and the indexes that uniqueness rules are decided against. Built only by
//! folding events (`evolve`), never by reading a read model.
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::{
    contact::{Contact, ContactKind, normalize_email},
    event::Event,
    ids::{ContactId, InviteId},
    packed::{self, Head},
    roles::{Grant, GrantStatus, RoleDef},
    store::{ContactStore, Key},
};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInfo {
    pub name: String,
    /// The API key in force (SHA-256, hex) and its version (1 at creation,
    /// one more per rotation).
    pub api_key_hash: String,
    pub key_version: u32,
    pub contact_capture: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct TenantState {
    pub info: Option<TenantInfo>,
    /// Every live contact, packed, and indexed by id, email and external id
    /// (see `store`); read through `contact`.
    contacts: ContactStore,
    /// The few contacts with a `type_id` (organisation contacts).
    type_ids: HashMap<Key, i64>,
    pub last_number: u64,
    /// The tenant's catalogue of access roles, by reference.
    pub roles: BTreeMap<String, RoleDef>,
    /// Each user's grants, by role reference.
    pub grants: HashMap<ContactId, BTreeMap<String, Grant>>,
    pub invites: HashMap<InviteId, Invite>,
    /// Ids of deleted contacts: never given out again.
    pub deleted: HashSet<ContactId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteStatus {
    Requested,
    Sent,
    Failed,
    Accepted,
    /// A later invite for the same contact replaced it.
    Superseded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
                    key_version: 1,
                    contact_capture: e.contact_capture,
                    created_at: e.at,
                });
            }
            Event::ApiKeyRotated(e) => {
                if let Some(info) = &mut self.info {
                    info.api_key_hash = e.api_key_hash.clone();
                    info.key_version = e.key_version;
                }
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
                self.put(&contact);
            }
            Event::ContactUpdated(e) => {
                if let Some(mut c) = self.contact(e.contact_id) {
                    c.profile = e.profile.clone();
                    c.version = e.version;
                    c.updated_at = e.at;
                    self.put(&c);
                }
            }
            Event::PasswordSet(e) => self.contacts.repack(&key(e.contact_id), |c| {
                c.registered = true;
                c.version = e.version;
            }),
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
                self.take(e.contact_id);
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
        self.contacts.repack(&key(contact), |c| c.version = version);
    }

    /// Organisation contacts (a `contact` with a `type_id`, emnify's) are not
    /// found by email: they take no part in email uniqueness (an
    /// organisation's billing and technical contact may share one) and an
    /// upsert by email never lands on them.
    fn found_by_email(c: &Contact) -> bool {
        Self::kind_found_by_email(c.kind, c.type_id)
    }

    fn kind_found_by_email(kind: ContactKind, type_id: Option<i64>) -> bool {
        !(kind == ContactKind::Contact && type_id.is_some())
    }

    /// Everything this state holds, in a canonical order (equal states give
    /// equal snapshots); the indexes are left out and rebuilt on restore.
    pub fn snapshot(&self) -> TenantSnapshot {
        let mut contacts: Vec<(Key, Vec<u8>, Option<i64>)> =
            self.contacts.iter().map(|(k, p)| (*k, p.to_vec(), self.type_ids.get(k).copied())).collect();
        contacts.sort_by_key(|(k, _, _)| *k);
        let mut grants: Vec<(ContactId, Vec<Grant>)> =
            self.grants.iter().map(|(c, g)| (*c, g.values().cloned().collect())).collect();
        grants.sort_by_key(|(c, _)| *c);
        let mut invites: Vec<(InviteId, Invite)> = self.invites.iter().map(|(i, v)| (*i, *v)).collect();
        invites.sort_by_key(|(i, _)| *i);
        let mut deleted: Vec<ContactId> = self.deleted.iter().copied().collect();
        deleted.sort();
        TenantSnapshot {
            info: self.info.clone(),
            contacts,
            last_number: self.last_number,
            roles: self.roles.values().cloned().collect(),
            grants,
            invites,
            deleted,
        }
    }

    /// The state a snapshot was taken of, indexes rebuilt.
    pub fn restore(s: TenantSnapshot) -> TenantState {
        let type_ids: HashMap<Key, i64> = s.contacts.iter().filter_map(|(k, _, t)| Some((*k, (*t)?))).collect();
        let contacts = s.contacts.into_iter().map(|(k, p, type_id)| {
            // The packed contact moves in as read.
            let by_email = Head::read(&p).is_some_and(|(h, _)| Self::kind_found_by_email(h.kind, type_id));
            (k, p, by_email)
        });
        TenantState {
            info: s.info,
            contacts: ContactStore::restore(contacts.collect()),
            type_ids,
            last_number: s.last_number,
            roles: s.roles.into_iter().map(|r| (r.reference.clone(), r)).collect(),
            grants: s
                .grants
                .into_iter()
                .map(|(c, g)| (c, g.into_iter().map(|g| (g.reference.clone(), g)).collect()))
                .collect(),
            invites: s.invites.into_iter().collect(),
            deleted: s.deleted.into_iter().collect(),
        }
    }

    /// Stores a contact (replacing the one with its id) and indexes it.
    fn put(&mut self, c: &Contact) {
        let k = key(c.id);
        match c.type_id {
            Some(t) => self.type_ids.insert(k, t),
            None => self.type_ids.remove(&k),
        };
        self.contacts.insert(k, &packed::pack(c), Self::found_by_email(c));
    }

    /// Removes a contact and its index entries.
    fn take(&mut self, id: ContactId) {
        let k = key(id);
        self.type_ids.remove(&k);
        self.contacts.remove(&k);
    }

    fn unpack(&self, k: &Key, p: &[u8]) -> Option<Contact> {
        packed::unpack(p, id_of(k), self.type_ids.get(k).copied())
    }

    /// A live contact, unpacked.
    pub fn contact(&self, id: ContactId) -> Option<Contact> {
        let k = key(id);
        self.unpack(&k, self.contacts.get(&k)?)
    }

    pub fn has_contact(&self, id: ContactId) -> bool {
        self.contacts.get(&key(id)).is_some()
    }

    fn head(&self, id: ContactId) -> Option<Head> {
        Head::read(self.contacts.get(&key(id))?).map(|(h, _)| h)
    }

    pub fn contact_kind(&self, id: ContactId) -> Option<ContactKind> {
        self.head(id).map(|h| h.kind)
    }

    pub fn contact_version(&self, id: ContactId) -> Option<u64> {
        self.head(id).map(|h| h.version)
    }

    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    /// Every live contact, unpacked (in no particular order).
    pub fn contacts(&self) -> impl Iterator<Item = Contact> + '_ {
        self.contacts.iter().filter_map(|(k, p)| self.unpack(k, p))
    }

    /// Contacts of a kind with this email (compared normalised), oldest first.
    pub fn with_email(&self, kind: ContactKind, email: &str) -> impl Iterator<Item = Contact> + '_ {
        let wanted = normalize_email(email);
        let mut found: Vec<Contact> = (self.contacts.by_email(kind, email))
            .filter_map(|(k, p)| self.unpack(k, p))
            .filter(|c| {
                c.kind == kind
                    && Self::found_by_email(c)
                    && c.profile.email.as_deref().is_some_and(|e| normalize_email(e) == wanted)
            })
            .collect();
        found.sort_by_key(|c| key(c.id));
        found.into_iter()
    }

    pub fn by_external_id(&self, external_id: &str) -> Option<Contact> {
        (self.contacts.by_external_id(external_id))
            .filter_map(|(k, p)| self.unpack(k, p))
            .filter(|c| c.profile.external_id.as_deref() == Some(external_id))
            .min_by_key(|c| key(c.id))
    }
}

fn key(id: ContactId) -> Key {
    id.0.to_bytes()
}

fn id_of(k: &Key) -> ContactId {
    ContactId(Ulid::from_bytes(*k))
}

/// A tenant's state as a snapshot keeps it (see `TenantState::snapshot`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    info: Option<TenantInfo>,
    /// Each contact packed (`packed::pack`), with its `type_id`.
    contacts: Vec<(Key, Vec<u8>, Option<i64>)>,
    last_number: u64,
    roles: Vec<RoleDef>,
    grants: Vec<(ContactId, Vec<Grant>)>,
    invites: Vec<(InviteId, Invite)>,
    deleted: Vec<ContactId>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{
        contact::Profile,
        event::{ContactCreated, ContactDeleted, ContactUpdated},
    };

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).single().unwrap()
    }

    fn created(n: u64, kind: ContactKind, email: &str, external_id: Option<&str>) -> (ContactId, Event) {
        let id = ContactId(Ulid::from_parts(n, 0));
        let profile =
            Profile { email: Some(email.into()), external_id: external_id.map(Into::into), ..Profile::default() };
        let e = ContactCreated { contact_id: id, number: n, kind, type_id: None, profile, version: 1, at: at() };
        (id, Event::ContactCreated(e))
    }

    /// Thousands of contacts changing email and external id, some deleted,
    /// enough for the arena to fill chunks and be compacted: every lookup
    /// agrees with a plain model, before and after a snapshot round trip.
    #[test]
    fn lookups_agree_with_a_plain_model_through_changes_compaction_and_restore() {
        use std::collections::BTreeMap as Model;
        let mut s = TenantState::default();
        let mut model: Model<ContactId, (String, Option<String>)> = Model::new();
        let email = |i: u64, round: u64| format!("Person{i}.r{round}@Example.com");
        for i in 1..=3000u64 {
            let x = (i % 3 == 0).then(|| format!("x-{i}"));
            let (id, e) = created(i, ContactKind::Guest, &email(i, 0), x.as_deref());
            s.apply(&e);
            model.insert(id, (email(i, 0), x));
        }
        for round in 1..=4u64 {
            for i in (1..=3000u64).filter(|i| i % 4 != round % 4) {
                let id = ContactId(Ulid::from_parts(i, 0));
                let Some((_, x)) = model.get(&id).cloned() else { continue };
                let x = if round == 2 && i % 5 == 0 { Some(format!("x-{i}-moved")) } else { x };
                let profile = Profile { email: Some(email(i, round)), external_id: x.clone(), ..Profile::default() };
                let e = ContactUpdated {
                    contact_id: id,
                    profile,
                    changed: vec!["email".into()],
                    version: round + 1,
                    at: at(),
                };
                s.apply(&Event::ContactUpdated(e));
                model.insert(id, (email(i, round), x));
            }
            for i in (round * 7..3000).step_by(97) {
                let id = ContactId(Ulid::from_parts(i, 0));
                if model.remove(&id).is_some() {
                    s.apply(&Event::ContactDeleted(ContactDeleted { contact_id: id, version: 9, at: at() }));
                }
            }
        }
        let check = |s: &TenantState| {
            assert_eq!(s.contact_count(), model.len());
            for (id, (mail, x)) in &model {
                let found: Vec<ContactId> =
                    s.with_email(ContactKind::Guest, &mail.to_uppercase()).map(|c| c.id).collect();
                assert_eq!(found, vec![*id], "{mail}");
                let i = id.0.timestamp_ms();
                for old in (0..=4).map(|r| email(i, r)).filter(|m| m != mail) {
                    assert_eq!(s.with_email(ContactKind::Guest, &old).count(), 0, "{old} is no longer anyone's");
                }
                if let Some(x) = x {
                    assert_eq!(s.by_external_id(x).map(|c| c.id), Some(*id), "{x}");
                    if x.ends_with("-moved") {
                        assert_eq!(s.by_external_id(&format!("x-{i}")), None, "the old external id is free");
                    }
                }
            }
            for i in 1..=3000u64 {
                let id = ContactId(Ulid::from_parts(i, 0));
                assert_eq!(s.has_contact(id), model.contains_key(&id));
                if !model.contains_key(&id) {
                    assert_eq!(s.with_email(ContactKind::Guest, &email(i, 0)).count(), 0);
                }
            }
        };
        assert!(s.contacts.compactions() > 0, "the arena was compacted along the way");
        check(&s);
        let restored = TenantState::restore(s.snapshot());
        check(&restored);
        assert_eq!(restored.snapshot(), s.snapshot());
    }

    #[test]
    fn packed_contacts_are_found_by_email_and_external_id_until_they_change_or_go() {
        let mut s = TenantState::default();
        let (a, ea) = created(1, ContactKind::Guest, "g@example.com", Some("x-1"));
        let (b, eb) = created(2, ContactKind::Guest, " G@Example.com", None);
        let (u, eu) = created(3, ContactKind::User, "g@example.com", None);
        for e in [&eb, &ea, &eu] {
            s.apply(e);
        }
        let guests: Vec<ContactId> = s.with_email(ContactKind::Guest, "g@EXAMPLE.com ").map(|c| c.id).collect();
        assert_eq!(guests, vec![a, b], "both guests, oldest first, compared normalised");
        assert_eq!(s.with_email(ContactKind::User, "g@example.com").map(|c| c.id).collect::<Vec<_>>(), vec![u]);
        assert_eq!(s.by_external_id("x-1").map(|c| c.id), Some(a));
        assert_eq!(s.by_external_id("x-2"), None);
        let Event::ContactCreated(c) = &ea else { unreachable!() };
        let back = s.contact(a).unwrap();
        assert_eq!((back.profile, back.number, back.created_at), (c.profile.clone(), 1, at()));

        let profile = Profile { email: Some("new@example.com".into()), ..Profile::default() };
        s.apply(&Event::ContactUpdated(ContactUpdated {
            contact_id: a,
            profile,
            changed: vec!["email".into(), "external_id".into()],
            version: 2,
            at: at(),
        }));
        assert_eq!(s.with_email(ContactKind::Guest, "g@example.com").map(|c| c.id).collect::<Vec<_>>(), vec![b]);
        assert_eq!(s.with_email(ContactKind::Guest, "new@example.com").map(|c| c.version).collect::<Vec<_>>(), [2]);
        assert_eq!(s.by_external_id("x-1"), None, "the old external id is free");

        s.apply(&Event::ContactDeleted(ContactDeleted { contact_id: b, version: 2, at: at() }));
        assert_eq!(s.with_email(ContactKind::Guest, "g@example.com").count(), 0);
        assert!(!s.has_contact(b) && s.deleted.contains(&b));
        assert_eq!(s.contact_count(), 2);
    }
}
