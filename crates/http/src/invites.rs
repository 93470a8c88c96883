//! Invites: a tenant asks for one (`RequestInvite`; the mailer sends the
//! link), and the invited user sets a password through the link, as a page
//! or as JSON. The link's token is the only credential of the accepting
//! side, so those routes take no API key; the read model knows the token
//! only by its SHA-256, which is also what every lookup uses, and neither the
//! token nor the password is ever logged or published (the request span
//! redacts the token from the path, see `middleware::request_span`).
//!
//! Used, replaced (superseded) and expired links are answered from the read
//! model before the form is shown and before argon2 is paid for; the domain still decides, so a link used meanwhile (or a read
//! model that lags) gets the same 410 from the decision.
use axum::{
    Form,
    extract::{
        Path, State,
        rejection::{FormRejection, PathRejection},
    },
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::Code;
use ledger_domain::{
    Command, Contact, Event, FieldError, Password,
    command::{AcceptInvite, RequestInvite},
    rules::{PASSWORD_RULE, check_password},
};
use ledger_ports::{InviteState, InviteTokenView};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::{
    auth::Caller,
    contacts_read::{ContactPath, read_back, to_json},
    decision, idempotency,
    idempotency::Slot,
    invite_page::{self, Invitee},
    openapi::{
        IdempotencyKey,
        bodies::{InviteAcceptance, InviteAccepted, InviteCreated, Problem as ProblemBody},
    },
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
};

/// SHA-256 of the token, lowercase hex: how the read model knows it.
pub fn hash_invite_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Invite a user.
///
/// 201 with the new invite; the mailer sends its link. A newer invite
/// supersedes the user's older links. A body, if any, is ignored.
#[utoipa::path(
    post,
    path = "/v1/contacts/{id}/invites",
    tag = "invites",
    operation_id = "request_invite",
    security(("api_key" = [])),
    params(("id" = String, Path, description = "The contact id (`contact_<ULID>` or a bare ULID)."), IdempotencyKey),
    responses(
        (status = 201, description = "The invite.", body = InviteCreated,
            headers(("Location" = String, description = "`/v1/contacts/{id}`"))),
        (status = 404, description = "`contact_not_found`", body = ProblemBody),
        (status = 422, description = "`validation_failed`: only users are invited (`only_for_users`).", body = ProblemBody),
    ),
)]
pub async fn request(
    State(state): State<AppState>,
    caller: Caller,
    ContactPath(contact_id): ContactPath,
    req: WriteRequest,
) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let command = Command::RequestInvite(RequestInvite { contact_id });
        let view = decision::decide(state, tenant, slot, command).await?;
        let requested = view
            .events
            .iter()
            .filter(|e| e.event_type == "InviteRequested")
            .find_map(|e| match Event::from_parts(&e.event_type, 1, e.data.clone()) {
                Ok(Event::InviteRequested(i)) => Some(i),
                _ => None,
            })
            .ok_or_else(|| {
                Problem::internal(format_args!("RequestInvite {} decided without an invite", slot.command_id))
            })?;
        let body = json!({
            "invite_id": requested.invite_id.to_string(),
            "contact_id": requested.contact_id.to_string(),
            "expires_at": requested.expires_at,
        });
        Ok(Reply::json(StatusCode::CREATED, body).header(header::LOCATION, format!("/v1/contacts/{contact_id}")))
    })
    .await
}

/// Accept an invite.
///
/// Sets the invited user's password: 200 with the registered contact. No API
/// key: the link's token is the credential. The answer is never cached.
#[utoipa::path(
    post,
    path = "/v1/invites/accept",
    tag = "invites",
    operation_id = "accept_invite",
    request_body(content = InviteAcceptance, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, registered.", body = InviteAccepted),
        (status = 404, description = "`invite_not_found`: the token leads nowhere.", body = ProblemBody),
        (status = 410, description = "`invite_used`, `invite_expired`, `invite_superseded` (a newer invite \
            replaced it).", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field, in `errors` (`weak_password`).",
            body = ProblemBody),
    ),
)]
pub async fn accept(State(state): State<AppState>, req: WriteRequest) -> Response {
    let reply = accept_json(&state, &req).await.unwrap_or_else(Reply::from);
    reply.header(header::CACHE_CONTROL, "no-store").into_response()
}

