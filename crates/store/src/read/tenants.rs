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
        key_version: u32::try_from(row.try_get::<i32, _>("key_version")?)
            .map_err(|e| Error::corrupt("tenant_api_keys", e))?,
    })
}

pub(crate) async fn by_key_hash(pool: &PgPool, api_key_hash: &str) -> Result<Option<TenantView>> {
    let row = sqlx::query(
        "SELECT t.tenant_id, t.name, t.contact_capture, k.key_version FROM tenant_api_keys k \
         JOIN tenants t ON t.tenant_id = k.tenant_id \
         WHERE k.api_key_hash = $1 AND (k.valid_until IS NULL OR k.valid_until > now())",
    )
    .bind(api_key_hash)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn by_id(pool: &PgPool, tenant: TenantId) -> Result<Option<TenantView>> {
    let row = sqlx::query(
        "SELECT tenant_id, name, contact_capture, \
         coalesce((SELECT max(key_version) FROM tenant_api_keys k WHERE k.tenant_id = t.tenant_id), 1) AS key_version \
         FROM tenants t WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn key_works(pool: &PgPool, tenant: TenantId, key_version: u32) -> Result<bool> {
    let works: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM tenant_api_keys WHERE tenant_id = $1 AND key_version = $2 \
         AND (valid_until IS NULL OR valid_until > now()))",
    )
    .bind(tenant.to_string())
    .bind(i32::try_from(key_version).unwrap_or(i32::MAX))
    .fetch_one(pool)
    .await?;
    Ok(works)
}
