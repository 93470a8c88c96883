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
    openapi::{
        IdempotencyKey,
        bodies::{AccessRole, AccessRoleDefinition, AccessRoleList, Problem as ProblemBody},
    },
    problem::{Problem, Reply},
    request::{JSON, WriteRequest},
    state::AppState,
};

/// Define an access role.
///
/// Adds a role to the tenant's catalogue: 201 with the role as the read model
/// now shows it. Its grant rule decides how a grant of it starts:
/// `automatic` (active), `email_verification` (pending until the user
/// accepts an invite), `manual_approval` (pending until approved).
#[utoipa::path(
    post,
    path = "/v1/access-roles",
    tag = "access-roles",
    operation_id = "define_access_role",
    security(("api_key" = [])),
    params(IdempotencyKey),
    request_body(content = AccessRoleDefinition, content_type = "application/json"),
    responses(
        (status = 201, description = "The role.", body = AccessRole,
            headers(("Location" = String, description = "`/v1/access-roles/{reference}`"))),
        (status = 409, description = "`role_exists`", body = ProblemBody),
        (status = 422, description = "`validation_failed`: every failing field, in `errors`.", body = ProblemBody),
    ),
)]
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

/// List access roles.
///
/// The whole catalogue (a tenant has a handful of roles, so there is no
/// paging), ordered by reference.
#[utoipa::path(
    get,
    path = "/v1/access-roles",
    tag = "access-roles",
    operation_id = "list_access_roles",
    security(("api_key" = [])),
    responses((status = 200, description = "The catalogue.", body = AccessRoleList)),
)]
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Reply, Problem> {
    let roles = state.port("access_roles", state.roles().access_roles(caller.tenant_id())).await?;
    Ok(Reply::json(StatusCode::OK, json!({ "data": to_json(&roles)? })))
}

/// Read an access role.
#[utoipa::path(
    get,
    path = "/v1/access-roles/{reference}",
    tag = "access-roles",
    operation_id = "get_access_role",
    security(("api_key" = [])),
    params(("reference" = String, Path, description = "The role's reference.")),
    responses(
        (status = 200, description = "The role.", body = AccessRole),
        (status = 404, description = "`role_not_found`", body = ProblemBody),
    ),
)]
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
