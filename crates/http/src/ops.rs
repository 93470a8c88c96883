//! Endpoints for operators and orchestrators, without authentication:
//! liveness, readiness (each dependency checked within `port_timeout`) and
//! Prometheus metrics. What readiness and the metrics' pool gauges ask of the
//! database and the broker is reused for `probe_ttl` (1 s), so calling them
//! often costs the dependencies nothing more.
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
/// Ready when the broker and the database answer, and every partition has a
/// live command handler and a live projector working on it (the pools'
/// leases), each within the port timeout.
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
    let served = |role: &'static str| {
        let state = state.clone();
        async move { state.readiness().coverage(role).await.is_ok_and(|c| c.complete()) }
    };
    let ask = async {
        let (broker, database, handler, projector) = tokio::join!(
            state.probe(state.bus().broker_ready()),
            state.probe(state.readiness().database_ready()),
            state.probe(served("handler")),
            state.probe(served("projector")),
        );
        [broker, database, handler, projector]
    };
    let [broker, database, handler, projector] = state.readiness_checks(ask).await;
    let checks = json!({ "broker": broker, "database": database, "handler": handler, "projector": projector });
    let failed: Vec<&str> =
        [("broker", broker), ("database", database), ("handler", handler), ("projector", projector)]
            .into_iter()
            .filter_map(|(name, ok)| (!ok).then_some(name))
            .collect();
    if failed.is_empty() {
        return Reply::json(StatusCode::OK, json!({ "status": "ready", "checks": checks }));
    }
    Problem::new(Code::NotReady, format!("not ready: {}", failed.join(", ")))
        .extension("checks", checks)
        .extension("failed", json!(failed))
        .header(header::RETRY_AFTER, "1")
        .into()
}

/// The roles whose partitions the metrics count.
const POOLS: [&str; 3] = ["handler", "projector", "mailer"];

/// Prometheus metrics.
///
/// Requests by route and status, their durations, commands submitted by
/// type, and per role (handler, projector, mailer) how many partitions there
/// are and how many have a live process working on them.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    responses((status = 200, description = "The Prometheus text format (0.0.4).", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics().render();
    let ask = async {
        let mut pools = Vec::new();
        for role in POOLS {
            let asked = tokio::time::timeout(state.port_timeout(), state.readiness().coverage(role)).await;
            if let Ok(Ok(c)) = asked {
                pools.push((role, c));
            }
        }
        pools
    };
    let pools = state.pool_coverage(ask).await;
    text.push_str("# HELP partitions Partitions of the topics, per role that shares them.\n# TYPE partitions gauge\n");
    for (role, c) in &pools {
        text.push_str(&format!("partitions{{role=\"{role}\"}} {}\n", c.partitions));
    }
    text.push_str(
        "# HELP partitions_served Partitions with a live process of the role working on them.\n\
         # TYPE partitions_served gauge\n",
    );
    for (role, c) in &pools {
        text.push_str(&format!("partitions_served{{role=\"{role}\"}} {}\n", c.served));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
