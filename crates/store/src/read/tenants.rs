//! Tenants as the API reads them: by API key hash (authentication) and by id.
use ledger_domain::TenantId;
use ledger_ports::TenantView;
use sqlx::{PgPool, Row, postgres::PgRow};

use crate::error::{Error, Result};

fn from_row(row: &PgRow) -> Result<TenantView> {
    let tenant_id: String = row.try_get("tenant_id")?;
    Ok(TenantView {
        tenant_id: tenant_id.parse().map_err(|e| Error::corrupt("tenants", e))?,
        name: row.try_get("name")?,
        contact_capture: row.try_get("contact_capture")?,
    })
}

pub(crate) async fn by_key_hash(pool: &PgPool, api_key_hash: &str) -> Result<Option<TenantView>> {
    let row = sqlx::query("SELECT tenant_id, name, contact_capture FROM tenants WHERE api_key_hash = $1")
        .bind(api_key_hash)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn by_id(pool: &PgPool, tenant: TenantId) -> Result<Option<TenantView>> {
    let row = sqlx::query("SELECT tenant_id, name, contact_capture FROM tenants WHERE tenant_id = $1")
        .bind(tenant.to_string())
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}
