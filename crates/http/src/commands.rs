//! The asynchronous door: `POST /v1/commands` takes an envelope as it
//! travels on the commands topic, publishes it and answers 202 at once;
//! `GET /v1/commands/{id}` tells how it was decided.
use axum::{
    extract::{Path, State, rejection::PathRejection},
    http::{StatusCode, header},
    response::Response,
};
use chrono::{DateTime, Utc};
use ledger_domain::Code;
use ledger_domain::{Command, CommandId, FieldError, TenantId};
use ledger_ports::{CommandStatus, CommandView};
use ledger_protocol::{CommandEnvelope, EnvelopeError};
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    contacts_read::to_json,
    decision, idempotency,
    idempotency::Slot,
    openapi::{
        IdempotencyKey,
        bodies::{CommandEnvelope as EnvelopeBody, CommandState, CommandSubmitted, Problem as ProblemBody},
    },
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
};

const FIELDS: [&str; 5] = ["command_id", "tenant_id", "type", "issued_at", "payload"];
/// Tenants are made by the operator's CLI, never by a tenant's own key; the
/// delivery reports of invites are the mailer's alone to make.
/// Commands an API key may not send: tenants are made by the CLI, delivery
/// reports by the mailer, and accepting an invite needs the invite's token.
pub(crate) const NOT_THROUGH_API: [&str; 5] =
    ["CreateTenant", "RotateApiKey", "RecordInviteSent", "RecordInviteDeliveryFailed", "AcceptInvite"];

/// Submit a command.
///
/// Publishes the envelope as it is and answers 202 at once with the command
/// id to poll. The envelope's `command_id` is the idempotency key: sending it
/// again re-submits the same command, which is decided once.
#[utoipa::path(
    post,
    path = "/v1/commands",
    tag = "commands",
    operation_id = "submit_command",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = EnvelopeBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Published, not decided yet.", body = CommandSubmitted,
            headers(("Location" = String, description = "`/v1/commands/{command_id}`"))),
        (status = 403, description = "`tenant_mismatch`: `tenant_id` is not the key's tenant; \
            `command_not_allowed`: the type cannot be sent through the API.", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field of the envelope and its payload \
            (`payload.<field>`), in `errors`.", body = ProblemBody),
    ),
)]
pub async fn submit(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    // The envelope's own command id is the natural idempotency key.
    let candidate = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.get("command_id")?.as_str()?.parse::<CommandId>().ok());
    idempotency::run(state, tenant, req, candidate, move |slot| async move {
        let envelope = read_envelope(req.json_object(&[JSON])?, tenant, slot)?;
        decision::publish(state, &envelope).await?;
        let id = envelope.command_id;
        Ok(Reply::json(StatusCode::ACCEPTED, json!({ "command_id": id.to_string(), "status": "pending" }))
            .header(header::LOCATION, format!("/v1/commands/{id}")))
    })
    .await
}

/// A command's status.
///
/// Accepted (with the events it appended), rejected (with the problem a
/// synchronous call would have answered), or pending.
#[utoipa::path(
    get,
    path = "/v1/commands/{command_id}",
    tag = "commands",
    operation_id = "get_command",
    security(("api_key" = [])),
    params(("command_id" = String, Path, description = "The command id (a ULID).")),
    responses(
        (status = 200, description = "How the command was decided, if it was.", body = CommandState),
        (status = 404, description = "`command_not_found`", body = ProblemBody),
    ),
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Reply, Problem> {
    let not_found = || Problem::new(Code::CommandNotFound, "no such command");
    let id: CommandId = id.ok().and_then(|Path(id)| id.parse().ok()).ok_or_else(not_found)?;
    let tenant = caller.tenant_id();
    let body = match state.port("command", state.commands().command(tenant, id)).await? {
        Some(view) => decided(&view)?,
        None if state.port("was_submitted", state.commands().was_submitted(tenant, id)).await? => {
            json!({ "command_id": id.to_string(), "status": "pending" })
        }
        None => return Err(not_found()),
    };
    Ok(Reply::json(StatusCode::OK, body))
}

