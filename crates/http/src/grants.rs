//! A contact's grants of access roles: list them with their effective status
//! at a moment, grant more, approve a pending one, revoke one. The read model
//! keeps grants as recorded (`active` or `pending`, with an optional expiry);
//! what a grant amounts to at a given time is the domain's rule
//! (`Grant::effective`), applied here at answer time, because expiry needs no
//! event. A list `as_of` a moment is folded from the grants' history up to
//! then (`grant_as_of`), so it shows what had been granted, approved and
//! revoked by that moment, not today's grants judged at another time.
//! Writes name the contact by id, like `PATCH /v1/contacts/{id}`; reads
//! also accept an external id, like `GET /v1/contacts/{id}`.
use ledger_domain::Code;
use std::collections::BTreeMap;

use axum::{
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use ledger_domain::{
    Command, ContactId, FieldError, TenantId,
    command::RoleRef,
    roles::{Grant, GrantChange, PastGrant, grant_as_of},
    rules::is_reference,
};
use ledger_ports::GrantView;
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    contacts_read::{ContactPath, contact_not_found, find},
    decision, idempotency,
    openapi::{
        IdempotencyKey,
        bodies::{GrantList, Problem as ProblemBody, RoleGrants},
    },
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
    warnings,
};

/// A contact's grants.
///
/// Every current grant with its recorded `status` and what it amounts to
/// now (`effective`: `active`, `pending`, `expired`). With `as_of`, the grants
/// as they stood at that instant, folded from their history: one not yet
/// granted is absent, one revoked by then listed as `revoked` with its
/// `revoked_at`.
#[utoipa::path(
    get,
    path = "/v1/contacts/{id}/roles",
    tag = "roles",
    operation_id = "list_contact_roles",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID), or its external id."),
        ("as_of" = Option<String>, Query, format = DateTime,
            description = "An RFC 3339 / ATOM date-time, e.g. `2030-01-01T00:00:00Z`; empty or absent means now."),
    ),
    responses(
        (status = 200, description = "The grants.", body = GrantList),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
        (status = 422, description = "`validation_failed`: a bad `as_of`, or an unknown parameter.", body = ProblemBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Reply, Problem> {
    let Ok(Path(id)) = id else { return Err(contact_not_found()) };
    let Ok(Query(pairs)) = query else {
        return Err(Problem::validation(vec![FieldError::new(
            "query",
            "invalid_query",
            "the query string cannot be read",
        )]));
    };
    let at = as_of(&pairs)?;
    let tenant = caller.tenant_id();
    let contact = find(&state, tenant, &id).await?.ok_or_else(contact_not_found)?;
    match at {
        None => grants_reply(&state, tenant, contact.id, Utc::now(), &[]).await,
        Some(at) => past_grants_reply(&state, tenant, contact.id, at).await,
    }
}

/// Grant access roles.
///
/// 200 with every grant of the contact. A contact that is not a user ignores
/// grants, and the answer warns about it.
#[utoipa::path(
    post,
    path = "/v1/contacts/{id}/roles",
    tag = "roles",
    operation_id = "grant_roles",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID)."), IdempotencyKey),
    request_body(content = RoleGrants, content_type = "application/json"),
    responses(
        (status = 200, description = "Every grant of the contact.", body = GrantList),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field, in `errors` (`unknown_role` for a \
            reference the catalogue lacks).", body = ProblemBody),
    ),
)]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    ContactPath(contact_id): ContactPath,
    req: WriteRequest,
) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let command = grant_command(contact_id, req.json_object(&[JSON])?)?;
        let view = decision::decide(state, tenant, slot, command).await?;
        grants_reply(state, tenant, contact_id, Utc::now(), &view.warnings).await
    })
    .await
}

