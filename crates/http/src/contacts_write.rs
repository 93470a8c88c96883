//! Writing contacts synchronously: publish the command, wait for its
//! decision, answer with the contact as the read model now shows it.
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use ledger_domain::{Code, Command, DeleteContact, wire};
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    contact_input::{ContactWrite, contact_command},
    contacts_read::{ContactPath, contact_reply, read_back},
    decision, idempotency,
    problem::{Problem, Reply},
    request::{JSON, MERGE_PATCH, WriteRequest},
    state::AppState,
    warnings,
};

/// `POST /v1/contacts`: 201 with the new contact.
pub async fn create(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let command = contact_command(state, ContactWrite::Create, req.json_object(&[JSON])?).await?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("create {} has no contact", slot.command_id)))?;
        let contact = read_back(state, tenant, id).await?;
        let location = format!("/v1/contacts/{}", contact.id);
        let reply = contact_reply(StatusCode::CREATED, &contact, None)?.header(header::LOCATION, location);
        Ok(warnings::attach(reply, &view.warnings))
    })
    .await
}

/// `POST /v1/contacts/upsert`: 201 when it created the contact, else 200.
pub async fn upsert(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let command = contact_command(state, ContactWrite::Upsert, req.json_object(&[JSON])?).await?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("upsert {} has no contact", slot.command_id)))?;
        let contact = read_back(state, tenant, id).await?;
        let reply = if view.created {
            let location = format!("/v1/contacts/{}", contact.id);
            contact_reply(StatusCode::CREATED, &contact, Some("created"))?.header(header::LOCATION, location)
        } else {
            contact_reply(StatusCode::OK, &contact, Some("updated"))?
        };
        Ok(warnings::attach(reply, &view.warnings))
    })
    .await
}

/// `PATCH /v1/contacts/{id}`: a JSON merge patch, optionally conditional on
/// `If-Match: "<version>"`.
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    ContactPath(contact_id): ContactPath,
    req: WriteRequest,
) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let expected_version = if_match(&req.headers)?;
        let patch = req.json_object(&[JSON, MERGE_PATCH])?;
        let mut payload = Map::new();
        payload.insert("contact_id".into(), json!(contact_id.to_string()));
        if let Some(version) = expected_version {
            payload.insert("expected_version".into(), json!(version));
        }
        payload.insert("patch".into(), Value::Object(patch));
        let command = wire::parse("PatchContact", &Value::Object(payload)).map_err(Problem::validation)?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let contact = read_back(state, tenant, view.contact_id.unwrap_or(contact_id)).await?;
        contact_reply(StatusCode::OK, &contact, None)
    })
    .await
}

/// `DELETE /v1/contacts/{id}`: 204; the contact leaves every list and its
/// email and external id are free again (its events stay readable).
/// Optionally conditional on `If-Match: "<version>"`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ContactPath(contact_id): ContactPath,
    req: WriteRequest,
) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let expected_version = if_match(&req.headers)?.map(|v| v.unsigned_abs());
        let command = Command::DeleteContact(DeleteContact { contact_id, expected_version });
        decision::decide(state, tenant, slot, command).await?;
        Ok(Reply::no_content())
    })
    .await
}

/// `If-Match` as the expected version: `*` or absent means any; our ETags
/// are strong quoted integers, so anything else can never match.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let value = value.to_str().map(str::trim).unwrap_or_default();
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v >= 0)
        .map(Some)
        .ok_or_else(|| {
            Problem::new(Code::PreconditionFailed, "If-Match must be one version as sent in the ETag, e.g. \"3\"")
        })
}
