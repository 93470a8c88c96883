//! orq.ai Contacts API (seed 001), `/v2/contacts`: contacts of kind
//! `contact`, identified by `_id` (`contact_<ULID>`) or their `external_id`.
//!
//! - `POST /v2/contacts`: creates (201); `external_id` is required (1-120
//!   characters) and one that exists is 409.
//! - `GET /v2/contacts/{id}`: by contact id or external id.
//! - `PATCH /v2/contacts/{id}`: changes only the fields given (null clears).
//! - `DELETE /v2/contacts/{id}`: 204.
//! - `GET /v2/contacts?limit=&starting_after=&ending_before=`: `limit` 1-50
//!   (default 10), cursors are contact ids; `{"data", "has_more"}`.
//!
//! Wire names: `display_name` is the contact's `name`; `workspace_id` is the
//! tenant's id as a UUID (the same 128 bits), stable per tenant; `created`
//! and `updated` are RFC 3339. Errors: `{"code", "message", "errors"?}`;
//! a body that is not right is 400 listing every failing field.
use axum::{
    extract::{Path, Query, State, rejection::PathRejection, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::{
    Code, Command, Contact, ContactKind, DeleteContact, FieldError, TenantId, admit, wire, wire::ContactWrite,
};
use ledger_ports::{ContactFilter, Cursor};
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    contacts_read::{find, read_back},
    decision,
    openapi::{IdempotencyKey, bridge},
    problem::{Problem, Reply},
    request::{JSON, MERGE_PATCH, WriteRequest},
    state::AppState,
    vendors::{idempotent, in_vendor_shape, merged, renamed, unknown_keys, unpack, without_implied_identifier},
};

/// orq.ai field -> native field.
const FIELDS: &[(&str, &str)] = &[
    ("external_id", "external_id"),
    ("display_name", "name"),
    ("email", "email"),
    ("avatar_url", "avatar_url"),
    ("tags", "tags"),
    ("metadata", "metadata"),
];
/// An orq.ai contact as a client sends it to create one.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"external_id": "user_12345", "display_name": "Jane Smith", "email": "jane.smith@example.com",
    "avatar_url": "https://example.com/avatars/jane-smith.jpg", "tags": ["premium", "beta-user"],
    "metadata": {"department": "Engineering"}}))]
#[allow(dead_code, reason = "described, never built: `create_command` reads the body")]
pub struct OrqCreateContact {
    /// The contact's id in your system: 1-120 characters, unique.
    #[schemars(length(min = 1, max = 120))]
    pub external_id: String,
    /// Display name or nickname.
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Map<String, Value>>,
}

/// The fields to change; a field given `null` is cleared.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"display_name": "Jane Doe"}))]
#[allow(dead_code, reason = "described, never built: `patch` reads the body")]
pub struct OrqUpdateContact {
    #[schemars(length(min = 1, max = 120))]
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<Map<String, Value>>,
}

/// A contact as orq.ai shows it.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `view_of` writes it")]
pub struct OrqContact {
    /// `contact_<ULID>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub external_id: Option<String>,
    /// The tenant's id as a UUID, stable per tenant.
    pub workspace_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub tags: Vec<String>,
    pub metadata: Map<String, Value>,
    pub created: chrono::DateTime<chrono::Utc>,
    pub updated: chrono::DateTime<chrono::Utc>,
}

/// A page of contacts, in id (creation) order.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `list` writes it")]
pub struct OrqContactList {
    /// Always `list`.
    pub object: String,
    /// Each contact with `metrics` (all zero: the service has no model usage
    /// to report; orq.ai's SDKs require the object).
    pub data: Vec<OrqContact>,
    pub has_more: bool,
}

