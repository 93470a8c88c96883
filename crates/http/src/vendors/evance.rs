//! Evance `POST /api/contacts.json` (seeds 003/004): `{"contact": {...},
//! "invite": bool}` in Evance's field names (`firstname`, `lastname`,
//! `email`, `company`, `type`, `password`, `address.{id, line1, line2, line3,
//! city, region, countryCode, zip, firstname, lastname, company}`,
//! `accessRoles`, `tags.contact`). It is the native create: every rule of the
//! seeds (kinds and their required fields, uniqueness, `hq` refused, the
//! password rule, address inheritance, a supplied address `id` making a new
//! address, roles only for users and only existing ones, `expires` and
//! `status: "active"`, the invite) is the domain's.
//!
//! Answers: 201 `{"contact": {...}}` in the same names with its `id`,
//! `accessRoles` as granted and any `warnings`; 400 naming every failing
//! field (`contact.firstname`, ...); 409 when an email or external id is
//! taken; 401. Errors are `{"message", "code", "errors"?}`.
use axum::{
    extract::State,
    http::{StatusCode, header},
    response::Response,
};
use ledger_domain::{
    Contact, FieldError, TenantId, Warning, admit,
    roles::GrantItem,
    wire::{self, ContactWrite},
};
use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::{
    auth::Caller,
    contact_input::contact_command,
    contacts_read::read_back,
    decision,
    openapi::{IdempotencyKey, bridge},
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
    vendors::{idempotent, merged, renamed, unknown_keys, unpack},
};

/// Evance contact field -> native field.
const CONTACT: &[(&str, &str)] = &[
    ("firstname", "first_name"),
    ("lastname", "last_name"),
    ("email", "email"),
    ("company", "company"),
    ("type", "kind"),
    ("password", "password"),
    ("address", "address"),
    ("accessRoles", "access_roles"),
    ("tags", "tags"),
];
/// Evance address field -> native address field (`id` is read and ignored).
const ADDRESS: &[(&str, &str)] = &[
    ("id", "id"),
    ("line1", "line1"),
    ("line2", "line2"),
    ("line3", "line3"),
    ("city", "city"),
    ("region", "region"),
    ("countryCode", "country_code"),
    ("zip", "zip"),
    ("firstname", "first_name"),
    ("lastname", "last_name"),
    ("company", "company"),
];

/// Evance's request: the contact, and whether to invite a user.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = json!({"contact": {"firstname": "Bob", "lastname": "Bobsworth", "email": "bob@email.com",
    "type": "user", "address": {"line1": "2 Sorrel Horse Mews", "city": "Ipswich", "countryCode": "GB", "zip": "IP4 1LN"},
    "tags": {"contact": ["Engineers", "QA"]}}, "invite": true}))]
#[allow(dead_code, reason = "described, never built: `native_body` reads the body")]
pub struct EvanceAddContact {
    pub contact: EvanceContactInput,
    /// Invite a user to set their password (outside the contact object).
    pub invite: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "described, never built")]
pub struct EvanceContactInput {
    /// `user`, `guest`, `branch` or `recipient` (`hq` is refused).
    #[serde(rename = "type")]
    pub kind: String,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    /// Plain text, at least 8 characters with letters and numbers; stored
    /// only as an argon2id hash.
    pub password: Option<String>,
    pub address: Option<EvanceAddress>,
    /// A reference (the role's rule applies) or `{reference, expires, status: "active"}`.
    #[serde(rename = "accessRoles")]
    pub access_roles: Option<Vec<GrantItem>>,
    pub tags: Option<EvanceTags>,
}

/// A primary address; names and company are inherited from the contact
/// unless given, and a supplied `id` makes a new address.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "described, never built")]
pub struct EvanceAddress {
    pub id: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub line3: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    #[serde(rename = "countryCode")]
    pub country_code: Option<String>,
    pub zip: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub company: Option<String>,
}

/// Tags of the default contact tag type.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "described, never built")]
pub struct EvanceTags {
    pub contact: Vec<String>,
}

