//! The valid decisions of a projection batch, folded into the rows they will
//! write, so a batch of hundreds of records costs a handful of statements.
//!
//! The fold must give the same tables as applying the events one by one with
//! the guards `flush` uses: contacts are inserted as created (never merged
//! with later changes, so a re-delivered create cannot hide an update), then
//! the newest profile per contact is written over any older version, then
//! `registered` and the highest version are marked; whichever of the two
//! raises the stored version sets `updated_at` to its decision's time. Role grants are the one
//! exception to folding here: a grant change's effect depends on whether it
//! was applied before, which only the stored contact version tells, so the
//! changes are kept in log order and netted at flush time (`roles`).
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ledger_domain::{Event, Profile};
use ledger_protocol::{Decision, Outcome};
use serde_json::{Value, json};

use super::{
    invites::InviteChanges,
    roles::{GrantChange, GrantOp},
};
use crate::{
    error::{Result, to_i32, to_i64},
    roles::{rule_str, status_str},
    secrets::{event_json, public_data},
};

pub(crate) type ContactKey = (String, String);

pub(crate) struct OutcomeRow {
    pub command_id: String,
    pub tenant_id: String,
    pub command_type: String,
    pub status: &'static str,
    pub contact_id: Option<String>,
    pub rejection: Option<Value>,
    pub issued_at: DateTime<Utc>,
    pub events: Value,
    pub created: bool,
    pub warnings: Value,
}

pub(crate) struct EventRow {
    pub tenant_id: String,
    pub contact_id: String,
    pub version: i64,
    pub idx: i32,
    pub event_type: &'static str,
    pub event_version: i32,
    pub occurred_at: DateTime<Utc>,
    pub command_id: String,
    pub data: Value,
}

pub(crate) struct TenantRow {
    pub tenant_id: String,
    pub name: String,
    pub api_key_hash: String,
    pub contact_capture: bool,
    pub created_at: DateTime<Utc>,
}

/// A tenant's API key from the log: its first (at creation) or one a
/// rotation made, which ends the keys before it at `previous_valid_until`.
pub(crate) struct KeyRow {
    pub tenant_id: String,
    pub api_key_hash: String,
    pub key_version: i32,
    pub previous_valid_until: Option<DateTime<Utc>>,
}

pub(crate) struct NewContact {
    pub tenant_id: String,
    pub contact_id: String,
    pub number: i64,
    pub kind: &'static str,
    pub type_id: Option<i64>,
    pub profile: Profile,
    pub version: i64,
    pub at: DateTime<Utc>,
}

/// The newest profile a batch gives a contact.
pub(crate) struct ProfileChange {
    pub profile: Profile,
    pub version: i64,
    pub at: DateTime<Utc>,
}

pub(crate) struct RoleRow {
    pub tenant_id: String,
    pub reference: String,
    pub name: String,
    pub grant_rule: &'static str,
    pub created_at: DateTime<Utc>,
}

/// What a batch's password, invite and role events do to a contact: the
/// highest version they raise it to, and that decision's time (`at`), which
/// becomes the contact's `updated_at` if the version is above the stored one.
#[derive(Default)]
pub(crate) struct Mark {
    pub registered: bool,
    pub version: i64,
    pub at: DateTime<Utc>,
}