/// Approve a pending grant.
///
/// 200 with every grant of the contact; approving an active grant changes
/// nothing and answers the same. A body, if any, is ignored.
#[utoipa::path(
    post,
    path = "/v1/contacts/{id}/roles/{reference}/approve",
    tag = "roles",
    operation_id = "approve_role",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID)."),
        ("reference" = String, Path, description = "The access role's reference."),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Every grant of the contact.", body = GrantList),
        (status = 404, description = "`contact_not_found`, `grant_not_found`", body = ProblemBody),
    ),
)]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    req: WriteRequest,
) -> Response {
    let Ok(Path((id, reference))) = path else { return contact_not_found().into_response() };
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    // The body, if any, is ignored: the path says everything.
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let role = role_ref(state, tenant, &id, reference).await?;
        let contact_id = role.contact_id;
        decision::decide(state, tenant, slot, Command::ApproveRole(role)).await?;
        grants_reply(state, tenant, contact_id, Utc::now(), &[]).await
    })
    .await
}

/// Revoke a grant.
///
/// 204; revoking it again is 404 `grant_not_found` (an `Idempotency-Key`
/// replays the 204 instead).
#[utoipa::path(
    delete,
    path = "/v1/contacts/{id}/roles/{reference}",
    tag = "roles",
    operation_id = "revoke_role",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID)."),
        ("reference" = String, Path, description = "The access role's reference."),
        IdempotencyKey,
    ),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "`contact_not_found`, `grant_not_found`", body = ProblemBody),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    req: WriteRequest,
) -> Response {
    let Ok(Path((id, reference))) = path else { return contact_not_found().into_response() };
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let role = role_ref(state, tenant, &id, reference).await?;
        decision::decide(state, tenant, slot, Command::RevokeRole(role)).await?;
        Ok(Reply::no_content())
    })
    .await
}

fn grant_not_found() -> Problem {
    Problem::new(Code::GrantNotFound, "the contact has no such role")
}

/// The contact comes from the path, never from the body.
fn grant_command(contact_id: ContactId, mut body: Map<String, Value>) -> Result<Command, Problem> {
    let mut errors = Vec::new();
    if body.remove("contact_id").is_some() {
        errors.push(FieldError::new("contact_id", "unknown_field", "is not a known field: the path names the contact"));
    }
    body.insert("contact_id".into(), json!(contact_id.to_string()));
    match ledger_domain::wire::parse("GrantRoles", &Value::Object(body)) {
        Ok(command) if errors.is_empty() => Ok(command),
        Ok(_) => Err(Problem::validation(errors)),
        Err(more) => {
            errors.extend(more);
            Err(Problem::validation(errors))
        }
    }
}

/// The grant a path names. Only a slug can ever have been granted, so any
/// other reference is answered here instead of travelling as a command the
/// handler could not parse; the 404 still names the contact first when it is
/// the contact that is missing, as the domain would.
async fn role_ref(state: &AppState, tenant: TenantId, id: &str, reference: String) -> Result<RoleRef, Problem> {
    let contact_id: ContactId = id.parse().map_err(|_| contact_not_found())?;
    if !is_reference(&reference) {
        return match state.port("contact", state.contacts().contact(tenant, contact_id)).await? {
            Some(_) => Err(grant_not_found()),
            None => Err(contact_not_found()),
        };
    }
    Ok(RoleRef { contact_id, reference })
}

/// `{"as_of", "data": [grant...], "warnings"?}`: every current grant of the
/// contact with what it amounts to at `at`.
async fn grants_reply(
    state: &AppState,
    tenant: TenantId,
    contact: ContactId,
    at: DateTime<Utc>,
    warned: &[ledger_domain::Warning],
) -> Result<Reply, Problem> {
    let grants = state.port("contact_grants", state.roles().contact_grants(tenant, contact)).await?;
    let data: Vec<Value> = grants.iter().map(|g| grant_json(g, at)).collect();
    let reply = Reply::json(StatusCode::OK, json!({ "as_of": at, "data": data }));
    Ok(warnings::attach(reply, warned))
}