async fn accept_json(state: &AppState, req: &WriteRequest) -> Result<Reply, Problem> {
    let (token, password) = read_accept(req.json_object(&[JSON])?)?;
    let (view, slot) = open_invite(state, &token).await?;
    let contact = set_password(state, &view, slot, Password::new(password)).await?;
    Ok(Reply::json(StatusCode::OK, json!({ "contact": to_json(&contact)?, "registered": contact.registered })))
}

/// The body's two strings, or one 422 listing every mistake (the password
/// rule too, when it can be checked without the token).
fn read_accept(mut body: Map<String, Value>) -> Result<(String, String), Problem> {
    let mut errors = Vec::new();
    let mut take = |key: &str| match body.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            errors.push(FieldError::new(key, "required", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(key, "invalid_type", "must be a string"));
            None
        }
    };
    let (token, password) = (take("token"), take("password"));
    errors.extend(body.keys().map(|k| FieldError::new(k.clone(), "unknown_field", "is not a known field")));
    match (token, password) {
        (Some(token), Some(password)) if errors.is_empty() => Ok((token, password)),
        (_, password) => {
            if let Some(Err(e)) = password.map(|p| check_password("password", &p)) {
                errors.push(e);
            }
            Err(Problem::validation(errors))
        }
    }
}

/// The invite page.
///
/// The page an invited user opens from the email: their name, email, company
/// and address, and a form to choose a password. No API key: the token is
/// the credential. Every page is HTML, never cached.
#[utoipa::path(
    get,
    path = "/invite/{token}",
    tag = "invites",
    operation_id = "invite_page",
    params(("token" = String, Path, description = "The invite link's token.")),
    responses(
        (status = 200, description = "The password form.", body = String, content_type = "text/html"),
        (status = 404, description = "The link is not valid.", body = String, content_type = "text/html"),
        (status = 410, description = "The link was used, has expired, or a newer invite replaced it.", body = String,
            content_type = "text/html"),
    ),
)]
pub async fn page(State(state): State<AppState>, token: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(token)) = token else { return invite_page::not_found().into_response() };
    let shown = async {
        let (view, _) = open_invite(&state, &token).await?;
        let (tenant_name, contact) = invitee(&state, &view).await?;
        Ok::<_, Problem>(invite_page::form(
            &Invitee { tenant_name: &tenant_name, contact: &contact },
            &[],
            StatusCode::OK,
        ))
    };
    match shown.await {
        Ok(page) => page.into_response(),
        Err(problem) => invite_page::for_problem(&problem).into_response(),
    }
}

/// The form's fields; a missing one reads as empty.
#[derive(Deserialize, JsonSchema)]
pub struct PasswordForm {
    #[serde(default)]
    #[schemars(description = format!("The password to set: it {PASSWORD_RULE}."))]
    password: String,
    /// The same password again.
    #[serde(default)]
    password_confirmation: String,
}

crate::openapi::bridge!(Request: PasswordForm);

/// Set the password from the invite page.
///
/// The form post of the invite page: sets the password and shows that it is
/// done, or shows the form again with what to fix (422) and changes nothing.
#[utoipa::path(
    post,
    path = "/invite/{token}",
    tag = "invites",
    operation_id = "invite_page_submit",
    params(("token" = String, Path, description = "The invite link's token.")),
    request_body(content = inline(PasswordForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The password is set.", body = String, content_type = "text/html"),
        (status = 404, description = "The link is not valid.", body = String, content_type = "text/html"),
        (status = 410, description = "The link was used, has expired, or a newer invite replaced it.", body = String,
            content_type = "text/html"),
        (status = 422, description = "The form again, with what to fix.", body = String, content_type = "text/html"),
    ),
)]
pub async fn submit_page(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let Ok(Path(token)) = token else { return invite_page::not_found().into_response() };
    match submit_form(&state, &token, form).await {
        Ok(page) => page.into_response(),
        Err(problem) => invite_page::for_problem(&problem).into_response(),
    }
}