fn decided(view: &CommandView) -> Result<Value, Problem> {
    let id = view.command_id.to_string();
    Ok(match view.status {
        CommandStatus::Accepted => json!({
            "command_id": id,
            "type": view.command_type,
            "status": "accepted",
            "contact_id": view.contact_id.map(|c| c.to_string()),
            "events": to_json(&view.events)?,
        }),
        CommandStatus::Rejected => json!({
            "command_id": id,
            "type": view.command_type,
            "status": "rejected",
            "problem": decision::rejected(view).to_json(),
        }),
    })
}

/// The envelope from the body: optional ids and time filled in, the tenant
/// checked against the key's, every mistake (envelope and payload) listed.
fn read_envelope(body: Map<String, Value>, tenant: TenantId, slot: Slot) -> Result<CommandEnvelope, Problem> {
    let mut errors: Vec<FieldError> = body
        .keys()
        .filter(|k| !FIELDS.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown_field", "is not a known field"))
        .collect();
    let text = |key: &str, errors: &mut Vec<FieldError>| match body.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(key, "invalid_type", "must be a string"));
            None
        }
    };
    if let Some(t) = text("tenant_id", &mut errors) {
        match t.parse::<TenantId>() {
            Ok(t) if t == tenant => {}
            Ok(_) => return Err(Problem::new(Code::TenantMismatch, "tenant_id is not the tenant of this API key")),
            Err(_) => errors.push(FieldError::new("tenant_id", "invalid_id", "must be a tenant id (tenant_<ULID>)")),
        }
    }
    if text("command_id", &mut errors).is_some_and(|c| c.parse::<CommandId>().is_err()) {
        errors.push(FieldError::new("command_id", "invalid_id", "must be a ULID"));
    }
    let issued_at = match text("issued_at", &mut errors) {
        None => Some(slot.issued_at),
        Some(s) => DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc)).or_else(|| {
            errors.push(FieldError::new("issued_at", "invalid_timestamp", "must be an RFC 3339 timestamp"));
            None
        }),
    };
    let command_type = text("type", &mut errors);
    match command_type.as_deref() {
        Some(t) if NOT_THROUGH_API.contains(&t) => {
            return Err(Problem::new(Code::CommandNotAllowed, format!("{t} cannot be sent through the API")));
        }
        Some(t) if !Command::TYPES.contains(&t) => {
            let message = format!("must be one of {}", Command::TYPES.join(", "));
            errors.push(FieldError::new("type", "unknown_command", message));
        }
        None if !errors.iter().any(|e| e.field == "type") => {
            errors.push(FieldError::new("type", "required", "is required"))
        }
        _ => {}
    }
    let payload = match body.get("payload") {
        Some(Value::Object(p)) => Some(Value::Object(p.clone())),
        None | Some(Value::Null) => {
            errors.push(FieldError::new("payload", "required", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("payload", "invalid_type", "must be an object"));
            None
        }
    };
    if let (Some(t), Some(p)) = (command_type.as_deref(), &payload)
        && Command::TYPES.contains(&t)
        && let Err(payload_errors) = ledger_domain::wire::parse(t, p)
    {
        errors.extend(payload_errors.into_iter().map(in_payload));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let wire = json!({
        "command_id": slot.command_id.to_string(),
        "tenant_id": tenant.to_string(),
        "type": command_type,
        "issued_at": issued_at.map(|t| t.to_rfc3339()),
        "payload": payload,
    });
    CommandEnvelope::from_json(&wire).map_err(|e| match e {
        EnvelopeError::InvalidPayload { errors, .. } => {
            Problem::validation(errors.into_iter().map(in_payload).collect())
        }
        EnvelopeError::Undecodable(why) => {
            Problem::internal(format_args!("an envelope the API built is undecodable: {why}"))
        }
    })
}

fn in_payload(mut e: FieldError) -> FieldError {
    e.field = format!("payload.{}", e.field);
    e
}
