//! Warnings: a successful write that did less than the body asked for says
//! so in a `warnings` list next to the data, rather than failing (the domain
//! accepted the command) or staying silent (the client would believe it got
//! what it sent). Like problem codes, warning codes are part of the API
//! contract: add new ones, never rename one.
use ledger_domain::{Command, ContactKind, CreateContact};
use serde::Serialize;
use serde_json::{Value, json};

use crate::problem::Reply;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub field: &'static str,
    pub code: &'static str,
    pub message: &'static str,
}

/// Evance ignores access roles given to any kind but a user; so does the domain.
pub const IGNORED_FOR_KIND: Warning =
    Warning { field: "access_roles", code: "ignored_for_kind", message: "access roles are only granted to users" };

/// Whether a contact of this kind would ignore grants that were asked for.
pub fn grants_ignored(kind: ContactKind, asked: usize) -> bool {
    kind != ContactKind::User && asked > 0
}

/// The warnings a create or upsert earns before it is even decided (the
/// kind is in the body and can never change afterwards).
pub fn for_contact_write(command: &Command) -> Vec<Warning> {
    let contact: &CreateContact = match command {
        Command::CreateContact(c) => c,
        Command::UpsertContact(u) => &u.contact,
        _ => return Vec::new(),
    };
    if grants_ignored(contact.kind, contact.access_roles.len()) { vec![IGNORED_FOR_KIND] } else { Vec::new() }
}

/// Adds `warnings` to an object body; no warnings leave the reply as it is.
pub fn attach(mut reply: Reply, warnings: &[Warning]) -> Reply {
    if let (false, Value::Object(body)) = (warnings.is_empty(), &mut reply.body) {
        body.insert("warnings".into(), json!(warnings));
    }
    reply
}
