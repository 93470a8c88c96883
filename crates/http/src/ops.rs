//! Endpoints for operators and orchestrators, without authentication:
//! liveness, readiness (each dependency checked within `port_timeout`) and
//! Prometheus metrics.
use axum::{
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::Code;
use serde_json::json;

use crate::{
    openapi::bodies::{Health, NotReady, Ready},
    problem::{Problem, Reply},
    state::AppState,
};

/// Liveness.
///
/// The process is up; says nothing about its dependencies.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    operation_id = "healthz",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
pub async fn healthz() -> Reply {
    Reply::json(StatusCode::OK, json!({ "status": "ok" }))
}

/// Readiness.
///
/// Ready when the broker, the database and the command handler all answer
/// within the port timeout.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Every dependency answered.", body = Ready),
        (status = 503, description = "`not_ready`: a dependency did not answer; `failed` names it.", body = NotReady,
            content_type = "application/problem+json", headers(("Retry-After" = u32, description = "Seconds to wait."))),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> Reply {
    let (broker, database, handler) = tokio::join!(
        state.probe(state.bus().broker_ready()),
        state.probe(state.readiness().database_ready()),
        state.probe(state.bus().handler_ready()),
    );
    let checks = json!({ "broker": broker, "database": database, "handler": handler });
    if broker && database && handler {
        return Reply::json(StatusCode::OK, json!({ "status": "ready", "checks": checks }));
    }
    let failed: Vec<&str> = [("broker", broker), ("database", database), ("handler", handler)]
        .into_iter()
        .filter_map(|(name, ok)| (!ok).then_some(name))
        .collect();
    Problem::new(Code::NotReady, format!("not ready: {}", failed.join(", ")))
        .extension("checks", checks)
        .extension("failed", json!(failed))
        .header(header::RETRY_AFTER, "1")
        .into()
}

/// Prometheus metrics.
///
/// Requests by route and status, their durations, and commands submitted by type.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    responses((status = 200, description = "The Prometheus text format (0.0.4).", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics().render()).into_response()
}