/// orq.ai route errors: a code, a message, and for a 400 every failing field.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `error` writes it")]
pub struct OrqError {
    pub code: String,
    /// The message again: orq.ai's SDKs read a 404 of retrieve and delete
    /// from `error`, of update from `message`.
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

bridge!(Request: OrqCreateContact, OrqUpdateContact);
bridge!(Response: OrqContact, OrqContactList, OrqError);

const LIMIT_DEFAULT: u32 = 10;
const LIMIT_MAX: u32 = 50;

/// orq.ai: create a contact.
///
/// orq.ai's create: a `contact` kind contact with its `external_id`
/// (required, unique). Answers and errors in orq.ai's shapes.
#[utoipa::path(
    post,
    path = "/v2/contacts",
    tag = "orq",
    operation_id = "orq_create_contact",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = OrqCreateContact, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = OrqContact,
            headers(("Location" = String, description = "`/v2/contacts/{_id}`"))),
        (status = 400, description = "Every failing field, under orq.ai's names.", body = OrqError),
        (status = 409, description = "`external_id_taken` or `email_taken`.", body = OrqError),
    ),
)]
pub async fn create(
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
        let command = create_command(&req.json_object(&[JSON])?)?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("create {} has no contact", slot.command_id)))?;
        let contact = read_back(state, tenant, id).await?;
        Ok(Reply::json(StatusCode::CREATED, view_of(tenant, &contact))
            .header(header::LOCATION, format!("/v2/contacts/{}", contact.id)))
    })
    .await
}

