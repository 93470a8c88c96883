//! The published contract: `GET /openapi.json`, an OpenAPI 3.1 document
//! generated from the code, and `GET /docs`, a reference page rendered from
//! it by Swagger UI (embedded in the binary: see [`reference`]).
//!
//! # Adding a route with its documentation
//!
//! A route is registered and documented in one step, so it cannot be served
//! without being in the document:
//!
//! 1. Put `#[utoipa::path(...)]` on the handler: method, `path`, `tag` (a
//!    new one described in [`tags`]), a unique `operation_id`,
//!    `security(("api_key" = []))` when it takes an API key, its parameters,
//!    its request body and its answers. The handler's doc comment is the
//!    operation's text: its first paragraph the summary, the rest the
//!    description. `contacts_write::create` is a full example.
//! 2. Register it in [`crate::router`] with `.routes(routes!(module::handler))`
//!    (handlers of one path in one `routes!`). A plain `.route(...)` would
//!    serve a route the document lacks, and `tests/api/openapi.rs` fails.
//!
//! Bodies are schemars types: give the request body and answer types (the
//! domain's own where the wire shape is theirs, else a type that mirrors
//! what the handler reads or writes, see [`bodies`]) utoipa's `ToSchema`
//! with [`bridge!`] (`Request:` for what a client sends, `Response:` for
//! what it gets). A vendor's shapes live in its module (`vendors/zephr.rs`).
//!
//! The responses every route of a kind shares are added here, not in each
//! attribute (see [`common_responses`]): 401 for an operation with a
//! `security` requirement, 400 and 413 for one with a JSON body, 400
//! `invalid_header` and 422 `idempotency_key_reused` for one that takes an
//! [`IdempotencyKey`], 500 and 503 for every one that reaches a port. They
//! take the shape of the operation's own error answers (problem+json unless
//! it declares another, as the Zephr route does). A `Problem` body is always
//! `application/problem+json`.
pub(crate) mod bodies;
mod reference;
pub(crate) mod schema;

use std::sync::Arc;

use axum::{
    Extension, Router,
    body::Bytes,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::Code;
use serde_json::{Map, Value, json};
use utoipa::{
    IntoParams,
    openapi::{
        Required,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::{ObjectBuilder, Type},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub(crate) use schema::bridge;

use crate::{codes, problem::PROBLEM_JSON, state::AppState};

/// The security scheme of operations that take an API key.
pub const API_KEY: &str = "api_key";

/// Operations that call no port (`/readyz` probes them, and says so in its
/// own 503), so they never answer 500 or 503.
const STATIC: [&str; 6] = ["healthz", "readyz", "metrics", "openapi", "docs", "docs_asset"];

/// The one write that publishes without waiting for the decision.
const PUBLISH_ONLY: &str = "submit_command";

/// The document, written once when the router is built.
#[derive(Clone)]
pub struct Published {
    json: Bytes,
}

/// The router of `api` with the document and the reference page added (and
/// documented); the finished document travels to their handlers as an
/// extension.
pub fn publish(api: OpenApiRouter<AppState>) -> Router<AppState> {
    let (router, doc) = api
        .routes(routes!(document))
        .routes(routes!(reference::page))
        .routes(routes!(reference::asset))
        .split_for_parts();
    let doc = finish(serde_json::to_value(&doc).unwrap_or_default());
    let json = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    router.layer(Extension(Arc::new(Published { json })))
}

/// The OpenAPI document of this API.
///
/// OpenAPI 3.1, generated from the code: every route the service answers,
/// with its parameters, bodies and error answers. No API key is needed.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "reference",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")),
)]
pub async fn document(Extension(published): Extension<Arc<Published>>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], published.json.clone()).into_response()
}

/// Everything the attributes leave to this module: the introduction, the
/// security scheme and tags, problem+json media types and the common responses.
fn finish(mut doc: Value) -> Value {
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": "Contact Ledger",
        "version": env!("CARGO_PKG_VERSION"),
        "description": introduction(),
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    });
    doc["tags"] = tags();
    doc["components"]["securitySchemes"] = json!({
        API_KEY: {
            "type": "http",
            "scheme": "bearer",
            "description": "The tenant's API key, as `Authorization: Bearer <key>` (made by `contact-ledger tenant create`).",
        },
        "emnify_token": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The emnify routes' `auth_token` from `POST /api/v1/authenticate` (HS256, `CL_TOKEN_SECRET`).",
        }
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for (method, operation) in item.iter_mut() {
                let Some(operation) = operation.as_object_mut() else { continue };
                problems_as_problem_json(operation);
                common_responses(method, operation);
            }
        }
    }
    doc
}

