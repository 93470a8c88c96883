//! Why a command was refused. Rejections are data: they are written to the log
//! with the decision, so a retried command gets the same answer back.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::code::Code;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code: code.to_owned(), message: message.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rejection {
    /// Input that breaks a rule of the model; every failing field is listed.
    #[error("validation failed: {} field(s)", errors.len())]
    Validation { errors: Vec<FieldError> },
    /// A uniqueness rule or a registered user stands in the way.
    #[error("{message}")]
    Conflict { code: Code, field: Option<String>, message: String },
    #[error("{message}")]
    NotFound { code: Code, message: String },
    #[error("contact is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    #[error("{message}")]
    Forbidden { code: Code, message: String },
    /// It existed but can no longer be used (an accepted or expired invite).
    #[error("{message}")]
    Gone { code: Code, message: String },
}

impl Rejection {
    pub fn code(&self) -> Code {
        match self {
            Rejection::Validation { .. } => Code::ValidationFailed,
            Rejection::VersionMismatch { .. } => Code::VersionMismatch,
            Rejection::Conflict { code, .. }
            | Rejection::NotFound { code, .. }
            | Rejection::Forbidden { code, .. }
            | Rejection::Gone { code, .. } => *code,
        }
    }

    pub fn conflict(code: Code, field: &str, message: impl Into<String>) -> Self {
        Rejection::Conflict { code, field: Some(field.into()), message: message.into() }
    }

    pub fn not_found(code: Code, message: impl Into<String>) -> Self {
        Rejection::NotFound { code, message: message.into() }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Rejection::Validation { errors }
    }
}
