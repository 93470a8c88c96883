//! A contact body from a client, turned into a `CreateContact` or
//! `UpsertContact` command. The plaintext password is checked here and only
//! its argon2id hash goes into the command. When the body is refused, every
//! mistake is listed at once: the password rule's and the parser's (which
//! applies the domain's state-free field rules too).
use ledger_domain::{Command, ContactKind, FieldError, validate::check_password};
use serde_json::{Map, Value};

use crate::{password::hash_password, problem::Problem, state::AppState};

/// Fields a client may not send: the hash is made here, the id by the domain.
const SERVER_ONLY: [&str; 2] = ["password_hash", "contact_id"];
/// A well-formed argon2id PHC string standing in for the real hash while
/// the body is validated; it never leaves this module.
const PLACEHOLDER_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cGxhY2Vob2xkZXI$cGxhY2Vob2xkZXJwbGFjZWhvbGRlcnBsYWNlaG9sZA";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactWrite {
    Create,
    Upsert,
}

impl ContactWrite {
    fn command_type(self) -> &'static str {
        match self {
            ContactWrite::Create => "CreateContact",
            ContactWrite::Upsert => "UpsertContact",
        }
    }
}

/// The command for a contact body, or one 422 listing every failing field.
pub async fn contact_command(
    state: &AppState,
    write: ContactWrite,
    mut payload: Map<String, Value>,
) -> Result<Command, Problem> {
    let mut errors = Vec::new();
    for key in SERVER_ONLY {
        if payload.remove(key).is_some() {
            errors.push(FieldError::new(key, "unknown_field", "is not a known field"));
        }
    }
    let password = take_password(&mut payload, &mut errors);
    // The parser must know a password was given (a user needs one) before
    // we pay for a hash that a refused body would throw away.
    let mut draft = payload.clone();
    if password.is_some() {
        draft.insert("password_hash".into(), Value::String(PLACEHOLDER_HASH.into()));
    }
    let parsed = Command::parse(write.command_type(), &Value::Object(draft));
    if let Err(parse_errors) = parsed {
        for mut e in parse_errors {
            if e.field == "password_hash" {
                e.field = "password".into();
            }
            if !(e.field == "password" && errors.iter().any(|known| known.field == "password")) {
                errors.push(e);
            }
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(Problem::validation(errors));
    }
    let Some(password) = password else {
        return Command::parse(write.command_type(), &Value::Object(payload)).map_err(Problem::validation);
    };
    let hash = {
        let _turn = state.hashing_turn().await;
        hash_password(password).await.map_err(Problem::internal)?
    };
    payload.insert("password_hash".into(), Value::String(hash));
    Command::parse(write.command_type(), &Value::Object(payload)).map_err(Problem::validation)
}

/// Removes `password` from the payload, checking it against the rule. A
/// branch has no password (Evance ignores one), and like every other string
/// field an empty password counts as absent.
fn take_password(payload: &mut Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let is_branch = payload.get("kind").and_then(Value::as_str).map(str::trim) == Some(ContactKind::Branch.as_str());
    match payload.remove("password")? {
        Value::Null => None,
        _ if is_branch => None,
        Value::String(p) if p.is_empty() => None,
        Value::String(p) => {
            if let Err(e) = check_password("password", &p) {
                errors.push(e);
            }
            Some(p)
        }
        _ => {
            errors.push(FieldError::new("password", "invalid_type", "must be a string"));
            None
        }
    }
}
