//! A contact body from a client, turned into a `CreateContact` or
//! `UpsertContact` command. The wire reads its shape (the plaintext password
//! as a `Password`), the domain's state-free rules (`admit`) refuse what can
//! be refused before hashing, and only the argon2id hash goes into the
//! command. When the body is refused, every failing field is listed at once.
use ledger_domain::{Command, FieldError, admit, rules::take_password, wire};
use serde_json::{Map, Value};

pub use ledger_domain::wire::ContactWrite;

use crate::{problem::Problem, state::AppState};

/// The command for a contact body, or one 422 listing every failing field.
pub async fn contact_command(
    state: &AppState,
    write: ContactWrite,
    payload: Map<String, Value>,
) -> Result<Command, Problem> {
    let mut command = wire::contact_body(write, &payload).map_err(refused)?;
    let errors = admit(&command);
    if !errors.is_empty() {
        return Err(refused(errors));
    }
    if let Some(password) = take_password(&mut command) {
        let hash = state.hash_password(password).await?;
        command.set_password_hash(hash);
    }
    Ok(command)
}

fn refused(mut errors: Vec<FieldError>) -> Problem {
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Problem::validation(errors)
}