/// The introduction, with the table of problem codes made from `codes::meta`.
fn introduction() -> String {
    let mut text = String::from(include_str!("introduction.md"));
    text.push_str("\n| code | status | title |\n|---|---|---|\n");
    for code in Code::ALL {
        let (status, title) = codes::meta(*code);
        text.push_str(&format!("| `{code}` | {} | {title} |\n", status.as_u16()));
    }
    text
}

fn tags() -> Value {
    json!([
        {"name": "contacts", "description": "Contacts: create, create-or-update, read, list, patch, delete, history."},
        {"name": "roles", "description": "A user's grants of the tenant's access roles."},
        {"name": "access-roles", "description": "The tenant's catalogue of access roles."},
        {"name": "invites", "description": "Invites to set a password: requested with an API key, accepted with the link's token."},
        {"name": "commands", "description": "The asynchronous door: a command envelope published as is, and how it was decided."},
        {"name": "tenant", "description": "The caller's own tenant."},
        {"name": "zephr", "description": "Zuora Zephr compatibility: Zephr's requests and answers, the native commands behind them."},
        {"name": "orq", "description": "orq.ai compatibility (`/v2/contacts`): orq.ai's names, answers and errors over the native commands."},
        {"name": "emnify", "description": "emnify compatibility: tokens, and organisation contacts under `/api/v1/organisation/{org_id}`."},
        {"name": "evance", "description": "Evance compatibility: `POST /api/contacts.json` with Evance's field names."},
        {"name": "ops", "description": "For operators and orchestrators; no API key."},
        {"name": "reference", "description": "This document and its reference page; no API key."},
    ])
}

/// A `Problem` body is `application/problem+json`, whatever the attribute said.
fn problems_as_problem_json(operation: &mut Map<String, Value>) {
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else { continue };
        if let Some(media) = content.get("application/json")
            && media.pointer("/schema/$ref") == Some(&json!(problem_ref()))
        {
            let media = media.clone();
            content.remove("application/json");
            content.insert(PROBLEM_JSON.into(), media);
        }
    }
}

fn problem_ref() -> String {
    format!("#/components/schemas/{}", <bodies::Problem as utoipa::ToSchema>::name())
}

/// The responses every operation of a kind shares (see the module comment).
/// A status the attribute declares is left as it is.
fn common_responses(method: &str, operation: &mut Map<String, Value>) {
    let id = operation.get("operationId").and_then(Value::as_str).unwrap_or_default().to_owned();
    // A write publishes a command and waits for its decision, which may
    // outlast the decision timeout (503 `decision_pending`).
    let decides = method != "get" && id != PUBLISH_ONLY;
    let secured = operation.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
    let json_body = operation
        .get("requestBody")
        .and_then(|body| body.get("content"))
        .and_then(Value::as_object)
        .is_some_and(|c| c.keys().any(|k| k.ends_with("json")));
    let idempotent = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == IdempotencyKey::NAME));
    let shape = error_shape(operation);
    let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { return };
    let mut add = |status: u16, codes: &[Code], why: &str, headers: Value| {
        let listed: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
        let description = format!("{}: {why}", listed.join(", "));
        let response =
            responses.entry(status.to_string()).or_insert_with(|| json!({"description": "", "content": shape.clone()}));
        let text = response["description"].as_str().unwrap_or_default();
        response["description"] = json!(if text.is_empty() { description } else { format!("{text}\n\n{description}") });
        if let (Some(headers), Value::Object(response)) = (headers.as_object().filter(|h| !h.is_empty()), response) {
            let all = response.entry("headers").or_insert_with(|| json!({}));
            for (name, header) in headers {
                all[name] = header.clone();
            }
        }
    };
    let none = json!({});
    if json_body {
        add(
            400,
            &[Code::MalformedJson, Code::UnsupportedContentType, Code::UnreadableBody],
            "the body is not JSON, or not sent as such.",
            none.clone(),
        );
        add(413, &[Code::PayloadTooLarge], "the body is larger than the service accepts.", none.clone());
    }
    if idempotent {
        add(400, &[Code::InvalidHeader], "`Idempotency-Key` is not 1 to 255 visible ASCII characters.", none.clone());
        add(422, &[Code::IdempotencyKeyReused], "the key was used before for a different request.", none.clone());
    }
    if secured {
        let challenge = json!({"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}});
        add(401, &[Code::Unauthorized], "no API key, or one that is not known.", challenge);
    }
    if !STATIC.contains(&id.as_str()) {
        let retry =
            json!({"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}});
        let unavailable = if decides {
            &[Code::ServiceUnavailable, Code::DecisionPending][..]
        } else {
            &[Code::ServiceUnavailable][..]
        };
        add(503, unavailable, "a dependency did not answer in time; retry after `Retry-After` seconds.", retry);
        add(500, &[Code::InternalError], "a bug; it has been logged.", none);
    }
}

/// The content of the operation's own first error answer, else problem+json.
fn error_shape(operation: &Map<String, Value>) -> Value {
    let declared = operation.get("responses").and_then(Value::as_object).and_then(|responses| {
        responses
            .iter()
            .filter(|(status, _)| status.parse::<u16>().is_ok_and(|s| s >= 400))
            .find_map(|(_, r)| r.get("content").cloned())
    });
    declared.unwrap_or_else(|| json!({PROBLEM_JSON: {"schema": {"$ref": problem_ref()}}}))
}

/// The `Idempotency-Key` header of a write: a retry with the same key and
/// body gets the first answer back.
pub struct IdempotencyKey;

impl IdempotencyKey {
    pub const NAME: &str = "Idempotency-Key";
}

impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name(Self::NAME)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes the write safe to retry: a retry with the same key and the same body gets the first \
                     answer back (a 2xx or 4xx; a 5xx is not kept), or re-submits the same command while the \
                     first is in flight. The same key with another body is refused (422).",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255))))
                .build(),
        ]
    }
}

