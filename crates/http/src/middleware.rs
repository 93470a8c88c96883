//! Cross-cutting layers: request metrics, the problem+json fallback for
//! unknown routes, and a last line that turns any bare error response (axum's
//! own 405, an extractor's plain-text 400) into problem+json, so that a client
//! never has to parse two error formats.
use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    problem::{PROBLEM_JSON, Problem},
    state::AppState,
};

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics().observe(&route, response.status().as_u16(), started.elapsed());
    response
}

pub async fn not_found() -> Problem {
    Problem::new("not_found", "there is no such route")
}

pub async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let problem = match status {
        StatusCode::UNAUTHORIZED => Problem::new("unauthorized", "authentication is required"),
        StatusCode::NOT_FOUND => Problem::new("not_found", "there is no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new("method_not_allowed", "the route does not take this method"),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new("payload_too_large", "the request body is too large"),
        StatusCode::SERVICE_UNAVAILABLE => Problem::unavailable(format_args!("a bare {status} response")),
        s if s.is_server_error() => Problem::internal(format_args!("a bare {status} response")),
        _ => Problem::new("bad_request", "the request cannot be read"),
    };
    let (parts, _) = response.into_parts();
    let mut converted = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !converted.headers().contains_key(name) {
            converted.headers_mut().append(name, value.clone());
        }
    }
    converted
}
