//! emnify organisation contacts (seed 002), under `/api/v1`.
//!
//! - `POST /api/v1/authenticate` with `{"application_token": <api key>}` (or
//!   `{"refresh_token": ...}`) answers `{"auth_token", "refresh_token"}`:
//!   HS256 JWTs (`CL_TOKEN_SECRET`) naming the tenant (`sub`) and its numeric
//!   organisation id (`org_id`), with `exp`. The other routes take
//!   `Authorization: Bearer <auth_token>`; another organisation's `{org_id}`
//!   is 403.
//! - `POST .../organisation/{org_id}/contact`: only `type` (`{"id": n}`,
//!   fixed at creation) is required; `id` and `organisation_id` may not be
//!   given, in the body or the query string. 201 with `Location` and the
//!   contact: numeric `id` (its per-tenant number), `contact_id` (string).
//! - `GET .../contact` (an unwrapped array, `page`/`per_page`, totals in
//!   `X-Total-Count`, `X-Total-Pages`, `X-Current-Page`, `X-Count-Per-Page`),
//!   `GET`, `PATCH` (type fixed), `DELETE` (204) `.../contact/{id}`.
//!
//! An emnify contact is a native `contact` with a `type_id` (an organisation
//! contact, which needs only its type). The flat address fields are the
//! native address (`street` line1, `secondary_address` line2, `zipcode`,
//! `city`, `state` region); `country` (`{"id": n}`, emnify's own country
//! ids) is kept in the contact's metadata under `emnify.country`. Errors are
//! `{"error_code", "error_token", "message", "errors"?}`; validation is 422
//! listing every failing field.
use axum::{
    extract::{FromRequestParts, Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ledger_domain::{
    Code, Command, Contact, ContactKind, DeleteContact, FieldError, TenantId, admit, wire, wire::ContactWrite,
};
use ledger_ports::{ContactFilter, Cursor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::{
    auth::hash_api_key,
    contacts_read::read_back,
    decision,
    openapi::{IdempotencyKey, bridge},
    problem::{Problem, Reply},
    request::{JSON, MERGE_PATCH, WriteRequest},
    state::AppState,
    vendors::{idempotent, in_vendor_shape, merged, renamed, unknown_keys, unpack, without_implied_identifier},
};

const AUTH_TTL_SECS: i64 = 3600;
const REFRESH_TTL_SECS: i64 = 30 * 24 * 3600;
const PER_PAGE_DEFAULT: u64 = 20;
const PER_PAGE_MAX: u64 = 1000;

/// emnify's flat fields that are native profile fields of the same name.
const SAME: &[&str] = &["name", "title", "department", "email", "phone", "mobile", "purchase_order_number"];
/// emnify's flat address fields and the native address fields they are.
const ADDRESS: &[(&str, &str)] =
    &[("street", "line1"), ("secondary_address", "line2"), ("zipcode", "zip"), ("city", "city"), ("state", "region")];
const BODY: &[&str] = &[
    "type",
    "name",
    "title",
    "department",
    "email",
    "phone",
    "mobile",
    "purchase_order_number",
    "street",
    "secondary_address",
    "zipcode",
    "city",
    "state",
    "country",
    // Known, and refused (`forbidden_ids`).
    "id",
    "organisation_id",
];

/// `POST /api/v1/authenticate`: your API key, or a refresh token.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"application_token": "<your API key>"}))]
#[allow(dead_code, reason = "described, never built: `authenticate` reads the body")]
pub struct EmnifyAuthenticate {
    pub application_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// HS256 JWTs naming the tenant (`sub`) and its organisation (`org_id`).
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `authenticate` writes it")]
pub struct EmnifyTokens {
    /// For `Authorization: Bearer`; valid one hour.
    pub auth_token: String,
    /// For a new pair; valid 30 days.
    pub refresh_token: String,
}

/// An object holding an id: `{"id": 6}`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "described, never built")]
pub struct EmnifyIdRef {
    pub id: i64,
}

/// An organisation contact as a client sends it. Only `type` is required;
/// `id` and `organisation_id` may not be given.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"type": {"id": 6}, "name": "Jane Doe", "email": "billing@example.com",
    "street": "Landsberger Str. 110", "zipcode": "80339", "city": "Munich", "country": {"id": 74},
    "purchase_order_number": "PO-2026-001"}))]
