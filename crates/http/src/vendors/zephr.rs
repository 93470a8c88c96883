//! Zuora Zephr `POST /zephr/createContact` (seed 000): create a contact user,
//! or update the attributes of the one with that email. It is the native
//! upsert by email among `contact` kind contacts; `attributes` are the
//! contact's metadata.
//!
//! Answers: 200 `{"tracking_id", "message"}` (the tracking id is the command
//! id, so `GET /v1/commands/{id}` finds it); 400 for a body that is not
//! right, listing every failing field under Zephr's names; 401; 403 when
//! contact capture is off; 409 `User {email} already exists` for a
//! registered user. Errors are `{"status", "message", "errors"?}`.
use std::collections::BTreeMap;

use axum::{extract::State, http::StatusCode, response::Response};
use ledger_domain::{
    Command, CommandId, ContactKind, CreateContact, FieldError, MatchOn, Profile, UpsertContact, admit, input::Reader,
};
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    decision,
    openapi::{IdempotencyKey, bodies::Problem as ProblemBody, bridge},
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
    vendors::{idempotent, merged, unpack},
};

pub const CREATED: &str = "Creating contact successful";
pub const UPDATED: &str = "Updating contact successful";

/// Zephr: create or update a contact.
///
/// Zuora Zephr's `createContact`: the contact (of kind `contact`) with that
/// email gets the attributes as its metadata, or is created with them.
/// Answers and errors are Zephr's: `{"tracking_id", "message"}`, and
/// `{"status", "message", "errors"?}` with every failing field under Zephr's
/// names. The tracking id is the command id (`GET /v1/commands/{command_id}`).
#[utoipa::path(
    post,
    path = "/zephr/createContact",
    tag = "zephr",
    operation_id = "zephr_create_contact",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = ZephrCreateContact, content_type = "application/json"),
    responses(
        (status = 200, description = "Created or updated.", body = ZephrContactSaved),
        (status = 400, description = "The body is not right: every failing field under Zephr's names, in `errors`.",
            content((ZephrError = "application/json"), (ProblemBody = "application/problem+json"))),
        (status = 401, description = "In Zephr's shape.", body = ZephrError),
        (status = 403, description = "Contact capture is off for the tenant.", body = ZephrError),
        (status = 409, description = "`User {email} already exists`: a registered user has the email.",
            body = ZephrError),
        (status = 413, description = "In Zephr's shape.", body = ZephrError),
        (status = 422, description = "About the request rather than the contact (a reused `Idempotency-Key`).",
            body = ZephrError),
        (status = 503, description = "Zephr's shape once the command is published (then `GET \
            /v1/commands/{command_id}` tells its fate), else native problem+json.",
            content((ZephrError = "application/json"), (ProblemBody = "application/problem+json")),
            headers(("Retry-After" = u32, description = "Seconds to wait."))),
    ),
)]
pub async fn create_contact(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    req: Result<WriteRequest, Problem>,
) -> Response {
    let (caller, req) = match unpack(caller, req, error) {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotent(state, tenant, req, error, move |slot| async move {
        let command = read(&req.json_object(&[JSON])?)?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let message = if view.created { CREATED } else { UPDATED };
        Ok(Reply::json(StatusCode::OK, json!({"tracking_id": slot.command_id.to_string(), "message": message})))
    })
    .await
}

/// Zephr's `createContact` body.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"identifiers": {"email_address": "grace@example.com"}, "attributes": {"plan": "gold"}}))]
#[allow(dead_code, reason = "described, never built: `read` reads the body")]
pub struct ZephrCreateContact {
    pub identifiers: ZephrIdentifiers,
    /// The contact's metadata: string values only.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// How Zephr names the contact.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "described, never built")]
pub struct ZephrIdentifiers {
    /// The contact is found or created by it.
    pub email_address: String,
}

/// Zephr's answer to a create or an update.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `create_contact` writes it")]
pub struct ZephrContactSaved {
    /// The command id.
    pub tracking_id: CommandId,
    pub message: ZephrMessage,
}

#[derive(JsonSchema)]
#[schemars(inline)]
#[allow(dead_code, reason = "described, never built")]
pub enum ZephrMessage {
    #[serde(rename = "Creating contact successful")]
    Created,
    #[serde(rename = "Updating contact successful")]
    Updated,
}

/// Zephr's error: the HTTP status, a message, and for a 400 every failing field.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `error` writes it")]
pub struct ZephrError {
    pub status: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

bridge!(Request: ZephrCreateContact);
bridge!(Response: ZephrContactSaved, ZephrError);

/// The upsert a Zephr body asks for, or every failing field under Zephr's names.
fn read(body: &Map<String, Value>) -> Result<Command, Problem> {
    let mut r = Reader::new(body);
    let mut email = None;
    match r.object("identifiers") {
        Some(ids) => {
            let mut ir = r.child("identifiers", ids);
            email = ir.string("email_address");
            if email.is_none() && ir.error_count() == 0 {
                ir.error("email_address", "required", "is required: the contact is found or created by it");
            }
            let errors = ir.finish();
            r.absorb(errors);
        }
        None if r.error_count() == 0 => {
            r.error("identifiers.email_address", "required", "is required: the contact is found or created by it")
        }
        None => {}
    }
    let mut metadata = Map::new();
    if let Some(attributes) = r.object("attributes") {
        for (key, value) in attributes {
            match value {
                Value::String(_) => {
                    metadata.insert(key.clone(), value.clone());
                }
                _ => r.error(&format!("attributes.{key}"), "invalid_type", "must be a string"),
            }
        }
    }
    let mut errors = r.finish();
    let contact = CreateContact {
        contact_id: None,
        kind: ContactKind::Contact,
        type_id: None,
        profile: Profile { email, metadata, ..Profile::default() },
        password_hash: None,
        password: None,
        invite: false,
        access_roles: Vec::new(),
    };
    let command = Command::UpsertContact(UpsertContact { match_on: MatchOn::Email, contact });
    errors = merged(errors, &admit(&command), field_name);
    if errors.is_empty() { Ok(command) } else { Err(Problem::validation(errors)) }
}

/// Zephr's names for the native fields a problem may name.
fn field_name(native: &str) -> String {
    match native {
        "email" => "identifiers.email_address".to_owned(),
        "metadata" => "attributes".to_owned(),
        other => other.to_owned(),
    }
}

/// A problem in Zephr's shape: a validation problem is its 400.
fn error(p: &Problem) -> Reply {
    // A body that is not right is the vendor's 400; other 422s (a reused
    // Idempotency-Key) keep their status.
    let status = if p.code() == ledger_domain::Code::ValidationFailed { StatusCode::BAD_REQUEST } else { p.status() };
    let mut body = json!({"status": status.as_u16(), "message": p.detail()});
    let errors: Vec<FieldError> = p
        .errors()
        .iter()
        .map(|e| FieldError { field: field_name(&e.field), code: e.code.clone(), message: e.message.clone() })
        .collect();
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    let mut reply = Reply::json(status, body);
    reply.headers.extend(p.headers().iter().cloned());
    reply
}