async fn submit_form(
    state: &AppState,
    token: &str,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<invite_page::Page, Problem> {
    let (view, slot) = open_invite(state, token).await?;
    let (tenant_name, contact) = invitee(state, &view).await?;
    let who = Invitee { tenant_name: &tenant_name, contact: &contact };
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let message = "The form could not be read. Please fill it in again.".to_owned();
            return Ok(invite_page::form(&who, &[message], rejection.status()));
        }
    };
    let mut errors = Vec::new();
    if check_password("password", &form.password).is_err() {
        errors.push(format!("Your password {PASSWORD_RULE}."));
    }
    if form.password != form.password_confirmation {
        errors.push("The two passwords do not match.".to_owned());
    }
    if !errors.is_empty() {
        return Ok(invite_page::form(&who, &errors, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let contact = set_password(state, &view, slot, Password::new(form.password)).await?;
    Ok(invite_page::done(&Invitee { tenant_name: &tenant_name, contact: &contact }))
}

/// The invite a token leads to, if it can still be used, with the command
/// id and time an acceptance would publish with (expiry is judged at that
/// time, as the domain will).
async fn open_invite(state: &AppState, token: &str) -> Result<(InviteTokenView, Slot), Problem> {
    let token_hash = hash_invite_token(token);
    let found = state.invites().invite_by_token_hash(&token_hash);
    let view = state.port("invite_by_token_hash", found).await?.ok_or_else(invite_not_found)?;
    match view.state {
        InviteState::Accepted => return Err(Problem::new(Code::InviteUsed, "this invite has already been used")),
        InviteState::Superseded => {
            return Err(Problem::new(
                Code::InviteSuperseded,
                "a newer invite replaced this one: use the link in the latest email",
            ));
        }
        InviteState::Requested | InviteState::Sent | InviteState::Failed => {}
    }
    let slot = Slot::fresh(None);
    if view.expires_at <= slot.issued_at {
        return Err(Problem::new(Code::InviteExpired, "this invite has expired"));
    }
    Ok((view, slot))
}

/// Checks the rule, hashes (one turn of the hashing semaphore), publishes
/// `AcceptInvite` for the token's tenant and reads the contact back.
async fn set_password(
    state: &AppState,
    view: &InviteTokenView,
    slot: Slot,
    password: Password,
) -> Result<Contact, Problem> {
    check_password("password", password.expose()).map_err(|e| Problem::validation(vec![e]))?;
    let password_hash = state.hash_password(password).await?;
    let command = Command::AcceptInvite(AcceptInvite { invite_id: view.invite_id, password_hash });
    decision::decide(state, view.tenant_id, slot, command).await?;
    read_back(state, view.tenant_id, view.contact_id).await
}

/// The tenant's name and the invited contact, for the pages.
async fn invitee(state: &AppState, view: &InviteTokenView) -> Result<(String, Contact), Problem> {
    let (contact, tenant) = tokio::join!(
        state.port("contact", state.contacts().contact(view.tenant_id, view.contact_id)),
        state.port("tenant", state.tenants().tenant(view.tenant_id)),
    );
    let missing = |what: &str| {
        Problem::internal(format_args!("invite {} leads to a {what} missing from the read model", view.invite_id))
    };
    let contact = contact?.ok_or_else(|| missing("contact"))?;
    let tenant = tenant?.ok_or_else(|| missing("tenant"))?;
    Ok((tenant.name, contact))
}

fn invite_not_found() -> Problem {
    Problem::new(Code::InviteNotFound, "this invite link is not valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hash_to_lowercase_sha256_hex() {
        assert_eq!(hash_invite_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn an_accept_body_lists_every_mistake_with_the_password_rule() {
        let body = json!({ "password": "short", "colour": 1 });
        let Value::Object(body) = body else { unreachable!() };
        let err = read_accept(body).unwrap_err().to_json();
        let fields: Vec<(&str, &str)> = err["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(fields, [("token", "required"), ("colour", "unknown_field"), ("password", "weak_password")]);
    }
}