impl Mark {
    fn raise(&mut self, version: u64, at: DateTime<Utc>) -> Result<()> {
        let version = to_i64(version)?;
        if version > self.version {
            self.version = version;
            self.at = at;
        }
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct Pending {
    pub outcomes: Vec<OutcomeRow>,
    pub events: Vec<EventRow>,
    pub tenants: Vec<TenantRow>,
    /// API keys in log order.
    pub keys: Vec<KeyRow>,
    /// The last `contact_capture` a batch sets per tenant.
    pub capture: BTreeMap<String, bool>,
    pub created: Vec<NewContact>,
    pub profiles: BTreeMap<ContactKey, ProfileChange>,
    pub marks: BTreeMap<ContactKey, Mark>,
    /// Contacts a batch deletes, with the deletion's version and time.
    pub deletes: BTreeMap<ContactKey, (i64, DateTime<Utc>)>,
    pub roles: Vec<RoleRow>,
    /// Grant changes in log order (netted against stored versions by `flush`).
    pub grants: Vec<GrantOp>,
    pub invites: InviteChanges,
    /// Command ids to announce on `command_decided` when the batch commits.
    pub notify: Vec<String>,
    /// Where in `outcomes` each command's row stands, by tenant and command
    /// id, and whether it is a refusal for an `issued_at` too far ahead. A
    /// repeat of a decision in the batch adds no second row (the first
    /// stands, as in the table); a refusal ahead is not a decision, and a
    /// later decision of the command (sent again once due) takes its place.
    placed: HashMap<(String, String), (usize, bool)>,
}

impl Pending {
    /// Decisions folded in since the last flush.
    pub fn len(&self) -> usize {
        self.notify.len()
    }

    /// Folds in a decision the fence admitted as valid.
    pub fn add(&mut self, d: &Decision) -> Result<()> {
        let tenant_id = d.tenant_id.to_string();
        let command_id = d.command_id.to_string();
        let (status, rejection, events, subject, created, warnings) = match &d.outcome {
            Outcome::Rejected { rejection } => {
                ("rejected", Some(serde_json::to_value(rejection)?), Value::Array(vec![]), None, false, json!([]))
            }
            Outcome::Accepted { events, subject, created, warnings } => {
                for (idx, event) in events.iter().enumerate() {
                    self.add_event(d, &tenant_id, &command_id, idx, event)?;
                }
                let views = events.iter().map(|e| event_json(e, d.at, d.command_id)).collect::<Result<_, _>>()?;
                ("accepted", None, Value::Array(views), *subject, *created, serde_json::to_value(warnings)?)
            }
        };
        let row = OutcomeRow {
            command_id: command_id.clone(),
            tenant_id,
            command_type: d.command_type.clone(),
            status,
            contact_id: subject.map(|c| c.to_string()),
            rejection,
            issued_at: d.issued_at,
            events,
            created,
            warnings,
        };
        let ahead = d.refused_as_future();
        match self.placed.entry((row.tenant_id.clone(), row.command_id.clone())) {
            Entry::Occupied(mut placed) => {
                let (at, refused_ahead) = placed.get_mut();
                if *refused_ahead {
                    self.outcomes[*at] = row;
                    *refused_ahead = ahead;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert((self.outcomes.len(), ahead));
                self.outcomes.push(row);
            }
        }
        self.notify.push(command_id);
        Ok(())
    }

    fn add_event(&mut self, d: &Decision, tenant_id: &str, command_id: &str, idx: usize, event: &Event) -> Result<()> {
        if let (Some(contact), Some(version)) = (event.contact_id(), event.contact_version()) {
            self.events.push(EventRow {
                tenant_id: tenant_id.to_owned(),
                contact_id: contact.to_string(),
                version: to_i64(version)?,
                idx: to_i32(idx)?,
                event_type: event.event_type(),
                event_version: to_i32(event.event_version())?,
                occurred_at: d.at,
                command_id: command_id.to_owned(),
                data: public_data(event)?,
            });
        }
        let key = |id: &ledger_domain::ContactId| (tenant_id.to_owned(), id.to_string());
        match event {
            Event::TenantCreated(e) => {
                self.tenants.push(TenantRow {
                    tenant_id: tenant_id.to_owned(),
                    name: e.name.clone(),
                    api_key_hash: e.api_key_hash.clone(),
                    contact_capture: e.contact_capture,
                    created_at: e.at,
                });
                self.keys.push(KeyRow {
                    tenant_id: tenant_id.to_owned(),
                    api_key_hash: e.api_key_hash.clone(),
                    key_version: 1,
                    previous_valid_until: None,
                });
            }
            Event::ApiKeyRotated(e) => self.keys.push(KeyRow {
                tenant_id: tenant_id.to_owned(),
                api_key_hash: e.api_key_hash.clone(),
                key_version: to_i32(e.key_version)?,
                previous_valid_until: Some(e.previous_valid_until),
            }),
            Event::TenantConfigured(e) => {
                self.capture.insert(tenant_id.to_owned(), e.contact_capture);
            }
            Event::ContactCreated(e) => self.created.push(NewContact {
                tenant_id: tenant_id.to_owned(),
                contact_id: e.contact_id.to_string(),
                number: to_i64(e.number)?,
                kind: e.kind.as_str(),
                type_id: e.type_id,
                profile: e.profile.clone(),
                version: to_i64(e.version)?,
                at: e.at,
            }),
            Event::ContactUpdated(e) => {
                let version = to_i64(e.version)?;
                let change = ProfileChange { profile: e.profile.clone(), version, at: e.at };
                match self.profiles.get_mut(&key(&e.contact_id)) {
                    Some(old) if old.version >= version => {}
                    Some(old) => *old = change,
                    None => {
                        self.profiles.insert(key(&e.contact_id), change);
                    }
                }
            }
            Event::PasswordSet(e) => {
                let mark = self.marks.entry(key(&e.contact_id)).or_default();
                mark.registered = true;
                mark.raise(e.version, d.at)?;
            }
            Event::InviteRequested(e) => {
                self.invites.requested(tenant_id, e, d.at)?;
                self.bump(d, key(&e.contact_id), e.version)?;
            }
            Event::InviteSent(e) => {
                self.invites.sent(tenant_id, e, d.at);
                self.bump(d, key(&e.contact_id), e.version)?;
            }
            Event::InviteDeliveryFailed(e) => {
                self.invites.failed(tenant_id, e);
                self.bump(d, key(&e.contact_id), e.version)?;
            }
            Event::InviteAccepted(e) => {
                self.invites.accepted(tenant_id, e, d.at);
                self.bump(d, key(&e.contact_id), e.version)?;
            }
            Event::AccessRoleDefined(e) => self.roles.push(RoleRow {
                tenant_id: tenant_id.to_owned(),
                reference: e.reference.clone(),
                name: e.name.clone(),
                grant_rule: rule_str(e.grant_rule),
                created_at: e.at,
            }),
            Event::RoleGranted(e) => {
                let change = GrantChange::Grant { status: status_str(e.status), expires: e.expires };
                self.grant(d, key(&e.contact_id), &e.reference, e.version, change)?;
            }
            Event::RoleActivated(e) => {
                self.grant(d, key(&e.contact_id), &e.reference, e.version, GrantChange::Activate)?;
            }
            Event::RoleRevoked(e) => {
                self.grant(d, key(&e.contact_id), &e.reference, e.version, GrantChange::Revoke)?;
            }
            Event::ContactDeleted(e) => {
                self.deletes.insert(key(&e.contact_id), (to_i64(e.version)?, e.at));
            }
        }
        Ok(())
    }

    /// A contact event that changes nothing but the contact's version (and
    /// so its `updated_at`).
    fn bump(&mut self, d: &Decision, contact: ContactKey, version: u64) -> Result<()> {
        self.marks.entry(contact).or_default().raise(version, d.at)
    }

    /// A role event: queued as a grant change, and the contact's version moves.
    fn grant(
        &mut self,
        d: &Decision,
        contact: ContactKey,
        reference: &str,
        version: u64,
        change: GrantChange,
    ) -> Result<()> {
        self.bump(d, contact.clone(), version)?;
        let (tenant_id, contact_id) = contact;
        self.grants.push(GrantOp {
            tenant_id,
            contact_id,
            reference: reference.to_owned(),
            version: to_i64(version)?,
            at: d.at,
            change,
        });
        Ok(())
    }
}
