use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::{
    ContactId, TenantId,
    roles::{GrantChange, GrantRule, GrantStatus},
};
use serde::Serialize;

use crate::Unavailable;

/// A role of the tenant's catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleView {
    pub reference: String,
    pub name: String,
    pub grant_rule: GrantRule,
    pub created_at: DateTime<Utc>,
}

/// A contact's grant as recorded (the API works out the effective status at
/// a given time with `ledger_domain::roles::Grant::effective`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantView {
    pub reference: String,
    pub status: GrantStatus,
    pub expires: Option<DateTime<Utc>>,
    /// When the grant was last given or changed (the command's `issued_at`).
    pub granted_at: DateTime<Utc>,
}

/// One change of a contact's grant, from the contact's history: what its
/// role event did and when the decision was issued (`GET .../roles?as_of=`
/// folds these with `ledger_domain::roles::grant_as_of`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantChangeView {
    pub reference: String,
    /// The contact's version after the change.
    pub version: u64,
    pub at: DateTime<Utc>,
    pub change: GrantChange,
}

/// Access roles: the tenant's role catalogue, and the grants of a contact,
/// now and as they changed over time.
#[async_trait]
pub trait AccessRoles: Send + Sync + 'static {
    /// The tenant's access-role catalogue, ordered by reference.
    async fn access_roles(&self, tenant: TenantId) -> Result<Vec<RoleView>, Unavailable>;
    /// A contact's current grants (revoked ones are gone), ordered by reference.
    async fn contact_grants(&self, tenant: TenantId, contact: ContactId) -> Result<Vec<GrantView>, Unavailable>;
    /// Every change of a contact's grants whose decision was issued at or
    /// before `until`, in the order of the contact's versions.
    async fn grant_history(
        &self,
        tenant: TenantId,
        contact: ContactId,
        until: DateTime<Utc>,
    ) -> Result<Vec<GrantChangeView>, Unavailable>;
}