/// orq.ai: retrieve a contact.
///
/// By contact id or by external id.
#[utoipa::path(
    get,
    path = "/v2/contacts/{id}",
    tag = "orq",
    operation_id = "orq_get_contact",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>`) or its external id.")),
    responses(
        (status = 200, description = "The contact.", body = OrqContact),
        (status = 404, description = "`contact_not_found`", body = OrqError),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let answer = async {
        let tenant = caller?.tenant_id();
        let contact = found(&state, tenant, id).await?;
        Ok::<_, Problem>(Reply::json(StatusCode::OK, view_of(tenant, &contact)))
    };
    in_vendor_shape(answer.await.unwrap_or_else(|p| error(&p)).into_response())
}

/// orq.ai: update a contact.
///
/// Changes only the fields given; `null` clears one.
#[utoipa::path(
    patch,
    path = "/v2/contacts/{id}",
    tag = "orq",
    operation_id = "orq_update_contact",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>`) or its external id."), IdempotencyKey),
    request_body(content = OrqUpdateContact, content_type = "application/json"),
    responses(
        (status = 200, description = "The contact as it now stands.", body = OrqContact),
        (status = 400, description = "Every failing field, under orq.ai's names.", body = OrqError),
        (status = 404, description = "`contact_not_found`", body = OrqError),
        (status = 409, description = "`external_id_taken` or `email_taken`.", body = OrqError),
    ),
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    id: Result<Path<String>, PathRejection>,
    req: Result<WriteRequest, Problem>,
) -> Response {
    let (caller, req) = match unpack(caller, req, error) {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotent(state, tenant, req, error, move |slot| async move {
        // orq.ai's Node SDK sends an update without fields as an empty body.
        let body = if req.body.is_empty() { Map::new() } else { req.json_object(&[JSON, MERGE_PATCH])? };
        let contact = found(state, tenant, id).await?;
        let mut errors = unknown_keys(&body, &FIELDS.iter().map(|(o, _)| *o).collect::<Vec<_>>());
        let patch: Map<String, Value> =
            body.into_iter().filter_map(|(k, v)| native_name(&k).map(|n| (n.to_owned(), v))).collect();
        let payload = json!({"contact_id": contact.id.to_string(), "patch": patch});
        let command = match wire::parse("PatchContact", &payload) {
            Ok(command) if errors.is_empty() => command,
            Ok(_) => return Err(invalid(errors)),
            Err(more) => {
                errors.extend(more);
                return Err(invalid(errors));
            }
        };
        decision::decide(state, tenant, slot, command).await?;
        let contact = read_back(state, tenant, contact.id).await?;
        Ok(Reply::json(StatusCode::OK, view_of(tenant, &contact)))
    })
    .await
}

/// orq.ai: delete a contact.
///
/// `ContactDeleted`: the contact leaves every list; its external id is free again.
#[utoipa::path(
    delete,
    path = "/v2/contacts/{id}",
    tag = "orq",
    operation_id = "orq_delete_contact",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>`) or its external id."), IdempotencyKey),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "`contact_not_found`", body = OrqError),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    id: Result<Path<String>, PathRejection>,
    req: Result<WriteRequest, Problem>,
) -> Response {
    let (caller, req) = match unpack(caller, req, error) {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotent(state, tenant, req, error, move |slot| async move {
        let contact = found(state, tenant, id).await?;
        let command = Command::DeleteContact(DeleteContact { contact_id: contact.id, expected_version: None });
        decision::decide(state, tenant, slot, command).await?;
        Ok(Reply::no_content())
    })
    .await
}

/// orq.ai: list contacts.
///
/// In id (creation) order; `starting_after` and `ending_before` are contact
/// ids (exclusive), one of them at a time.
#[utoipa::path(
    get,
    path = "/v2/contacts",
    tag = "orq",
    operation_id = "orq_list_contacts",
    security(("api_key" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "1-50, default 10.", minimum = 1, maximum = 50),
        ("starting_after" = Option<String>, Query, description = "The contacts after this contact id."),
        ("ending_before" = Option<String>, Query, description = "The contacts before this contact id."),
    ),
    responses(
        (status = 200, description = "A page.", body = OrqContactList),
        (status = 400, description = "A query parameter that is not right.", body = OrqError),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Result<Caller, Problem>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let answer = async {
        let tenant = caller?.tenant_id();
        let Ok(Query(pairs)) = query else {
            return Err(invalid(vec![FieldError::new("query", "invalid_query", "the query string cannot be read")]));
        };
        let ListQuery { limit, cursor, tag } = list_query(&pairs)?;
        let filter =
            ContactFilter { kind: Some(ContactKind::Contact), typed: Some(false), tag, ..ContactFilter::default() };
        let page = state.contacts().contacts(tenant, &filter, cursor, limit + 1);
        let mut contacts = state.port("contacts", page).await?;
        let has_more = contacts.len() > limit as usize;
        if has_more {
            match cursor {
                // Read backwards: the extra one is the oldest.
                Cursor::Before(_) => {
                    contacts.remove(0);
                }
                _ => contacts.truncate(limit as usize),
            }
        }
        let data: Vec<Value> = contacts
            .iter()
            .map(|c| {
                let mut item = view_of(tenant, c);
                item["metrics"] = json!({"total_cost": 0, "total_tokens": 0, "total_requests": 0, "error_rate": 0});
                item
            })
            .collect();
        Ok::<_, Problem>(Reply::json(StatusCode::OK, json!({"object": "list", "data": data, "has_more": has_more})))
    };
    in_vendor_shape(answer.await.unwrap_or_else(|p| error(&p)).into_response())
}

/// What a list asks for.
struct ListQuery {
    limit: u32,
    cursor: Cursor,
    tag: Option<String>,
}

/// The list query as orq.ai's own clients send it (each leniency is theirs):
/// `limit` may be written as a number with a zero fraction (the Python SDK
/// sends `2.0`); `include_metrics` is accepted either way (every contact
/// carries zero metrics); `tags` is one tag, a comma-separated list (the
/// Node SDK), or a list written as Python or JSON prints it (`['a']`, the
/// Python SDK). A list matches contacts carrying one tag: more than one is
/// refused rather than guessed at.
fn list_query(pairs: &[(String, String)]) -> Result<ListQuery, Problem> {
    let mut errors = Vec::new();
    let mut q = ListQuery { limit: LIMIT_DEFAULT, cursor: Cursor::Start, tag: None };
    let id = |key: &str, value: &str, errors: &mut Vec<FieldError>| {
        value.parse().map_err(|_| errors.push(FieldError::new(key, "invalid_id", "must be a contact id"))).ok()
    };
    for (key, value) in pairs {
        match key.as_str() {
            "limit" => match whole_number(value) {
                Some(n) if (1..=LIMIT_MAX).contains(&n) => q.limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    "invalid_value",
                    format!("must be an integer from 1 to {LIMIT_MAX}"),
                )),
            },
            "include_metrics" if matches!(value.as_str(), "true" | "false") => {}
            "include_metrics" => errors.push(FieldError::new(key.clone(), "invalid_value", "must be true or false")),
            "tags" => match tag_list(value).as_slice() {
                [] => {}
                [one] => q.tag = Some(one.clone()),
                _ => errors.push(FieldError::new(key.clone(), "too_many", "filter by one tag at a time")),
            },
            "starting_after" | "ending_before" if q.cursor != Cursor::Start => errors.push(FieldError::new(
                key.clone(),
                "conflicting_cursor",
                "give starting_after or ending_before, not both",
            )),
            "starting_after" => q.cursor = id(key, value, &mut errors).map_or(q.cursor, Cursor::After),
            "ending_before" => q.cursor = id(key, value, &mut errors).map_or(q.cursor, Cursor::Before),
            _ => errors.push(FieldError::new(key.clone(), "unknown_field", "is not a known query parameter")),
        }
    }
    if errors.is_empty() { Ok(q) } else { Err(invalid(errors)) }
}

/// `2` or `2.0` (not `2.5`, not `-1`).
fn whole_number(value: &str) -> Option<u32> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    (!whole.is_empty() && fraction.bytes().all(|b| b == b'0')).then_some(())?;
    whole.parse().ok()
}

/// The tags of a `tags` filter: `a`, `a,b`, `['a', 'b']` or `["a","b"]`.
fn tag_list(value: &str) -> Vec<String> {
    let value = value.trim();
    let inner = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(value);
    inner
        .split(',')
        .map(|t| t.trim().trim_matches(|c| c == '\'' || c == '"').trim())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The contact an `{id}` names (contact id or external id), if it is an
/// orq.ai contact of this tenant.
async fn found(
    state: &AppState,
    tenant: TenantId,
    id: Result<Path<String>, PathRejection>,
) -> Result<Contact, Problem> {
    let not_found = || Problem::new(Code::ContactNotFound, "no such contact");
    let Ok(Path(id)) = id else { return Err(not_found()) };
    // orq.ai's contacts: `contact` kind without a type (typed ones are emnify's).
    find(state, tenant, &id)
        .await?
        .filter(|c| c.kind == ContactKind::Contact && c.type_id.is_none())
        .ok_or_else(not_found)
}

/// The native create for an orq.ai body, or every failing field at once.
fn create_command(body: &Map<String, Value>) -> Result<Command, Problem> {
    let mut shape = unknown_keys(body, &FIELDS.iter().map(|(o, _)| *o).collect::<Vec<_>>());
    let missing = body.get("external_id").is_none_or(Value::is_null);
    if missing {
        // orq.ai's own required field (its identifier).
        shape.push(FieldError::new("external_id", "required", "is required: the contact's id in your system"));
    }
    let mut native = Map::new();
    native.insert("kind".into(), json!("contact"));
    for (k, v) in body {
        if let Some(n) = native_name(k) {
            native.insert(n.to_owned(), v.clone());
        }
    }
    let (command, native_errors) = match wire::contact_body(ContactWrite::Create, &native) {
        Ok(command) => {
            let rules = admit(&command);
            (Some(command), rules)
        }
        Err(errors) => (None, errors),
    };
    let native_errors = if missing { without_implied_identifier(native_errors) } else { native_errors };
    let errors = merged(shape, &native_errors, orq_name);
    match command {
        Some(command) if errors.is_empty() => Ok(command),
        _ => Err(Problem::validation(errors)),
    }
}

fn native_name(orq: &str) -> Option<&'static str> {
    FIELDS.iter().find(|(o, _)| *o == orq).map(|(_, n)| *n)
}

fn orq_name(native: &str) -> String {
    FIELDS.iter().find(|(_, n)| *n == native).map_or(native, |(o, _)| *o).to_owned()
}

fn invalid(errors: Vec<FieldError>) -> Problem {
    let mut errors = renamed(&errors, orq_name);
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors.dedup();
    Problem::validation(errors)
}

/// The tenant's id as a UUID: the same 128 bits, so stable per tenant.
pub fn workspace_id(tenant: TenantId) -> String {
    let hex = format!("{:032x}", tenant.0.0);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A contact as orq.ai shows it.
fn view_of(tenant: TenantId, c: &Contact) -> Value {
    let p = &c.profile;
    json!({
        "_id": c.id.to_string(),
        "external_id": p.external_id,
        "workspace_id": workspace_id(tenant),
        "display_name": p.name,
        "email": p.email,
        "avatar_url": p.avatar_url,
        "tags": p.tags,
        "metadata": p.metadata,
        "created": c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updated": c.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// A problem in orq.ai's shape: a validation problem is its 400.
fn error(p: &Problem) -> Reply {
    // A body that is not right is the vendor's 400; other 422s (a reused
    // Idempotency-Key) keep their status.
    let status = if p.code() == Code::ValidationFailed { StatusCode::BAD_REQUEST } else { p.status() };
    let mut body = json!({"code": p.code().as_str(), "error": p.detail(), "message": p.detail()});
    let errors = renamed(p.errors(), orq_name);
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    let mut reply = Reply::json(status, body);
    reply.headers.extend(p.headers().iter().cloned());
    reply
}
