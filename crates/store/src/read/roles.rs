//! Access roles as the API reads them: the tenant's catalogue and a
//! contact's current grants (the effective status at a given time is the
//! API's to work out, from `expires`).
use ledger_domain::{ContactId, TenantId};
use ledger_protocol::ports::{GrantView, RoleView};
use sqlx::{PgPool, Row};

use crate::{
    error::Result,
    roles::{parse_rule, parse_status},
};

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
