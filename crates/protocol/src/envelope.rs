//! The command envelope as it travels on the commands topic (JSON):
//! `command_id` (ULID, the idempotency key), `tenant_id`, `type`,
//! `issued_at`, `payload`.
use chrono::{DateTime, Utc};
use ledger_domain::{Command, CommandId, FieldError, TenantId};
use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandEnvelope {
    pub command_id: CommandId,
    pub tenant_id: TenantId,
    pub issued_at: DateTime<Utc>,
    pub command: Command,
}

/// Why an envelope could not become a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not even the ids can be read: nobody can answer it, so it goes to the
    /// dead-letter topic.
    #[error("undecodable command: {0}")]
    Undecodable(String),
    /// The envelope is readable but the payload is not a valid command: it is
    /// decided as a rejection, so the sender can learn why.
    #[error("invalid command payload")]
    InvalidPayload {
        command_id: CommandId,
        tenant_id: TenantId,
        issued_at: DateTime<Utc>,
        command_type: String,
        errors: Vec<FieldError>,
    },
}

impl CommandEnvelope {
    pub fn to_json(&self) -> Result<Value, serde_json::Error> {
        Ok(json!({
            "command_id": self.command_id,
            "tenant_id": self.tenant_id,
            "type": self.command.command_type(),
            "issued_at": self.issued_at,
            "payload": self.command.payload()?,
        }))
    }

    /// The envelope as the commands topic carries it. An error, never an
    /// empty value, when the command cannot be written as JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.to_json()?)
    }

    pub fn decode(bytes: &[u8]) -> Result<CommandEnvelope, EnvelopeError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Undecodable(format!("not JSON: {e}")))?;
        Self::from_json(&v)
    }

    pub fn from_json(v: &Value) -> Result<CommandEnvelope, EnvelopeError> {
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        let undecodable = |what: &str| EnvelopeError::Undecodable(format!("missing or invalid {what}"));
        let command_id: CommandId =
            field("command_id").and_then(|s| s.parse().ok()).ok_or_else(|| undecodable("command_id"))?;
        let tenant_id: TenantId =
            field("tenant_id").and_then(|s| s.parse().ok()).ok_or_else(|| undecodable("tenant_id"))?;
        let issued_at: DateTime<Utc> = field("issued_at")
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| undecodable("issued_at"))?;
        let command_type = field("type").unwrap_or_default().to_owned();
        let payload = v.get("payload").cloned().unwrap_or(Value::Null);
        match ledger_domain::wire::parse(&command_type, &payload) {
            Ok(command) => Ok(CommandEnvelope { command_id, tenant_id, issued_at, command }),
            Err(errors) => {
                Err(EnvelopeError::InvalidPayload { command_id, tenant_id, issued_at, command_type, errors })
            }
        }
    }
}
