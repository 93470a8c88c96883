//! The caller's own tenant: read it, or switch contact capture on and off
//! (a `ConfigureTenant` command, decided like any other).
use axum::{extract::State, http::StatusCode, response::Response};
use ledger_domain::wire;
use serde_json::Value;

use crate::{
    auth::Caller,
    contacts_read::to_json,
    decision, idempotency,
    openapi::{
        IdempotencyKey,
        bodies::{Problem as ProblemBody, Tenant, TenantSettings},
    },
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
};

/// Read the tenant.
///
/// The tenant the API key belongs to.
#[utoipa::path(
    get,
    path = "/v1/tenant",
    tag = "tenant",
    operation_id = "get_tenant",
    security(("api_key" = [])),
    responses((status = 200, description = "The tenant.", body = Tenant)),
)]
pub async fn get(caller: Caller) -> Result<Reply, Problem> {
    Ok(Reply::json(StatusCode::OK, tenant_json(&caller.tenant)?))
}

/// The tenant with its numeric organisation id (the emnify routes' `{org_id}`).
fn tenant_json(view: &ledger_ports::TenantView) -> Result<Value, Problem> {
    let mut body = to_json(view)?;
    body["organisation_id"] = serde_json::json!(view.tenant_id.organisation_id());
    Ok(body)
}

/// Configure the tenant.
///
/// Switches contact capture on or off (`ConfigureTenant`).
#[utoipa::path(
    patch,
    path = "/v1/tenant",
    tag = "tenant",
    operation_id = "configure_tenant",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = TenantSettings, content_type = "application/json"),
    responses(
        (status = 200, description = "The tenant.", body = Tenant),
        (status = 422, description = "`validation_failed`: every failing field, in `errors`.", body = ProblemBody),
    ),
)]
pub async fn configure(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, caller) = (&state, &req, &caller);
    let tenant = caller.tenant_id();
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let body = req.json_object(&[JSON])?;
        let command = wire::parse("ConfigureTenant", &Value::Object(body)).map_err(Problem::validation)?;
        decision::decide(state, tenant, slot, command).await?;
        let view = state
            .port("tenant_by_key_hash", state.tenants().tenant_by_key_hash(&caller.key_hash))
            .await?
            .ok_or_else(|| Problem::internal(format_args!("tenant {tenant} vanished after ConfigureTenant")))?;
        Ok(Reply::json(StatusCode::OK, tenant_json(&view)?))
    })
    .await
}