#[allow(dead_code, reason = "described, never built: `create_command` reads the body")]
pub struct EmnifyCreateContact {
    /// The contact type, fixed at creation.
    #[serde(rename = "type")]
    pub kind: EmnifyIdRef,
    pub name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub street: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<EmnifyIdRef>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub state: Option<String>,
    pub secondary_address: Option<String>,
    /// At most 50 characters; only on invoice contacts (type 6).
    #[schemars(length(max = 50))]
    pub purchase_order_number: Option<String>,
}

/// The fields to change (`null` clears one); `type` may only be repeated.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"city": "Berlin"}))]
#[allow(dead_code, reason = "described, never built: `patch` reads the body")]
pub struct EmnifyUpdateContact {
    #[serde(rename = "type")]
    pub kind: Option<EmnifyIdRef>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub street: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<EmnifyIdRef>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub state: Option<String>,
    pub secondary_address: Option<String>,
    #[schemars(length(max = 50))]
    pub purchase_order_number: Option<String>,
}

/// An organisation contact as emnify shows it.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `view_of` writes it")]
pub struct EmnifyContact {
    /// The contact's per-tenant number.
    pub id: u64,
    /// `contact_<ULID>`.
    pub contact_id: String,
    pub organisation: EmnifyOrganisation,
    #[serde(rename = "type")]
    pub kind: Option<EmnifyIdRef>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub street: Option<String>,
    pub zipcode: Option<String>,
    pub city: Option<String>,
    pub country: Option<EmnifyIdRef>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub state: Option<String>,
    pub secondary_address: Option<String>,
    pub purchase_order_number: Option<String>,
}

#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built")]
pub struct EmnifyOrganisation {
    pub id: u64,
}

/// emnify's error: the status, the problem code, a message, and for a 422
/// every failing field.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `error` writes it")]
pub struct EmnifyError {
    pub error_code: u16,
    pub error_token: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

bridge!(Request: EmnifyAuthenticate, EmnifyCreateContact, EmnifyUpdateContact);
bridge!(Response: EmnifyTokens, EmnifyContact, EmnifyError);

/// Who issues the tokens and for what: a token for anything else (or from
/// anyone else) is not one of ours.
const ISSUER: &str = "contact-ledger";
const AUDIENCE: &str = "contact-ledger/emnify";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    org_id: u64,
    /// `auth` or `refresh`.
    typ: String,
    /// The version of the tenant's API key the tokens came from: a refresh
    /// works only while that key does.
    kv: u32,
    iat: i64,
    exp: i64,
}

/// A token of `typ` for the tenant, from its API key `kv`, expiring at `exp`.
fn token(state: &AppState, tenant: TenantId, kv: u32, typ: &str, exp: i64) -> Result<String, Problem> {
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: tenant.to_string(),
        org_id: tenant.organisation_id(),
        typ: typ.into(),
        kv,
        iat: Utc::now().timestamp(),
        exp,
    };
    let key = &state.config().token_key;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.id());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key.secret())).map_err(Problem::internal)
}

