//! Writing contacts synchronously: publish the command, wait for its
//! decision, answer with the contact as the read model now shows it.
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use ledger_domain::{Code, Command, DeleteContact, wire};
use ledger_ports::stages::{Stage, Timed};
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    contact_input::{ContactWrite, contact_command},
    contacts_read::{ContactPath, contact_reply, read_back},
    decision, idempotency,
    openapi::{
        IdempotencyKey, IfMatch,
        bodies::{
            Contact, ContactPatch, ContactUpsert, CreatedContact, NewContact, Problem as ProblemBody, UpsertedContact,
        },
    },
    problem::{Problem, Reply},
    request::{JSON, MERGE_PATCH, WriteRequest},
    state::AppState,
    warnings,
};

/// Create a contact.
///
/// 201 with the contact as the read model now shows it, its `Location` and
/// its `ETag`. A user needs a password or `"invite": true`; access roles are
/// granted to users only (other kinds ignore them, with a warning).
#[utoipa::path(
    post,
    path = "/v1/contacts",
    tag = "contacts",
    operation_id = "create_contact",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = NewContact, content_type = "application/json"),
    responses(
        (status = 201, description = "The new contact.", body = CreatedContact, headers(
            ("Location" = String, description = "`/v1/contacts/{id}`"),
            ("ETag" = String, description = "The contact's version, quoted."),
        )),
        (status = 409, description = "`email_taken`, `external_id_taken`, `email_belongs_to_user`: another contact \
            holds the email or external id (`errors` names the field).", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field, in `errors`.", body = ProblemBody),
    ),
)]
pub async fn create(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    let _timed = Timed::new(Stage::ApiWrite);
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let command = contact_command(state, ContactWrite::Create, req.json_object(&[JSON])?).await?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("create {} has no contact", slot.command_id)))?;
        let contact = created_or_read_back(state, tenant, &view, id).await?;
        let location = format!("/v1/contacts/{}", contact.id);
        let reply = contact_reply(StatusCode::CREATED, &contact, None)?.header(header::LOCATION, location);
        Ok(warnings::attach(reply, &view.warnings))
    })
    .await
}

/// The contact a decision just created, folded from that decision's own
/// events (the read model already has it: the decision was awaited as
/// projected, so read-your-writes holds); any other case, or events that do
/// not fold (secrets are removed from stored events), reads it back. Saves a
/// read-model query on every create.
async fn created_or_read_back(
    state: &AppState,
    tenant: ledger_domain::TenantId,
    view: &ledger_ports::CommandView,
    id: ledger_domain::ContactId,
) -> Result<ledger_domain::Contact, Problem> {
    match view.created_contact(id) {
        Some(contact) => Ok(contact),
        None => read_back(state, tenant, id).await,
    }
}

/// Create or update a contact.
///
/// The contact of that kind (default `contact`) matched by `email` (or, with
/// `"match_on": "external_id"`, by external id) is updated with the fields
/// given; when none matches, it is created. A registered user is never
/// updated this way, and the tenant must have contact capture on.
#[utoipa::path(
    post,
    path = "/v1/contacts/upsert",
    tag = "contacts",
    operation_id = "upsert_contact",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = ContactUpsert, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (`\"outcome\": \"updated\"`).", body = UpsertedContact,
            headers(("ETag" = String, description = "The contact's version, quoted."))),
        (status = 201, description = "Created (`\"outcome\": \"created\"`).", body = UpsertedContact, headers(
            ("Location" = String, description = "`/v1/contacts/{id}`"),
            ("ETag" = String, description = "The contact's version, quoted."),
        )),
        (status = 403, description = "`contact_capture_disabled`: the tenant has contact capture off.", body = ProblemBody),
        (status = 409, description = "`registered_user`: the email is a registered user's; `email_taken`, \
            `external_id_taken`, `email_belongs_to_user` as for a create.", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field, in `errors` (also what an update may \
            not change: kind, type, password, invite).", body = ProblemBody),
    ),
)]
pub async fn upsert(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    let _timed = Timed::new(Stage::ApiWrite);
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let command = contact_command(state, ContactWrite::Upsert, req.json_object(&[JSON])?).await?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("upsert {} has no contact", slot.command_id)))?;
        let contact = created_or_read_back(state, tenant, &view, id).await?;
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

/// Patch a contact.
///
/// A JSON merge patch of the profile, optionally conditional on
/// `If-Match: "<version>"`. A patch that changes nothing appends no event.
#[utoipa::path(
    patch,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "patch_contact",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID)."), IfMatch, IdempotencyKey),
    request_body(content(
        (ContactPatch = "application/merge-patch+json"),
        (ContactPatch = "application/json"),
    )),
    responses(
        (status = 200, description = "The contact after the patch.", body = Contact,
            headers(("ETag" = String, description = "The contact's version, quoted."))),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
        (status = 409, description = "`email_taken`, `external_id_taken`, `email_belongs_to_user`", body = ProblemBody),
        (status = 412, description = "`version_mismatch`: the contact is at another version; \
            `precondition_failed`: `If-Match` is not one version.", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field, in `errors`.", body = ProblemBody),
    ),
)]
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

/// Delete a contact.
///
/// The contact leaves every read and list, its grants go with it, its email
/// and external id are free again and its id is never reused; its history
/// stays readable by id. Optionally conditional on `If-Match: "<version>"`.
#[utoipa::path(
    delete,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "delete_contact",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID)."), IfMatch, IdempotencyKey),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`contact_not_found` (also once deleted)", body = ProblemBody),
        (status = 412, description = "`version_mismatch`, `precondition_failed`", body = ProblemBody),
    ),
)]
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