/// Evance's answer: the contact in its names, and what was ignored.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `create` writes it")]
pub struct EvanceAdded {
    pub contact: EvanceContact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
}

#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `view_of` writes it")]
pub struct EvanceContact {
    /// `contact_<ULID>`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub address: Option<EvanceAddress>,
    #[serde(rename = "accessRoles")]
    pub access_roles: Vec<EvanceGrant>,
    pub tags: EvanceTags,
}

/// A role the contact holds now.
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built")]
pub struct EvanceGrant {
    pub reference: String,
    /// `active` or `pending`.
    pub status: String,
    pub expires: Option<String>,
}

/// The Evance route's error: a code, a message, and for a 400 every failing
/// field (`contact.firstname`, ...).
#[derive(JsonSchema)]
#[allow(dead_code, reason = "described, never built: `error` writes it")]
pub struct EvanceError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

bridge!(Request: EvanceAddContact);
bridge!(Response: EvanceAdded, EvanceError);

/// Evance: add a contact.
///
/// A user, guest, branch or recipient, with its primary address, access
/// roles and tags, and an invite for a user; in Evance's field names.
#[utoipa::path(
    post,
    path = "/api/contacts.json",
    tag = "evance",
    operation_id = "evance_add_contact",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = EvanceAddContact, content_type = "application/json"),
    responses(
        (status = 201, description = "Added.", body = EvanceAdded,
            headers(("Location" = String, description = "`/v1/contacts/{id}`"))),
        (status = 400, description = "Every failing field, as `contact.*`.", body = EvanceError),
        (status = 409, description = "An email or external id in use (`email_taken`, `email_belongs_to_user`, ...).",
            body = EvanceError),
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
        let body = req.json_object(&[JSON])?;
        let (native, shape) = native_body(&body);
        if !shape.is_empty() {
            // Evance's own shapes are wrong: report them with the wire's
            // and the rules' verdict on the rest (no password is hashed).
            let native_errors = match wire::contact_body(ContactWrite::Create, &native) {
                Ok(command) => admit(&command),
                Err(errors) => errors,
            };
            return Err(Problem::validation(merged(shape, &native_errors, evance_name)));
        }
        let command =
            contact_command(state, ContactWrite::Create, native).await.map_err(|p| p.map_fields(evance_name))?;
        let view = decision::decide(state, tenant, slot, command).await.map_err(|p| p.map_fields(evance_name))?;
        let id = view
            .contact_id
            .ok_or_else(|| Problem::internal(format_args!("create {} has no contact", slot.command_id)))?;
        let contact = read_back(state, tenant, id).await?;
        let mut body = json!({"contact": view_of(state, tenant, &contact).await?});
        if !view.warnings.is_empty() {
            body["warnings"] = json!(renamed_warnings(&view.warnings));
        }
        Ok(Reply::json(StatusCode::CREATED, body).header(header::LOCATION, format!("/v1/contacts/{id}")))
    })
    .await
}

