//! Reading a write's body. The raw bytes are kept (idempotency hashes them);
//! the checks run in the order a client fixes its request: size, content
//! type, JSON syntax, then the shape (an object).
use axum::{
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::{HeaderMap, Method, StatusCode, header},
};
use ledger_domain::Code;
use ledger_domain::FieldError;
use serde_json::{Map, Value};

use crate::{problem::Problem, state::AppState};

pub const JSON: &str = "application/json";
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// A POST or PATCH as the handlers see it.
pub struct WriteRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl FromRequest<AppState> for WriteRequest {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(|r| body_problem(&r, state.config().body_limit))?;
        Ok(WriteRequest { method, path, headers, body })
    }
}

/// axum's own body rejections (413 from the body limit above all) as problems.
pub fn body_problem(rejection: &BytesRejection, limit: usize) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(Code::PayloadTooLarge, format!("the body must be at most {limit} bytes"))
    } else {
        Problem::new(Code::UnreadableBody, "the request body could not be read")
    }
}

impl WriteRequest {
    /// The body as a JSON object, if it is one and says so.
    pub fn json_object(&self, accepted: &[&str]) -> Result<Map<String, Value>, Problem> {
        let essence = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        if !essence.as_deref().is_some_and(|e| accepted.contains(&e)) {
            let detail = format!("send the body as {}", accepted.join(" or "));
            return Err(Problem::new(Code::UnsupportedContentType, detail));
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Problem::validation(vec![FieldError::new("body", "invalid_type", "must be a JSON object")])),
            Err(e) => Err(Problem::new(Code::MalformedJson, format!("the body is not valid JSON: {e}"))),
        }
    }
}
