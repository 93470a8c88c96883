//! Access roles (Evance): a tenant's catalogue of roles, and grants of them
//! to users. A grant given as a string follows the role's grant rule; an
//! object may carry `expires` and `status: "active"` (which bypasses the
//! rule). Roles cannot be created while creating a contact.
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantRule {
    /// Active at once.
    Automatic,
    /// Pending until the contact verifies their email (accepting an invite does).
    EmailVerification,
    /// Pending until approved.
    ManualApproval,
}

impl GrantRule {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "automatic" => Some(GrantRule::Automatic),
            "email_verification" => Some(GrantRule::EmailVerification),
            "manual_approval" => Some(GrantRule::ManualApproval),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Pending,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleDef {
    pub reference: String,
    pub name: String,
    pub grant_rule: GrantRule,
}

/// The one status a grant request may name. `pending` is only ever what a
/// role's rule gives, so a request cannot ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestedStatus {
    /// Active at once, bypassing the role's grant rule.
    Active,
}

/// A grant as asked for: a role reference, with an optional expiry and
/// `status: "active"` to bypass the role's grant rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GrantRequest {
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RequestedStatus>,
}

// Describes the wire for the schemas only: the wire (`wire::read_grants`) reads the list
// into `GrantRequest`s.
/// One item of an `access_roles` list: a role reference, or a grant object.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum GrantItem {
    /// A role reference: the role's grant rule applies.
    Reference(String),
    Grant(GrantRequest),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Grant {
    pub reference: String,
    pub status: GrantStatus,
    pub expires: Option<DateTime<Utc>>,
}

/// What a grant amounts to at a moment: a revocation wins over everything,
/// then expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effective {
    Active,
    Pending,
    Expired,
    /// Only for a past moment: the grant had been revoked by then (a current
    /// grant list leaves revoked grants out).
    Revoked,
}

impl Grant {
    pub fn effective(&self, at: DateTime<Utc>) -> Effective {
        match (self.expires, self.status) {
            (Some(expires), _) if expires <= at => Effective::Expired,
            (_, GrantStatus::Active) => Effective::Active,
            (_, GrantStatus::Pending) => Effective::Pending,
        }
    }
}

/// What one role event did to a grant: the history a past moment is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantChange {
    Granted { status: GrantStatus, expires: Option<DateTime<Utc>> },
    Activated,
    Revoked,
}

impl GrantChange {
    /// The grant a role event changes (by reference) and how; `None` for
    /// any other event.
    pub fn of(event: &Event) -> Option<(&str, GrantChange)> {
        match event {
            Event::RoleGranted(e) => {
                Some((&e.reference, GrantChange::Granted { status: e.status, expires: e.expires }))
            }
            Event::RoleActivated(e) => Some((&e.reference, GrantChange::Activated)),
            Event::RoleRevoked(e) => Some((&e.reference, GrantChange::Revoked)),
            _ => None,
        }
    }
}

/// A grant as it stood at a past moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastGrant {
    pub grant: Grant,
    /// When it was last given or activated (that decision's `issued_at`).
    pub granted_at: DateTime<Utc>,
    /// When it was revoked, if that was its last change by then.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PastGrant {
    pub fn effective(&self, at: DateTime<Utc>) -> Effective {
        if self.revoked_at.is_some() { Effective::Revoked } else { self.grant.effective(at) }
    }
}

/// Folds one grant's changes up to a moment, in the order of the contact's
/// versions (each with its decision's `issued_at`): `None` when it had not
/// been granted yet. A revoked grant stays, marked, until granted again, so
/// a past list can say it was revoked rather than leave it out.
pub fn grant_as_of<'a>(
    reference: &str,
    changes: impl IntoIterator<Item = (DateTime<Utc>, &'a GrantChange)>,
) -> Option<PastGrant> {
    let mut past: Option<PastGrant> = None;
    for (at, change) in changes {
        match change {
            GrantChange::Granted { status, expires } => {
                let grant = Grant { reference: reference.to_owned(), status: *status, expires: *expires };
                past = Some(PastGrant { grant, granted_at: at, revoked_at: None });
            }
            // The domain activates only a grant that is held.
            GrantChange::Activated => {
                if let Some(p) = past.as_mut().filter(|p| p.revoked_at.is_none()) {
                    p.grant.status = GrantStatus::Active;
                    p.granted_at = at;
                }
            }
            GrantChange::Revoked => {
                if let Some(p) = past.as_mut() {
                    p.revoked_at = Some(at);
                }
            }
        }
    }
    past
}