/// The native contact body for an Evance body, with the errors of Evance's
/// own shapes (the envelope, `tags.contact`, unknown fields).
fn native_body(body: &Map<String, Value>) -> (Map<String, Value>, Vec<FieldError>) {
    let mut errors = unknown_keys(body, &["contact", "invite"]);
    let mut native = Map::new();
    match body.get("invite") {
        None | Some(Value::Null) => {}
        Some(invite) => {
            native.insert("invite".into(), invite.clone());
        }
    }
    let Some(contact) = body.get("contact").and_then(Value::as_object) else {
        errors.push(FieldError::new("contact", "required", "is required: an object with the contact's fields"));
        return (native, errors);
    };
    let known: Vec<&str> = CONTACT.iter().map(|(e, _)| *e).collect();
    errors.extend(renamed(&unknown_keys(contact, &known), |f| format!("contact.{f}")));
    for (key, value) in contact {
        let Some((_, name)) = CONTACT.iter().find(|(e, _)| e == key) else { continue };
        if *name == "kind" && value.as_str().map(str::trim) == Some("contact") {
            // Evance's types are user, guest, branch and recipient (and hq,
            // which the domain refuses); `contact` is the other vendors'.
            errors.push(FieldError::new(
                "contact.type",
                "invalid_value",
                "must be one of user, guest, branch, recipient",
            ));
            continue;
        }
        let value = match (*name, value) {
            ("address", Value::Object(address)) => {
                let known: Vec<&str> = ADDRESS.iter().map(|(e, _)| *e).collect();
                errors.extend(renamed(&unknown_keys(address, &known), |f| format!("contact.address.{f}")));
                Value::Object(
                    address
                        .iter()
                        .filter_map(|(k, v)| {
                            ADDRESS.iter().find(|(e, _)| e == k).map(|(_, n)| ((*n).to_owned(), v.clone()))
                        })
                        .collect(),
                )
            }
            ("tags", Value::Object(tags)) => {
                errors.extend(renamed(&unknown_keys(tags, &["contact"]), |f| format!("contact.tags.{f}")));
                match tags.get("contact") {
                    None | Some(Value::Null) => continue,
                    Some(list) => list.clone(),
                }
            }
            ("tags", Value::Null) => continue,
            ("tags", _) => {
                errors.push(FieldError::new("contact.tags", "invalid_type", "must be an object: {\"contact\": [...]}"));
                continue;
            }
            _ => value.clone(),
        };
        native.insert((*name).to_owned(), value);
    }
    (native, errors)
}

fn evance_name(native: &str) -> String {
    if native == "invite" {
        return native.to_owned();
    }
    if let Some(field) = native.strip_prefix("address.") {
        let name = ADDRESS.iter().find(|(_, n)| *n == field).map_or(field, |(e, _)| *e);
        return format!("contact.address.{name}");
    }
    if let Some(rest) = native.strip_prefix("access_roles") {
        return format!("contact.accessRoles{rest}");
    }
    if native == "tags" {
        return "contact.tags.contact".to_owned();
    }
    if native.starts_with("contact") {
        return native.to_owned();
    }
    let name = CONTACT.iter().find(|(_, n)| *n == native).map_or(native, |(e, _)| *e);
    format!("contact.{name}")
}

fn renamed_warnings(warnings: &[ledger_domain::Warning]) -> Vec<Value> {
    warnings.iter().map(|w| json!({"field": evance_name(&w.field), "code": w.code, "message": w.message})).collect()
}

/// A contact as Evance shows it, with the roles it now holds.
async fn view_of(state: &AppState, tenant: TenantId, c: &Contact) -> Result<Value, Problem> {
    let grants = state.port("contact_grants", state.roles().contact_grants(tenant, c.id)).await?;
    let p = &c.profile;
    let address = p.address.as_ref().map(|a| {
        json!({
            "id": a.id.map(|id| id.to_string()),
            "line1": a.line1, "line2": a.line2, "line3": a.line3, "city": a.city, "region": a.region,
            "countryCode": a.country_code, "zip": a.zip,
            "firstname": a.first_name, "lastname": a.last_name, "company": a.company,
        })
    });
    let roles: Vec<Value> = grants
        .iter()
        .map(|g| json!({"reference": g.reference, "status": g.status, "expires": g.expires.map(|t| t.to_rfc3339())}))
        .collect();
    Ok(json!({
        "id": c.id.to_string(),
        "type": c.kind.as_str(),
        "firstname": p.first_name,
        "lastname": p.last_name,
        "email": p.email,
        "company": p.company,
        "address": address,
        "accessRoles": roles,
        "tags": {"contact": p.tags},
    }))
}

/// A problem in the Evance route's shape: validation is 400.
fn error(p: &Problem) -> Reply {
    // A body that is not right is the vendor's 400; other 422s (a reused
    // Idempotency-Key) keep their status.
    let status = if p.code() == ledger_domain::Code::ValidationFailed { StatusCode::BAD_REQUEST } else { p.status() };
    let mut body = json!({"code": p.code().as_str(), "message": p.detail()});
    if !p.errors().is_empty() {
        body["errors"] = json!(p.errors());
    }
    let mut reply = Reply::json(status, body);
    reply.headers.extend(p.headers().iter().cloned());
    reply
}