/// The claims of one of our tokens of `typ`: signed with the key in use
/// (named by `kid`), for our audience, not expired, its tenant and
/// organisation agreeing.
fn verify(state: &AppState, jwt: &str, typ: &str) -> Option<(TenantId, Claims)> {
    let key = &state.config().token_key;
    let header = jsonwebtoken::decode_header(jwt).ok()?;
    if header.alg != Algorithm::HS256 || header.kid.as_deref() != Some(key.id().as_str()) {
        return None;
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(jwt, &DecodingKey::from_secret(key.secret()), &validation).ok()?.claims;
    let tenant: TenantId = claims.sub.parse().ok()?;
    (claims.typ == typ && claims.org_id == tenant.organisation_id()).then_some((tenant, claims))
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(Code::Unauthorized, detail).header(header::WWW_AUTHENTICATE, "Bearer")
}

/// emnify: authenticate.
///
/// An API key (`application_token`) or a refresh token gives a new pair of
/// tokens.
#[utoipa::path(
    post,
    path = "/api/v1/authenticate",
    tag = "emnify",
    operation_id = "emnify_authenticate",
    request_body(content = EmnifyAuthenticate, content_type = "application/json"),
    responses(
        (status = 200, description = "The tokens.", body = EmnifyTokens),
        (status = 401, description = "An unknown key or a token that is not valid.", body = EmnifyError),
        (status = 422, description = "Neither a key nor a refresh token.", body = EmnifyError),
    ),
)]
pub async fn authenticate(State(state): State<AppState>, req: Result<WriteRequest, Problem>) -> Response {
    let answer = async {
        let body = req?.json_object(&[JSON])?;
        let now = Utc::now().timestamp();
        match (body.get("application_token"), body.get("refresh_token")) {
            (Some(Value::String(key)), None) => {
                let key_hash = hash_api_key(key);
                let found = state.tenants().tenant_by_key_hash(&key_hash);
                let view = state.port("tenant_by_key_hash", found).await?;
                let view = view.ok_or_else(|| unauthorized("the application token is not known"))?;
                let auth_token = token(&state, view.tenant_id, view.key_version, "auth", now + AUTH_TTL_SECS)?;
                let refresh_token = token(&state, view.tenant_id, view.key_version, "refresh", now + REFRESH_TTL_SECS)?;
                Ok(tokens(auth_token, refresh_token))
            }
            (None, Some(Value::String(refresh))) => {
                let (tenant, claims) =
                    verify(&state, refresh, "refresh").ok_or_else(|| unauthorized("the refresh token is not valid"))?;
                // The tenant and the API key the tokens came from must still
                // be there: rotating or revoking the key ends its refreshes.
                let works = state.port("key_works", state.tenants().key_works(tenant, claims.kv)).await?;
                if !works {
                    return Err(unauthorized("the API key this refresh token came from was rotated or revoked"));
                }
                // A new auth token; the refresh token stays the same, so it
                // never outlives the 30 days it was given at sign-in.
                let auth_token = token(&state, tenant, claims.kv, "auth", (now + AUTH_TTL_SECS).min(claims.exp))?;
                Ok(tokens(auth_token, refresh.clone()))
            }
            _ => Err(Problem::validation(vec![FieldError::new(
                "application_token",
                "required",
                "give an application_token (your API key) or a refresh_token",
            )])),
        }
    };
    in_vendor_shape(answer.await.unwrap_or_else(|p| error(&p)).into_response())
}

/// The token answer: never stored by a cache on the way.
fn tokens(auth_token: String, refresh_token: String) -> Reply {
    Reply::json(StatusCode::OK, json!({"auth_token": auth_token, "refresh_token": refresh_token}))
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
}

/// The caller of an organisation route: the tenant its token names, which
/// must be the organisation in the path.
pub struct OrgCaller {
    tenant: TenantId,
}

impl FromRequestParts<AppState> for OrgCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jwt = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned())
            .ok_or_else(|| unauthorized("send an auth_token from POST /api/v1/authenticate as a Bearer token"))?;
        let (tenant, _) = verify(state, &jwt, "auth").ok_or_else(|| unauthorized("the auth_token is not valid"))?;
        let org = parts.uri.path().split('/').nth(4).and_then(|s| s.parse::<u64>().ok());
        if org != Some(tenant.organisation_id()) {
            return Err(Problem::new(Code::TenantMismatch, "the token is for another organisation"));
        }
        Ok(OrgCaller { tenant })
    }
}

/// emnify: create an organisation contact.
///
/// Only `type` is required; `id` and `organisation_id` may not be given, in
/// the body or the query string.
#[utoipa::path(
    post,
    path = "/api/v1/organisation/{org_id}/contact",
    tag = "emnify",
    operation_id = "emnify_create_contact",
    security(("emnify_token" = [])),
    params(("org_id" = u64, Path, description = "The tenant's organisation id (`GET /v1/tenant`)."), IdempotencyKey),
    request_body(content = EmnifyCreateContact, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = EmnifyContact,
            headers(("Location" = String, description = "`/api/v1/organisation/{org_id}/contact/{id}`"))),
        (status = 401, description = "No or a bad token.", body = EmnifyError),
        (status = 403, description = "Another organisation's id.", body = EmnifyError),
        (status = 409, description = "An email or external id in use.", body = EmnifyError),
        (status = 422, description = "Every failing field.", body = EmnifyError),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Result<OrgCaller, Problem>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    req: Result<WriteRequest, Problem>,
) -> Response {
    let (caller, req) = match unpack(caller, req, error) {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let query: Vec<String> = query.map(|Query(pairs)| pairs.into_iter().map(|(k, _)| k).collect()).unwrap_or_default();
    let (state, req, tenant, query) = (&state, &req, caller.tenant, &query);
    idempotent(state, tenant, req, error, move |slot| async move {
        let body = req.json_object(&[JSON])?;
        let command = create_command(&body, query)?;
        let view = decision::decide(state, tenant, slot, command).await?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("create {} has no contact", slot.command_id)))?;
        let contact = read_back(state, tenant, id).await?;
        let location = format!("/api/v1/organisation/{}/contact/{}", tenant.organisation_id(), contact.number);
        Ok(Reply::json(StatusCode::CREATED, view_of(tenant, &contact)).header(header::LOCATION, location))
    })
    .await
}

