//! Cross-cutting layers: the request span (with secrets kept out of it),
//! request metrics, the problem+json fallback for unknown routes, and a last
//! line that turns any bare error response (axum's own 405, an extractor's
//! plain-text 400) into problem+json, so that a client never has to parse two
//! error formats. The invite pages answer HTML on purpose and pass through.
use ledger_domain::Code;
use std::{borrow::Cow, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    invite_page::HTML,
    problem::{PROBLEM_JSON, Problem},
    state::AppState,
};

/// The tracing span of a request, as tower-http's default makes it, but an
/// invite link's token (a credential) never reaches a log.
pub fn request_span(req: &Request) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), uri = %redacted_uri(req.uri()), version = ?req.version())
}

fn redacted_uri(uri: &Uri) -> Cow<'_, str> {
    if uri.path().starts_with("/invite/") {
        return Cow::Borrowed("/invite/[redacted]");
    }
    match uri.path_and_query() {
        Some(p) => Cow::Borrowed(p.as_str()),
        None => Cow::Owned(uri.to_string()),
    }
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics().observe(&route, response.status().as_u16(), started.elapsed());
    response
}

pub async fn not_found() -> Problem {
    Problem::new(Code::NotFound, "there is no such route")
}

/// Marks a response whose error body is meant as it is: a vendor route's
/// error, in that vendor's shape.
#[derive(Clone, Copy, Debug)]
pub struct InVendorShape;

pub async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_meant = response.extensions().get::<InVendorShape>().is_some()
        || response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v == HTML);
    if !(status.is_client_error() || status.is_server_error()) || is_meant {
        return response;
    }
    let problem = match status {
        StatusCode::UNAUTHORIZED => Problem::new(Code::Unauthorized, "authentication is required"),
        StatusCode::NOT_FOUND => Problem::new(Code::NotFound, "there is no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(Code::MethodNotAllowed, "the route does not take this method"),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(Code::PayloadTooLarge, "the request body is too large"),
        StatusCode::SERVICE_UNAVAILABLE => Problem::unavailable(format_args!("a bare {status} response")),
        s if s.is_server_error() => Problem::internal(format_args!("a bare {status} response")),
        _ => Problem::new(Code::BadRequest, "the request cannot be read"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_token_is_redacted_from_the_logged_uri_and_other_paths_are_kept() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(redacted_uri(&uri("/invite/s3cr3t-token?x=1")), "/invite/[redacted]");
        assert_eq!(redacted_uri(&uri("/v1/contacts?limit=2")), "/v1/contacts?limit=2");
    }
}
