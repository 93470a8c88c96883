//! Warnings: a decision that did less than the command asked for says so,
//! rather than failing (the command was accepted) or staying silent (the
//! client would believe it got what it sent). The domain decides them, with
//! the events; they travel in the decision record and every reader (the API
//! answering, `GET /v1/commands/{id}`) takes them from there. Like problem
//! codes, warning codes are part of the API contract.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{command::Command, contact::ContactKind, state::TenantState};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Evance ignores access roles given to any kind but a user; so does the domain.
pub fn ignored_for_kind() -> Warning {
    Warning {
        field: "access_roles".into(),
        code: "ignored_for_kind".into(),
        message: "access roles are only granted to users".into(),
    }
}

/// What an accepted `command` did less than asked, judged on the state it was
/// decided against.
pub fn warnings_of(state: &TenantState, command: &Command) -> Vec<Warning> {
    let (kind, asked) = match command {
        Command::CreateContact(c) => (Some(c.kind), c.access_roles.len()),
        Command::UpsertContact(u) => (Some(u.contact.kind), u.contact.access_roles.len()),
        Command::GrantRoles(g) => (state.contact_kind(g.contact_id), g.access_roles.len()),
        _ => (None, 0),
    };
    match kind {
        Some(kind) if kind != ContactKind::User && asked > 0 => vec![ignored_for_kind()],
        _ => Vec::new(),
    }
}
