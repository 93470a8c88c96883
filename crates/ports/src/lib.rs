//! The ports the HTTP adapter (and the CLI roles) use; the store and the
//! Kafka adapter implement them, and the binary plugs them together, so
//! adapters never depend on each other.
//!
//! Writes go through [`CommandBus`] (the Kafka adapter). Reads are split by
//! concern, each a small trait the PostgreSQL adapter's `Store` implements:
//! [`Tenants`], [`Contacts`], [`AccessRoles`], [`Commands`],
//! [`IdempotencyKeys`], [`Invites`] and [`Readiness`]. A caller asks for the
//! ones it needs only. Every call that can fail fails with [`Unavailable`].
mod bus;
mod commands;
mod contacts;
mod idempotency;
mod invites;
mod readiness;
mod roles;
mod snapshots;
pub mod stages;
mod tenants;

pub use bus::CommandBus;
pub use commands::{CommandStatus, CommandView, Commands};
pub use contacts::{ContactFilter, Contacts, Cursor, EventView};
pub use idempotency::{Idempotency, IdempotencyKeys, StoredResponse};
pub use invites::{InviteState, InviteTokenView, Invites};
pub use readiness::{Coverage, Readiness};
pub use roles::{AccessRoles, GrantChangeView, GrantView, RoleView};
pub use snapshots::{Snapshots, StoredSnapshot};
pub use tenants::{TenantView, Tenants};

/// Infrastructure trouble (broker or database down, timeouts). Maps to 503.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);
