//! Access roles as the API reads them: the tenant's catalogue, a contact's
//! current grants (the effective status at a given time is the API's to work
//! out, from `expires`), and the history of its grants for a past moment.
//!
//! Why the history is read from `contact_events` rather than kept in a table
//! of its own: every role event is a contact event, already stored there
//! exactly once per decision (keyed by the contact's version, so a decision
//! repeated in the log adds nothing), with its decision's time (`Decision::at`), and
//! rebuilt by a replay like every read model. A second copy would have to be
//! kept in step with it. The rows are read back through `Event::from_parts`,
//! so an event's older schema versions are upcast as everywhere else.
use chrono::{DateTime, Utc};
use ledger_domain::{ContactId, Event, TenantId, roles::GrantChange};
use ledger_ports::{GrantChangeView, GrantView, RoleView};
use sqlx::{PgPool, Row};

use crate::{
    error::{Error, Result, to_u64},
    roles::{parse_rule, parse_status},
};

const ROLE_EVENTS: &[&str] = &["RoleGranted", "RoleActivated", "RoleRevoked"];

pub(crate) async fn catalogue(pool: &PgPool, tenant: TenantId) -> Result<Vec<RoleView>> {
    let rows = sqlx::query(
        "SELECT reference, name, grant_rule, created_at FROM access_roles WHERE tenant_id = $1 ORDER BY reference",
    )
    .bind(tenant.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RoleView {
                reference: row.try_get("reference")?,
                name: row.try_get("name")?,
                grant_rule: parse_rule(row.try_get("grant_rule")?)?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

pub(crate) async fn grants(pool: &PgPool, tenant: TenantId, contact: ContactId) -> Result<Vec<GrantView>> {
    let rows = sqlx::query(
        "SELECT reference, status, expires, granted_at FROM contact_roles \
         WHERE tenant_id = $1 AND contact_id = $2 ORDER BY reference",
    )
    .bind(tenant.to_string())
    .bind(contact.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(GrantView {
                reference: row.try_get("reference")?,
                status: parse_status(row.try_get("status")?)?,
                expires: row.try_get("expires")?,
                granted_at: row.try_get("granted_at")?,
            })
        })
        .collect()
}

pub(crate) async fn history(
    pool: &PgPool,
    tenant: TenantId,
    contact: ContactId,
    until: DateTime<Utc>,
) -> Result<Vec<GrantChangeView>> {
    let rows = sqlx::query(
        "SELECT version, occurred_at, event_type, event_version, data FROM contact_events \
         WHERE tenant_id = $1 AND contact_id = $2 AND event_type = ANY($3) AND occurred_at <= $4 \
         ORDER BY version, idx",
    )
    .bind(tenant.to_string())
    .bind(contact.to_string())
    .bind(ROLE_EVENTS)
    .bind(until)
    .fetch_all(pool)
    .await?;
    let corrupt = |reason: String| Error::corrupt("contact_events", reason);
    rows.iter()
        .map(|row| {
            let event_type: String = row.try_get("event_type")?;
            let event_version: i32 = row.try_get("event_version")?;
            let event_version = u32::try_from(event_version).map_err(|e| corrupt(e.to_string()))?;
            let event = Event::from_parts(&event_type, event_version, row.try_get("data")?)
                .map_err(|e| corrupt(format!("{event_type}: {e}")))?;
            let (reference, change) =
                GrantChange::of(&event).ok_or_else(|| corrupt(format!("{event_type} is not a role event")))?;
            Ok(GrantChangeView {
                reference: reference.to_owned(),
                version: to_u64("contact_events", row.try_get("version")?)?,
                at: row.try_get("occurred_at")?,
                change,
            })
        })
        .collect()
}
