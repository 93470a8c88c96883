//! Reading contacts: one by id or external id, a filtered page, a history.
//! Every read is scoped to the caller's tenant by the port, so another
//! tenant's contact is simply not found.
use axum::{
    extract::{
        FromRequestParts, Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::{StatusCode, header, request::Parts},
};
use ledger_domain::Code;
use ledger_domain::{Contact, ContactId, FieldError, TenantId};
use ledger_ports::Cursor;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    auth::Caller,
    list_query::ListQuery,
    openapi::bodies::{Contact as ContactBody, ContactPage, EventList, Problem as ProblemBody},
    problem::Problem,
    problem::Reply,
    state::AppState,
};

/// Read a contact.
///
/// By contact id, else by external id.
#[utoipa::path(
    get,
    path = "/v1/contacts/{id}",
    tag = "contacts",
    operation_id = "get_contact",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID), or its external id.")),
    responses(
        (status = 200, description = "The contact.", body = ContactBody,
            headers(("ETag" = String, description = "The contact's version, quoted."))),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Reply, Problem> {
    let Ok(Path(id)) = id else { return Err(contact_not_found()) };
    let contact = find(&state, caller.tenant_id(), &id).await?.ok_or_else(contact_not_found)?;
    contact_reply(StatusCode::OK, &contact, None)
}

/// Read the contact whose external id is `upsert`.
///
/// `/v1/contacts/upsert` is the create-or-update route; read with GET, it is
/// still the contact whose external id is "upsert", as `/v1/contacts/{id}` reads.
#[utoipa::path(
    get,
    path = "/v1/contacts/upsert",
    tag = "contacts",
    operation_id = "get_contact_upsert",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The contact.", body = ContactBody,
            headers(("ETag" = String, description = "The contact's version, quoted."))),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
    ),
)]
pub async fn get_upsert_literal(State(state): State<AppState>, caller: Caller) -> Result<Reply, Problem> {
    let contact = find(&state, caller.tenant_id(), "upsert").await?.ok_or_else(contact_not_found)?;
    contact_reply(StatusCode::OK, &contact, None)
}

/// List contacts.
///
/// A page of the tenant's contacts ordered by id, filtered by any of the
/// parameters; follow `next_cursor` for the next page. An empty parameter
/// counts as absent; an unknown or repeated one is refused.
#[utoipa::path(
    get,
    path = "/v1/contacts",
    tag = "contacts",
    operation_id = "list_contacts",
    security(("api_key" = [])),
    params(
        ("email" = Option<String>, Query, description = "Contacts with this email."),
        ("kind" = Option<String>, Query, description = "`user`, `guest`, `branch`, `recipient` or `contact`."),
        ("tag" = Option<String>, Query, description = "Contacts with this tag."),
        ("external_id" = Option<String>, Query, description = "The contact with this external id."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Contacts per page (default 20)."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "A page of contacts.", body = ContactPage),
        (status = 422, description = "`validation_failed`: every bad parameter, in `errors`.", body = ProblemBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Reply, Problem> {
    let Ok(Query(pairs)) = query else {
        return Err(Problem::validation(vec![FieldError::new(
            "query",
            "invalid_query",
            "the query string cannot be read",
        )]));
    };
    let q = ListQuery::parse(&pairs)?;
    let page =
        state.contacts().contacts(caller.tenant_id(), &q.filter, Cursor::from(q.after), q.limit.saturating_add(1));
    let mut contacts = state.port("contacts", page).await?;
    let has_more = contacts.len() > q.limit as usize;
    contacts.truncate(q.limit as usize);
    let next_cursor = if has_more { contacts.last().map(|c| ListQuery::cursor(c.id)) } else { None };
    let body = json!({ "data": to_json(&contacts)?, "has_more": has_more, "next_cursor": next_cursor });
    Ok(Reply::json(StatusCode::OK, body))
}

/// A contact's history.
///
/// Its events, oldest first: type, version, time, command id and data
/// (secrets left out). A deleted contact's history stays readable by its id.
#[utoipa::path(
    get,
    path = "/v1/contacts/{id}/events",
    tag = "contacts",
    operation_id = "list_contact_events",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID), or its external id.")),
    responses(
        (status = 200, description = "The contact's events.", body = EventList),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
    ),
)]
pub async fn events(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Reply, Problem> {
    let Ok(Path(id)) = id else { return Err(contact_not_found()) };
    let tenant = caller.tenant_id();
    // A deleted contact's history stays readable by its id.
    let by_id = match id.parse::<ContactId>() {
        Ok(contact_id) => state.port("contact_events", state.contacts().contact_events(tenant, contact_id)).await?,
        Err(_) => Vec::new(),
    };
    let events = if by_id.is_empty() {
        let contact = find(&state, tenant, &id).await?.ok_or_else(contact_not_found)?;
        state.port("contact_events", state.contacts().contact_events(tenant, contact.id)).await?
    } else {
        by_id
    };
    Ok(Reply::json(StatusCode::OK, json!({ "data": to_json(&events)? })))
}

/// By contact id (`contact_<ULID>` or a bare ULID), else by external id.
pub async fn find(state: &AppState, tenant: TenantId, id: &str) -> Result<Option<Contact>, Problem> {
    if let Ok(contact_id) = id.parse::<ContactId>()
        && let Some(contact) = state.port("contact", state.contacts().contact(tenant, contact_id)).await?
    {
        return Ok(Some(contact));
    }
    state.port("contact_by_external_id", state.contacts().contact_by_external_id(tenant, id)).await
}

/// Reads a contact the projector has just written.
pub async fn read_back(state: &AppState, tenant: TenantId, id: ContactId) -> Result<Contact, Problem> {
    let started = std::time::Instant::now();
    let found = state.port("contact", state.contacts().contact(tenant, id)).await?;
    ledger_ports::stages::record(ledger_ports::stages::Stage::ApiReadBack, started.elapsed());
    found.ok_or_else(|| Problem::internal(format_args!("contact {id} decided but missing from the read model")))
}

/// A contact as the domain serializes it, with its version as the ETag.
pub fn contact_reply(status: StatusCode, contact: &Contact, outcome: Option<&str>) -> Result<Reply, Problem> {
    let mut body = to_json(contact)?;
    if let (Some(outcome), Value::Object(map)) = (outcome, &mut body) {
        map.insert("outcome".into(), json!(outcome));
    }
    Ok(Reply::json(status, body).header(header::ETAG, format!("\"{}\"", contact.version)))
}

pub fn contact_not_found() -> Problem {
    Problem::new(Code::ContactNotFound, "no such contact")
}

/// The `{id}` of a write route: a contact id (`contact_<ULID>` or a bare
/// ULID); anything else cannot name a contact, so it is 404.
pub struct ContactPath(pub ContactId);

impl<S: Send + Sync> FromRequestParts<S> for ContactPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| contact_not_found())?;
        id.parse().map(ContactPath).map_err(|_| contact_not_found())
    }
}

pub fn to_json<T: Serialize>(value: &T) -> Result<Value, Problem> {
    serde_json::to_value(value).map_err(Problem::internal)
}
