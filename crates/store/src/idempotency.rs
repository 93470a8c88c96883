//! The API's own records: idempotency keys with the response they produced,
//! and the command ids it submitted. Neither is a read model (the log does not
//! hold them), so a rebuild leaves both alone.
use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, TenantId};
use ledger_ports::{Idempotency, StoredResponse};
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::error::{Error, Result};

/// A key whose row vanishes between our insert and our read (someone pruned
/// it) is simply claimed again, a bounded number of times.
const ATTEMPTS: usize = 3;

pub(crate) async fn begin(
    pool: &PgPool,
    tenant: TenantId,
    key: &str,
    request_hash: &str,
    command_id: CommandId,
    issued_at: DateTime<Utc>,
) -> Result<Idempotency> {
    let tenant = tenant.to_string();
    for _ in 0..ATTEMPTS {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, command_id, issued_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(&tenant)
        .bind(key)
        .bind(request_hash)
        .bind(command_id.to_string())
        .bind(issued_at)
        .execute(pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Idempotency::Fresh);
        }
        let row = sqlx::query(
            "SELECT request_hash, command_id, issued_at, status, headers, body FROM idempotency_keys \
             WHERE tenant_id = $1 AND key = $2",
        )
        .bind(&tenant)
        .bind(key)
        .fetch_optional(pool)
        .await?;
        let Some(row) = row else { continue };
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Ok(Idempotency::Mismatch);
        }
        let Some(status) = row.try_get::<Option<i32>, _>("status")? else {
            let stored: String = row.try_get("command_id")?;
            return Ok(Idempotency::InFlight {
                command_id: stored.parse().map_err(|e| Error::corrupt("idempotency_keys", e))?,
                issued_at: row.try_get("issued_at")?,
            });
        };
        let headers: Option<Value> = row.try_get("headers")?;
        let headers: Vec<(String, String)> = match headers {
            Some(h) => serde_json::from_value(h).map_err(|e| Error::corrupt("idempotency_keys", e))?,
            None => vec![],
        };
        let body: Option<Value> = row.try_get("body")?;
        return Ok(Idempotency::Done(StoredResponse {
            status: u16::try_from(status).map_err(|e| Error::corrupt("idempotency_keys", e))?,
            headers,
            body: body.unwrap_or(Value::Null),
        }));
    }
    Err(Error::corrupt("idempotency_keys", format!("key {key:?} keeps disappearing")))
}

pub(crate) async fn finish(pool: &PgPool, tenant: TenantId, key: &str, response: &StoredResponse) -> Result<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE tenant_id = $1 AND key = $2")
        .bind(tenant.to_string())
        .bind(key)
        .bind(i32::from(response.status))
        .bind(serde_json::to_value(&response.headers)?)
        .bind(&response.body)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn record_submitted(pool: &PgPool, tenant: TenantId, id: CommandId) -> Result<()> {
    sqlx::query(
        "INSERT INTO submitted_commands (tenant_id, command_id) VALUES ($1, $2) ON CONFLICT (tenant_id, command_id) DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn was_submitted(pool: &PgPool, tenant: TenantId, id: CommandId) -> Result<bool> {
    let found = sqlx::query("SELECT 1 FROM submitted_commands WHERE command_id = $1 AND tenant_id = $2")
        .bind(id.to_string())
        .bind(tenant.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Rows deleted per statement when pruning, so a prune never holds many
/// locks or one long transaction.
const PRUNE_BATCH: i64 = 1000;

/// Deletes the idempotency keys made more than `older_than` ago (by the
/// database's clock) with their stored answers; how many went.
pub(crate) async fn prune(pool: &PgPool, older_than: std::time::Duration) -> Result<u64> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys \
             WHERE created_at < now() - make_interval(secs => $1) LIMIT $2))",
        )
        .bind(older_than.as_secs_f64())
        .bind(PRUNE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < PRUNE_BATCH as u64 {
            return Ok(total);
        }
    }
}