/// `If-Match` on a conditional write of a contact.
pub struct IfMatch;

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "The version the write is made against, as its `ETag` gave it (e.g. `\"3\"`); `*` or no \
                     header means any version. A stale version is 412 `version_mismatch`, anything else that \
                     is not one version 412 `precondition_failed`.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(operation: &Value) -> Vec<&str> {
        operation["responses"].as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn an_authenticated_retryable_json_write_gets_every_common_answer_in_problem_json() {
        let problem = json!({"application/json": {"schema": {"$ref": problem_ref()}}});
        let mut op = json!({
            "operationId": "create_thing",
            "security": [{API_KEY: []}],
            "parameters": [{"name": IdempotencyKey::NAME, "in": "header"}],
            "requestBody": {"content": {"application/json": {}}},
            "responses": {"201": {"description": "Made."}, "422": {"description": "`validation_failed`", "content": problem}},
        });
        let op = op.as_object_mut().unwrap();
        problems_as_problem_json(op);
        common_responses("post", op);
        let op = Value::Object(op.clone());
        assert_eq!(statuses(&op), ["201", "400", "401", "413", "422", "500", "503"]);
        let text = |status: &str| op["responses"][status]["description"].as_str().unwrap().to_owned();
        assert!(text("422").starts_with("`validation_failed`") && text("422").contains("`idempotency_key_reused`"));
        assert!(text("400").contains("`malformed_json`") && text("400").contains("`invalid_header`"));
        assert!(text("503").contains("`decision_pending`"));
        assert!(op["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
        assert!(op["responses"]["503"]["headers"]["Retry-After"].is_object());
        for status in ["400", "401", "413", "422", "500", "503"] {
            let content = op["responses"][status]["content"].as_object().unwrap();
            assert_eq!(content.keys().collect::<Vec<_>>(), [PROBLEM_JSON], "{status}");
        }
    }

    #[test]
    fn a_page_keeps_its_own_error_shape_and_a_read_never_waits_for_a_decision() {
        let mut op = json!({
            "operationId": "page",
            "responses": {"200": {"description": "A page."}, "404": {"description": "Gone.", "content": {"text/html": {}}}},
        });
        common_responses("get", op.as_object_mut().unwrap());
        assert_eq!(statuses(&op), ["200", "404", "500", "503"]);
        assert_eq!(op["responses"]["503"]["content"], json!({"text/html": {}}));
        assert!(!op["responses"]["503"]["description"].as_str().unwrap().contains("decision_pending"));
    }

    #[test]
    fn an_operation_that_calls_no_port_gets_no_common_answer() {
        let mut op = json!({"operationId": "healthz", "responses": {"200": {"description": "Up."}}});
        common_responses("get", op.as_object_mut().unwrap());
        assert_eq!(statuses(&op), ["200"]);
    }
}