/// emnify: an organisation contact.
#[utoipa::path(
    get,
    path = "/api/v1/organisation/{org_id}/contact/{id}",
    tag = "emnify",
    operation_id = "emnify_get_contact",
    security(("emnify_token" = [])),
    params(("org_id" = u64, Path, description = "The tenant's organisation id (`GET /v1/tenant`)."), ("id" = u64, Path, description = "The contact's numeric id.")),
    responses(
        (status = 200, description = "The contact.", body = EmnifyContact),
        (status = 401, description = "No or a bad token.", body = EmnifyError),
        (status = 403, description = "Another organisation's id.", body = EmnifyError),
        (status = 404, description = "`contact_not_found`", body = EmnifyError),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Result<OrgCaller, Problem>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Response {
    let answer = async {
        let tenant = caller?.tenant;
        let contact = found(&state, tenant, path).await?;
        Ok::<_, Problem>(Reply::json(StatusCode::OK, view_of(tenant, &contact)))
    };
    in_vendor_shape(answer.await.unwrap_or_else(|p| error(&p)).into_response())
}

/// emnify: update an organisation contact.
///
/// The fields given change (`null` clears one); the type stays fixed.
#[utoipa::path(
    patch,
    path = "/api/v1/organisation/{org_id}/contact/{id}",
    tag = "emnify",
    operation_id = "emnify_update_contact",
    security(("emnify_token" = [])),
    params(("org_id" = u64, Path, description = "The tenant's organisation id (`GET /v1/tenant`)."), ("id" = u64, Path, description = "The contact's numeric id."), IdempotencyKey),
    request_body(content = EmnifyUpdateContact, content_type = "application/json"),
    responses(
        (status = 200, description = "The contact as it now stands.", body = EmnifyContact),
        (status = 401, description = "No or a bad token.", body = EmnifyError),
        (status = 403, description = "Another organisation's id.", body = EmnifyError),
        (status = 404, description = "`contact_not_found`", body = EmnifyError),
        (status = 409, description = "An email or external id in use.", body = EmnifyError),
        (status = 422, description = "Every failing field (a changed type is `immutable_field`).", body = EmnifyError),
    ),
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Result<OrgCaller, Problem>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    req: Result<WriteRequest, Problem>,
) -> Response {
    let (caller, req) = match unpack(caller, req, error) {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let query: Vec<String> = query.map(|Query(pairs)| pairs.into_iter().map(|(k, _)| k).collect()).unwrap_or_default();
    let (state, req, tenant, query) = (&state, &req, caller.tenant, &query);
    idempotent(state, tenant, req, error, move |slot| async move {
        let body = req.json_object(&[JSON, MERGE_PATCH])?;
        let contact = found(state, tenant, path).await?;
        let mut errors = unknown_keys(&body, BODY);
        errors.extend(forbidden_ids(&body, query));
        let (patch, shape) = native(&body, true);
        errors.extend(shape);
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

/// emnify: delete an organisation contact.
#[utoipa::path(
    delete,
    path = "/api/v1/organisation/{org_id}/contact/{id}",
    tag = "emnify",
    operation_id = "emnify_delete_contact",
    security(("emnify_token" = [])),
    params(("org_id" = u64, Path, description = "The tenant's organisation id (`GET /v1/tenant`)."), ("id" = u64, Path, description = "The contact's numeric id."), IdempotencyKey),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No or a bad token.", body = EmnifyError),
        (status = 403, description = "Another organisation's id.", body = EmnifyError),
        (status = 404, description = "`contact_not_found`", body = EmnifyError),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Result<OrgCaller, Problem>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    req: Result<WriteRequest, Problem>,
) -> Response {
    let (caller, req) = match unpack(caller, req, error) {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let (state, req, tenant) = (&state, &req, caller.tenant);
    idempotent(state, tenant, req, error, move |slot| async move {
        let contact = found(state, tenant, path).await?;
        let command = Command::DeleteContact(DeleteContact { contact_id: contact.id, expected_version: None });
        decision::decide(state, tenant, slot, command).await?;
        Ok(Reply::no_content())
    })
    .await
}

/// emnify: list organisation contacts.
///
/// An unwrapped array in id (creation) order, paged by number; totals in
/// the headers.
#[utoipa::path(
    get,
    path = "/api/v1/organisation/{org_id}/contact",
    tag = "emnify",
    operation_id = "emnify_list_contacts",
    security(("emnify_token" = [])),
    params(
        ("org_id" = u64, Path, description = "The tenant's organisation id (`GET /v1/tenant`)."),
        ("page" = Option<u64>, Query, description = "From 1 (default).", minimum = 1),
        ("per_page" = Option<u64>, Query, description = "1-1000, default 20.", minimum = 1, maximum = 1000),
    ),
    responses(
        (status = 200, description = "A page.", body = [EmnifyContact],
            headers(
                ("X-Total-Count" = u64, description = "Contacts in all."),
                ("X-Total-Pages" = u64, description = "Pages in all."),
                ("X-Current-Page" = u64, description = "This page."),
                ("X-Count-Per-Page" = u64, description = "`per_page`."),
            )),
        (status = 401, description = "No or a bad token.", body = EmnifyError),
        (status = 403, description = "Another organisation's id.", body = EmnifyError),
        (status = 422, description = "A query parameter that is not right.", body = EmnifyError),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Result<OrgCaller, Problem>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let answer = async {
        let tenant = caller?.tenant;
        let Ok(Query(pairs)) = query else {
            return Err(invalid(vec![FieldError::new("query", "invalid_query", "the query string cannot be read")]));
        };
        let (mut page, mut per_page, mut errors) = (1u64, PER_PAGE_DEFAULT, Vec::new());
        for (key, value) in &pairs {
            let n = value.parse::<u64>().ok();
            match key.as_str() {
                "page" => match n.filter(|n| *n >= 1) {
                    Some(n) => page = n,
                    None => errors.push(FieldError::new("page", "invalid_value", "must be a whole number from 1")),
                },
                "per_page" => match n.filter(|n| (1..=PER_PAGE_MAX).contains(n)) {
                    Some(n) => per_page = n,
                    None => errors.push(FieldError::new(
                        "per_page",
                        "invalid_value",
                        format!("must be a whole number from 1 to {PER_PAGE_MAX}"),
                    )),
                },
                _ => errors.push(FieldError::new(key.clone(), "unknown_field", "is not a known query parameter")),
            }
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        let filter = ContactFilter { kind: Some(ContactKind::Contact), typed: Some(true), ..ContactFilter::default() };
        let total = state.port("count_contacts", state.contacts().count_contacts(tenant, &filter)).await?;
        let cursor = Cursor::Offset((page - 1).saturating_mul(per_page));
        let limit = u32::try_from(per_page).unwrap_or(u32::MAX);
        let contacts = state.port("contacts", state.contacts().contacts(tenant, &filter, cursor, limit)).await?;
        let data: Vec<Value> = contacts.iter().map(|c| view_of(tenant, c)).collect();
        Ok::<_, Problem>(
            Reply::json(StatusCode::OK, Value::Array(data))
                .header(header::HeaderName::from_static("x-total-count"), total.to_string())
                .header(header::HeaderName::from_static("x-total-pages"), total.div_ceil(per_page).to_string())
                .header(header::HeaderName::from_static("x-current-page"), page.to_string())
                .header(header::HeaderName::from_static("x-count-per-page"), per_page.to_string()),
        )
    };
    in_vendor_shape(answer.await.unwrap_or_else(|p| error(&p)).into_response())
}

/// The organisation contact `{id}` (its number) names.
async fn found(
    state: &AppState,
    tenant: TenantId,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<Contact, Problem> {
    let not_found = || Problem::new(Code::ContactNotFound, "no such contact");
    let number = path.ok().and_then(|Path((_, id))| id.parse::<u64>().ok()).ok_or_else(not_found)?;
    let filter = ContactFilter {
        kind: Some(ContactKind::Contact),
        typed: Some(true),
        number: Some(number),
        ..ContactFilter::default()
    };
    let page = state.port("contacts", state.contacts().contacts(tenant, &filter, Cursor::Start, 1)).await?;
    page.into_iter().next().ok_or_else(not_found)
}

/// `id` and `organisation_id` are the service's to give.
fn forbidden_ids(body: &Map<String, Value>, query: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for key in ["id", "organisation_id"] {
        if body.contains_key(key) {
            errors.push(FieldError::new(key, "not_allowed", "must not be given: the service assigns it"));
        }
        if query.iter().any(|k| k == key) {
            errors.push(FieldError::new(
                format!("query.{key}"),
                "not_allowed",
                "must not be given in the query string",
            ));
        }
    }
    errors
}

/// An emnify body as native fields (a create body, or a merge patch when
/// `patch`), with the errors of emnify's own shapes (`type`, `country`).
fn native(body: &Map<String, Value>, patch: bool) -> (Map<String, Value>, Vec<FieldError>) {
    let mut out = Map::new();
    let mut errors = Vec::new();
    let id_of = |v: &Value| v.as_object().filter(|o| o.len() == 1).and_then(|o| o.get("id")).and_then(Value::as_i64);
    let mut address = Map::new();
    for (key, value) in body {
        if SAME.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        } else if let Some((_, native)) = ADDRESS.iter().find(|(e, _)| e == key) {
            address.insert((*native).to_owned(), value.clone());
        } else if key == "type" {
            match id_of(value) {
                Some(id) => {
                    out.insert("type_id".into(), json!(id));
                }
                None => errors.push(FieldError::new(
                    "type",
                    "invalid_type",
                    "must be an object with the type id: {\"id\": 6}",
                )),
            }
        } else if key == "country" {
            match (value, id_of(value)) {
                (Value::Null, _) if patch => {
                    out.insert("metadata".into(), json!({"emnify": {"country": null}}));
                }
                (Value::Null, _) => {}
                (_, Some(id)) => {
                    out.insert("metadata".into(), json!({"emnify": {"country": {"id": id}}}));
                }
                _ => errors.push(FieldError::new(
                    "country",
                    "invalid_type",
                    "must be an object with the country id: {\"id\": 74}",
                )),
            }
        }
    }
    if !address.is_empty() {
        out.insert("address".into(), Value::Object(address));
    }
    (out, errors)
}

fn create_command(body: &Map<String, Value>, query: &[String]) -> Result<Command, Problem> {
    let mut shape = unknown_keys(body, BODY);
    shape.extend(forbidden_ids(body, query));
    let missing = body.get("type").is_none_or(Value::is_null);
    if missing {
        // emnify's one required field.
        shape.push(FieldError::new("type", "required", "is required: {\"id\": <the contact type>}"));
    }
    let (mut native, more) = native(body, false);
    shape.extend(more);
    native.insert("kind".into(), json!("contact"));
    let (command, native_errors) = match wire::contact_body(ContactWrite::Create, &native) {
        Ok(command) => {
            let rules = admit(&command);
            (Some(command), rules)
        }
        Err(errors) => (None, errors),
    };
    let native_errors = if missing { without_implied_identifier(native_errors) } else { native_errors };
    let errors = merged(shape, &native_errors, emnify_name);
    match command {
        Some(command) if errors.is_empty() => Ok(command),
        _ => Err(Problem::validation(errors)),
    }
}

fn emnify_name(native: &str) -> String {
    if let Some(field) = native.strip_prefix("address.") {
        return ADDRESS.iter().find(|(_, n)| *n == field).map_or(native, |(e, _)| *e).to_owned();
    }
    match native {
        "type_id" => "type".to_owned(),
        "metadata" => "country".to_owned(),
        other => other.to_owned(),
    }
}

fn invalid(errors: Vec<FieldError>) -> Problem {
    let mut errors = renamed(&errors, emnify_name);
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    errors.dedup();
    Problem::validation(errors)
}

/// A contact as emnify shows it.
fn view_of(tenant: TenantId, c: &Contact) -> Value {
    let p = &c.profile;
    let a = p.address.clone().unwrap_or_default();
    let country = p.metadata.get("emnify").and_then(|e| e.get("country")).cloned().unwrap_or(Value::Null);
    json!({
        "id": c.number,
        "contact_id": c.id.to_string(),
        "organisation": {"id": tenant.organisation_id()},
        "type": c.type_id.map(|id| json!({"id": id})),
        "name": p.name,
        "title": p.title,
        "department": p.department,
        "street": a.line1,
        "secondary_address": a.line2,
        "zipcode": a.zip,
        "city": a.city,
        "state": a.region,
        "country": country,
        "email": p.email,
        "phone": p.phone,
        "mobile": p.mobile,
        "purchase_order_number": p.purchase_order_number,
    })
}

/// A problem in emnify's shape.
fn error(p: &Problem) -> Reply {
    let mut body = json!({"error_code": p.status().as_u16(), "error_token": p.code().as_str(), "message": p.detail()});
    let errors = renamed(p.errors(), emnify_name);
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    let mut reply = Reply::json(p.status(), body);
    reply.headers.extend(p.headers().iter().cloned());
    reply
}