/// `{"as_of", "data": [grant...]}`: every grant the contact had been given
/// by `at`, as it stood then. A grant revoked by then is listed with
/// `effective: "revoked"` and its `revoked_at`, so a past list tells
/// "revoked" apart from "never granted".
async fn past_grants_reply(
    state: &AppState,
    tenant: TenantId,
    contact: ContactId,
    at: DateTime<Utc>,
) -> Result<Reply, Problem> {
    let history = state.port("grant_history", state.roles().grant_history(tenant, contact, at)).await?;
    let mut by_reference: BTreeMap<&str, Vec<(DateTime<Utc>, &GrantChange)>> = BTreeMap::new();
    for c in &history {
        by_reference.entry(&c.reference).or_default().push((c.at, &c.change));
    }
    let data: Vec<Value> = by_reference
        .into_iter()
        .filter_map(|(reference, changes)| grant_as_of(reference, changes))
        .map(|past| past_grant_json(&past, at))
        .collect();
    Ok(Reply::json(StatusCode::OK, json!({ "as_of": at, "data": data })))
}

fn past_grant_json(past: &PastGrant, at: DateTime<Utc>) -> Value {
    let mut grant = json!({
        "reference": past.grant.reference,
        "status": past.grant.status,
        "effective": past.effective(at),
        "expires": past.grant.expires,
        "granted_at": past.granted_at,
    });
    if let Some(revoked_at) = past.revoked_at {
        grant["revoked_at"] = json!(revoked_at);
    }
    grant
}

fn grant_json(view: &GrantView, at: DateTime<Utc>) -> Value {
    let grant = Grant { reference: view.reference.clone(), status: view.status, expires: view.expires };
    json!({
        "reference": view.reference,
        "status": view.status,
        "effective": grant.effective(at),
        "expires": view.expires,
        "granted_at": view.granted_at,
    })
}

/// The query of a grant list: `as_of` alone, at most once; empty means now.
fn as_of(pairs: &[(String, String)]) -> Result<Option<DateTime<Utc>>, Problem> {
    let mut errors = Vec::new();
    let mut at = None;
    for (i, (key, value)) in pairs.iter().enumerate() {
        if key != "as_of" {
            errors.push(FieldError::new(key.clone(), "unknown_field", "is not a known query parameter"));
        } else if pairs[..i].iter().any(|(k, _)| k == key) {
            errors.push(FieldError::new(key.clone(), "duplicate_parameter", "may be given once"));
        } else if !value.trim().is_empty() {
            match parse_time(value.trim()) {
                Some(t) => at = Some(t),
                None => errors.push(FieldError::new(
                    "as_of",
                    "invalid_time",
                    "must be an RFC 3339 / ATOM date-time, e.g. 2030-01-01T00:00:00Z",
                )),
            }
        }
    }
    if errors.is_empty() { Ok(at) } else { Err(Problem::validation(errors)) }
}

/// RFC 3339 (ATOM is a profile of it). A `+` left unescaped in a query
/// string arrives as a space, so `...T00:00:00 01:00` is read as `+01:00`:
/// a space is never valid before an offset, so nothing else is accepted by it.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        let (head, offset) = s.rsplit_once(' ')?;
        DateTime::parse_from_rfc3339(&format!("{head}+{offset}")).ok()
    })?;
    Some(parsed.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn as_of_reads_rfc_3339_and_an_offset_whose_plus_became_a_space() {
        let utc = as_of(&pairs(&[("as_of", "2030-01-01T01:00:00Z")])).unwrap();
        let plus = as_of(&pairs(&[("as_of", "2030-01-01T02:00:00+01:00")])).unwrap();
        let space = as_of(&pairs(&[("as_of", "2030-01-01T02:00:00 01:00")])).unwrap();
        assert!(utc.is_some());
        assert_eq!((plus, space), (utc, utc));
        assert_eq!(as_of(&pairs(&[("as_of", "")])).unwrap(), None);
    }

    #[test]
    fn a_bad_as_of_and_unknown_parameters_are_listed() {
        let err = as_of(&pairs(&[("as_of", "yesterday"), ("colour", "red"), ("as_of", "x")])).unwrap_err().to_json();
        let fields: Vec<(&str, &str)> = err["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(fields, [("as_of", "invalid_time"), ("colour", "unknown_field"), ("as_of", "duplicate_parameter")]);
    }
}
