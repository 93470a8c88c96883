//! `Idempotency-Key` on writes: a retried request with the same key and the
//! same bytes gets the first answer back, or, while the first attempt is
//! still in flight, re-submits the same command id (the command handler
//! de-duplicates by command id, so that is safe). The same key with other
//! bytes is refused. Only 2xx and 4xx answers are stored: a 5xx or a 503 is
//! not an answer about the request, so a retry must get another chance.
use ledger_domain::Code;
use std::future::Future;

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SubsecRound, Utc};
use ledger_domain::{CommandId, TenantId};
use ledger_ports::{Idempotency, StoredResponse};
use sha2::{Digest, Sha256};
use ulid::Ulid;

use crate::{
    problem::{Problem, Reply},
    request::WriteRequest,
    state::AppState,
};

pub const HEADER: &str = "idempotency-key";
const KEY_MAX: usize = 255;

/// The command id and time a write publishes with.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub command_id: CommandId,
    pub issued_at: DateTime<Utc>,
}

impl Slot {
    pub fn fresh(candidate: Option<CommandId>) -> Self {
        // Microseconds: what a database timestamp keeps, so an in-flight retry
        // re-publishes exactly the same envelope.
        Slot { command_id: candidate.unwrap_or_else(|| CommandId(Ulid::new())), issued_at: Utc::now().trunc_subsecs(6) }
    }
}

/// Runs `work` once per idempotency key (or plainly, without a key).
pub async fn run<F, Fut>(
    state: &AppState,
    tenant: TenantId,
    req: &WriteRequest,
    candidate: Option<CommandId>,
    work: F,
) -> Response
where
    F: FnOnce(Slot) -> Fut,
    Fut: Future<Output = Result<Reply, Problem>>,
{
    run_shaped(state, tenant, req, candidate, Reply::from, work).await
}

/// `run`, with the problems of the key itself (malformed, reused for
/// another request, the store unreachable) answered through `shape`: a
/// vendor route's own error shape.
pub async fn run_shaped<F, Fut>(
    state: &AppState,
    tenant: TenantId,
    req: &WriteRequest,
    candidate: Option<CommandId>,
    shape: impl Fn(Problem) -> Reply,
    work: F,
) -> Response
where
    F: FnOnce(Slot) -> Fut,
    Fut: Future<Output = Result<Reply, Problem>>,
{
    let fresh = Slot::fresh(candidate);
    let key = match key(&req.headers) {
        Ok(Some(key)) => key,
        Ok(None) => return work(fresh).await.unwrap_or_else(&shape).into_response(),
        Err(problem) => return shape(problem).into_response(),
    };
    let hash = request_hash(req);
    let begun = state.idempotency().idempotency_begin(tenant, &key, &hash, fresh.command_id, fresh.issued_at);
    let slot = match state.port("idempotency_begin", begun).await {
        Ok(Idempotency::Fresh) => fresh,
        Ok(Idempotency::InFlight { command_id, issued_at }) => Slot { command_id, issued_at },
        Ok(Idempotency::Done(stored)) => return replay(stored).into_response(),
        Ok(Idempotency::Mismatch) => {
            let detail = "this Idempotency-Key was already used for a different request";
            return shape(Problem::new(Code::IdempotencyKeyReused, detail)).into_response();
        }
        Err(problem) => return shape(problem).into_response(),
    };
    let reply = work(slot).await.unwrap_or_else(&shape);
    if reply.status.is_success() || reply.status.is_client_error() {
        let stored =
            StoredResponse { status: reply.status.as_u16(), headers: reply.headers.clone(), body: reply.body.clone() };
        // A failure here is logged by `port`; the answer still goes out and a
        // retry finds the key in flight, which re-submits safely.
        let _ = state.port("idempotency_finish", state.idempotency().idempotency_finish(tenant, &key, &stored)).await;
    }
    reply.into_response()
}

fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(HEADER) else { return Ok(None) };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= KEY_MAX && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(Problem::new(
            Code::InvalidHeader,
            format!("Idempotency-Key must be 1 to {KEY_MAX} visible ASCII characters"),
        )),
    }
}

/// SHA-256 (hex) of method, path and the raw body bytes.
pub fn request_hash(req: &WriteRequest) -> String {
    let mut h = Sha256::new();
    h.update(req.method.as_str().as_bytes());
    h.update(b"\n");
    h.update(req.path.as_bytes());
    h.update(b"\n");
    h.update(&req.body);
    hex::encode(h.finalize())
}

fn replay(stored: StoredResponse) -> Reply {
    match StatusCode::from_u16(stored.status) {
        Ok(status) => Reply { status, headers: stored.headers, body: stored.body },
        Err(_) => Problem::internal(format_args!("stored idempotent response has status {}", stored.status)).into(),
    }
}
