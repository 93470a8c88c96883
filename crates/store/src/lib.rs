//! The PostgreSQL adapter of Contact Ledger. Kafka is the system of record;
//! this crate keeps the read models the API answers from: `Projection` folds
//! the events topic into tables with the Kafka offsets in the same
//! transaction (exactly once), and `Store` implements the read ports of
//! `ledger_ports` (tenants, contacts, access roles, commands, idempotency
//! keys, invites, readiness).
//! It also keeps the invite mailer's own tables (`mailer`), which are not
//! read models. All SQL of the service lives here.
mod admin;
mod dump;
mod error;
mod idempotency;
mod leases;
mod mailer;
mod notify;
mod profile_columns;
mod projection;
mod read;
mod roles;
mod secrets;
mod snapshots;
mod store;
#[cfg(feature = "test-support")]
pub mod test_support;

pub use error::{Error, Result};
pub use leases::{Held, LeaseRow, Plan, Tick, plan, share};
pub use mailer::{InviteTicket, InviteToken, MailerBatch, MailerPosition, TokenState, invite_token_hash};
pub use projection::{Applied, Projection};
pub use secrets::public_data;
pub use sqlx::PgPool;
pub use store::Store;

use std::{str::FromStr, time::Duration};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Opens a pool and makes its first connection, so a bad URL or an
/// unreachable server fails here rather than on the first query.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies the embedded migrations (idempotent; safe to run from every role).
pub async fn migrate(pool: &PgPool) -> Result<()> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}
