//! Decided commands, and waiting for one: the API answers a command
//! synchronously by waiting until the projector has recorded its outcome.
use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, TenantId};
use ledger_ports::{CommandStatus, CommandView, EventView};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgPool, Row, postgres::PgRow};
use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::Instant,
};

use crate::{
    error::{Error, Result},
    store::Store,
};

/// How often a waiter re-reads the table in case a notification was lost.
const RECHECK: Duration = Duration::from_millis(200);

/// The JSON form of an `EventView` inside `command_outcomes.events`.
#[derive(Deserialize)]
struct StoredEvent {
    #[serde(rename = "type")]
    event_type: String,
    version: u64,
    time: DateTime<Utc>,
    command_id: CommandId,
    data: Value,
    /// Missing in outcomes stored before 2026-12-07.
    #[serde(default)]
    schema_version: Option<u32>,
}

fn corrupt(reason: impl ToString) -> Error {
    Error::corrupt("command_outcomes", reason)
}

fn view_from_row(row: &PgRow) -> Result<CommandView> {
    let text = |col: &str| row.try_get::<String, _>(col);
    let status = match text("status")?.as_str() {
        "accepted" => CommandStatus::Accepted,
        "rejected" => CommandStatus::Rejected,
        other => return Err(corrupt(format!("status {other:?}"))),
    };
    let events: Vec<StoredEvent> = serde_json::from_value(row.try_get("events")?).map_err(corrupt)?;
    let contact_id: Option<String> = row.try_get("contact_id")?;
    Ok(CommandView {
        command_id: text("command_id")?.parse().map_err(corrupt)?,
        tenant_id: text("tenant_id")?.parse().map_err(corrupt)?,
        command_type: text("command_type")?,
        status,
        contact_id: contact_id.map(|c| c.parse()).transpose().map_err(corrupt)?,
        events: events
            .into_iter()
            .map(|e| EventView {
                event_type: e.event_type,
                version: e.version,
                time: e.time,
                command_id: e.command_id,
                data: e.data,
                schema_version: e.schema_version,
            })
            .collect(),
        created: row.try_get("created")?,
        warnings: serde_json::from_value(row.try_get("warnings")?).map_err(corrupt)?,
        rejection: row
            .try_get::<Option<Value>, _>("rejection")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(corrupt)?,
    })
}

pub(crate) async fn by_id(pool: &PgPool, tenant: TenantId, id: CommandId) -> Result<Option<CommandView>> {
    let row = sqlx::query(
        "SELECT command_id, tenant_id, command_type, status, contact_id, rejection, events, created, warnings \
         FROM command_outcomes WHERE command_id = $1 AND tenant_id = $2",
    )
    .bind(id.to_string())
    .bind(tenant.to_string())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(view_from_row).transpose()
}

/// Listens first, then reads the table, then sleeps until a notification for
/// this command or the next re-check, until it is found or time is up.
pub(crate) async fn wait(
    store: &Store,
    tenant: TenantId,
    id: CommandId,
    timeout: Duration,
) -> Result<Option<CommandView>> {
    let deadline = Instant::now() + timeout;
    let mut decided = match store.notifier().subscribe(store.pool()).await {
        Ok(rx) => Some(rx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for decided commands; polling instead");
            None
        }
    };
    let key = id.to_string();
    loop {
        if let Some(view) = by_id(store.pool(), tenant, id).await? {
            return Ok(Some(view));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let until = deadline.min(now + RECHECK);
        match decided.as_mut() {
            Some(rx) => {
                let _ = tokio::time::timeout_at(until, notified(rx, &key)).await;
            }
            None => tokio::time::sleep_until(until).await,
        }
    }
}

/// Returns when `key` is announced, or when announcements may have been
/// missed (the waiter lagged), so the caller re-checks the table.
async fn notified(rx: &mut broadcast::Receiver<String>, key: &str) {
    loop {
        match rx.recv().await {
            Ok(id) if id == key => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}
