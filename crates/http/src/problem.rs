//! RFC 9457 problem details, and `Reply`, the JSON answer every handler
//! builds. A reply is plain data (status, headers, JSON body) so that an
//! idempotent write can store it and replay it byte for byte later.
use ledger_domain::Code;
use std::fmt::Display;

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::FieldError;
use serde_json::{Map, Value, json};

use crate::codes;

/// Where a problem's `type` points; the code completes it.
pub const TYPE_PREFIX: &str = "urn:contact-ledger:problem:";
pub const PROBLEM_JSON: &str = "application/problem+json";
pub const JSON: &str = "application/json";

/// The most field errors one answer lists.
pub const ERRORS_MAX: usize = 100;

/// Boxed: problems travel in every `Result` of the crate, which should stay
/// a pointer wide.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem(Box<Details>);

#[derive(Clone, Debug, PartialEq)]
struct Details {
    code: Code,
    status: StatusCode,
    title: String,
    detail: String,
    errors: Option<Vec<FieldError>>,
    extensions: Map<String, Value>,
    headers: Vec<(String, String)>,
}

impl Problem {
    /// A problem whose code is in the table (an unlisted code is a bug and
    /// answers 500 rather than inventing a status).
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        let (status, title) = codes::meta(code);
        Self::build(code, status, title, detail.into())
    }

    /// One 422 listing every failing field, up to [`ERRORS_MAX`]: past that
    /// the first ones are listed and `errors_omitted` says how many are not
    /// (an answer, and the work of writing it, stays small whatever the body).
    pub fn validation(mut errors: Vec<FieldError>) -> Self {
        let total = errors.len();
        let detail = match total {
            1 => "1 field is invalid".to_owned(),
            n if n > ERRORS_MAX => format!("{n} fields are invalid; the first {ERRORS_MAX} are listed"),
            n => format!("{n} fields are invalid"),
        };
        errors.truncate(ERRORS_MAX);
        let mut p = Self::new(Code::ValidationFailed, detail);
        p.0.errors = Some(errors);
        if total > ERRORS_MAX {
            p = p.extension("errors_omitted", total - ERRORS_MAX);
        }
        p
    }

    /// A dependency is down or slow: the cause is logged, the body says
    /// nothing about it, and the client is told when to retry.
    pub fn unavailable(cause: impl Display) -> Self {
        tracing::warn!(%cause, "dependency unavailable");
        Self::opaque(Code::ServiceUnavailable).header(header::RETRY_AFTER, "1")
    }

    /// A bug or an impossible state: logged, answered opaquely.
    pub fn internal(cause: impl Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::opaque(Code::InternalError)
    }

    fn opaque(code: Code) -> Self {
        let (status, title) = codes::meta(code);
        let detail = if status == StatusCode::SERVICE_UNAVAILABLE {
            "the service cannot answer right now; retry shortly"
        } else {
            "an unexpected error occurred; it has been logged"
        };
        Self::build(code, status, title, detail.to_owned())
    }

    fn build(code: Code, status: StatusCode, title: &str, detail: String) -> Self {
        Self(Box::new(Details {
            code,
            status,
            title: title.to_owned(),
            detail,
            errors: None,
            extensions: Map::new(),
            headers: Vec::new(),
        }))
    }

    pub fn code(&self) -> Code {
        self.0.code
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The failing fields of a validation problem.
    pub fn errors(&self) -> &[FieldError] {
        self.0.errors.as_deref().unwrap_or_default()
    }

    /// Extra headers (`Retry-After`, `WWW-Authenticate`), lowercase names.
    pub fn headers(&self) -> &[(String, String)] {
        &self.0.headers
    }

    /// The same problem with its failing fields named by `name` (a vendor's
    /// names for the native fields).
    pub fn map_fields(mut self, name: impl Fn(&str) -> String) -> Self {
        if let Some(errors) = &mut self.0.errors {
            for e in errors.iter_mut() {
                e.field = name(&e.field);
            }
        }
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.0.errors = Some(errors);
        self
    }

    /// An extension member of the problem object (RFC 9457 section 3.2).
    pub fn extension(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.0.headers.push((name.as_str().to_owned(), value.into()));
        self
    }

    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("{TYPE_PREFIX}{}", self.0.code.as_str())));
        body.insert("title".into(), json!(self.0.title));
        body.insert("status".into(), json!(self.0.status.as_u16()));
        body.insert("code".into(), json!(self.0.code.as_str()));
        body.insert("detail".into(), json!(self.0.detail));
        if let Some(errors) = &self.0.errors {
            body.insert("errors".into(), json!(errors));
        }
        for (k, v) in &self.0.extensions {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        Reply::from(self).into_response()
    }
}

/// A JSON answer as data: what handlers return and idempotency stores.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    /// Lowercase names, in order; `content-type` is among them.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self { status, headers: vec![(header::CONTENT_TYPE.as_str().to_owned(), JSON.to_owned())], body }
    }

    /// A 204: no body and so no content type.
    pub fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, headers: Vec::new(), body: Value::Null }
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name.as_str().to_owned(), value.into()));
        self
    }
}

impl From<Problem> for Reply {
    fn from(p: Problem) -> Self {
        let mut headers = vec![(header::CONTENT_TYPE.as_str().to_owned(), PROBLEM_JSON.to_owned())];
        headers.extend(p.0.headers.iter().cloned());
        Reply { status: p.0.status, headers, body: p.to_json() }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        // A 204 must not carry a body, not even `null`.
        let body = if self.status == StatusCode::NO_CONTENT {
            Body::empty()
        } else {
            match serde_json::to_vec(&self.body) {
                Ok(bytes) => Body::from(bytes),
                // Never the status with an empty body: a bare 500 (not a
                // problem body, whose writing could fail the same way).
                Err(cause) => {
                    tracing::error!(%cause, status = %self.status, "response body could not be written as JSON");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                _ => tracing::warn!(header = %name, "skipping a header that cannot be sent"),
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_problem_lists_at_most_errors_max_fields_and_counts_the_rest() {
        let errors: Vec<_> = (0..ERRORS_MAX + 7).map(|i| FieldError::new(format!("f{i}"), "required", "m")).collect();
        let body = Problem::validation(errors).to_json();
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(ERRORS_MAX));
        assert_eq!(body["errors_omitted"], json!(7));
        assert_eq!(
            body["detail"],
            json!(format!("{} fields are invalid; the first {ERRORS_MAX} are listed", ERRORS_MAX + 7))
        );
        let body = Problem::validation(vec![FieldError::new("f", "required", "m")]).to_json();
        assert!(body.get("errors_omitted").is_none(), "{body}");
    }
}
