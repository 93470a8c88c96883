//! The tenant's catalogue of access roles: define one (a `DefineAccessRole`
//! command, decided like any other), list them, read one. Grants of these
//! roles to users live in `grants.rs`.
use axum::{
    extract::{Path, State, rejection::PathRejection},
    http::{StatusCode, header},
    response::Response,
};
use ledger_domain::Code;
use ledger_domain::{Command, TenantId};
use ledger_ports::RoleView;
use serde_json::{Value, json};

use crate::{
    auth::Caller,
    contacts_read::to_json,
    decision, idempotency,
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
};

/// `POST /v1/access-roles` with `{reference, name, grant_rule}`: 201 with
/// the role as the read model now shows it.
pub async fn define(State(state): State<AppState>, caller: Caller, req: WriteRequest) -> Response {
    let (state, req, tenant) = (&state, &req, caller.tenant_id());
    idempotency::run(state, tenant, req, None, move |slot| async move {
        let body = req.json_object(&[JSON])?;
        let command =
            ledger_domain::wire::parse("DefineAccessRole", &Value::Object(body)).map_err(Problem::validation)?;
        let Command::DefineAccessRole(role) = &command else {
            return Err(Problem::internal("DefineAccessRole parsed into another command"));
        };
        let reference = role.reference.clone();
        decision::decide(state, tenant, slot, command).await?;
        let role = find(state, tenant, &reference).await?.ok_or_else(|| {
            Problem::internal(format_args!("role {reference} decided but missing from the read model"))
        })?;
        Ok(Reply::json(StatusCode::CREATED, to_json(&role)?)
            .header(header::LOCATION, format!("/v1/access-roles/{reference}")))
    })
    .await
}

/// `GET /v1/access-roles`: the whole catalogue (a tenant has a handful of
/// roles, so there is no paging), ordered by reference.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Reply, Problem> {
    let roles = state.port("access_roles", state.roles().access_roles(caller.tenant_id())).await?;
    Ok(Reply::json(StatusCode::OK, json!({ "data": to_json(&roles)? })))
}

/// `GET /v1/access-roles/{reference}`: where a define's `Location` points.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    reference: Result<Path<String>, PathRejection>,
) -> Result<Reply, Problem> {
    let not_found = || Problem::new(Code::RoleNotFound, "the tenant has no such access role");
    let Ok(Path(reference)) = reference else { return Err(not_found()) };
    let role = find(&state, caller.tenant_id(), &reference).await?.ok_or_else(not_found)?;
    Ok(Reply::json(StatusCode::OK, to_json(&role)?))
}

async fn find(state: &AppState, tenant: TenantId, reference: &str) -> Result<Option<RoleView>, Problem> {
    let roles = state.port("access_roles", state.roles().access_roles(tenant)).await?;
    Ok(roles.into_iter().find(|r| r.reference == reference))
}
