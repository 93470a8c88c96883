//! The pure domain of Contact Ledger. `decide` takes a tenant's state and a
//! command and answers with events or a rejection; `evolve` folds an event
//! into the state. No IO, no async, no clocks, no randomness: the adapters
//! around this crate do all of that.
pub mod code;
pub mod command;
pub mod contact;
pub mod decide;
pub mod error;
pub mod event;
mod examples;
pub mod ids;
pub mod input;
mod packed;
pub mod patch;
pub mod roles;
pub mod rules;
pub mod secret;
pub mod state;
mod store;
pub mod upcast;
pub mod warning;
pub mod wire;

pub use code::Code;
pub use command::{
    Command, ConfigureTenant, CreateContact, CreateTenant, DeleteContact, MatchOn, PatchContact, RotateApiKey,
    UpsertContact,
};
pub use contact::{Address, Contact, ContactKind, Profile, normalize_email};
pub use decide::{Context, Decided, decide};
pub use error::{FieldError, Rejection};
pub use event::Event;
pub use ids::{AddressId, CommandId, ContactId, InviteId, TenantId};
pub use patch::ProfilePatch;
pub use rules::admit;
pub use secret::Password;
pub use state::{TenantInfo, TenantSnapshot, TenantState, evolve};
pub use warning::Warning;
