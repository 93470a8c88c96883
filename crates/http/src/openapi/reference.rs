//! The reference page: Swagger UI rendering `/openapi.json`. Its files are
//! in the binary: utoipa-swagger-ui's `vendored` feature takes the Swagger UI
//! release from the utoipa-swagger-ui-vendored crate (a zip shipped inside
//! it) and its build script embeds the files with `include_bytes!`, so the
//! build downloads nothing. The page loads nothing but this service's own
//! files, and its Content-Security-Policy lets the browser load nothing else
//! (Swagger UI's validator badge, which would call swagger.io, is off).
use std::sync::{Arc, LazyLock};

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::Code;
use utoipa_swagger_ui::Config;

use crate::{openapi::bodies::Problem as ProblemBody, problem::Problem};

/// Only this origin: scripts and styles are files (Swagger UI sets inline
/// style attributes), images its own or `data:` URIs, requests only here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new(["/openapi.json"]).validator_url("none").display_operation_id(true).filter(true).deep_linking(true),
    )
});

/// The page: Swagger UI's own `index.html`, its files named from `/docs/`.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Contact Ledger API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/index.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="/docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="/docs/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"#;

/// The API reference page.
///
/// This document, rendered by Swagger UI (served from `/docs/{file}`, nothing
/// loaded from elsewhere). No API key is needed to read it; "Try it out"
/// needs one (Authorize).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "reference",
    operation_id = "docs",
    responses((status = 200, description = "The page.", body = String, content_type = "text/html")),
)]
pub async fn page() -> Response {
    secured((StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response())
}

/// A file of the reference page.
///
/// Swagger UI's scripts, styles and images, and its initializer, which
/// points it at `/openapi.json`.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "reference",
    operation_id = "docs_asset",
    params(("file" = String, Path, description = "A file name, e.g. `swagger-ui-bundle.js`.")),
    responses(
        (status = 200, description = "The file.", content(
            ("text/javascript"), ("text/css"), ("image/png"), ("text/html"), ("application/json"),
        )),
        (status = 404, description = "`not_found`: no such file.", body = ProblemBody),
    ),
)]
pub async fn asset(file: Result<Path<String>, axum::extract::rejection::PathRejection>) -> Response {
    let not_found = || Problem::new(Code::NotFound, "the reference page has no such file").into_response();
    let Ok(Path(file)) = file else { return not_found() };
    // `serve` takes an empty name for `index.html`, which is `/docs` itself.
    if file.is_empty() {
        return not_found();
    }
    match utoipa_swagger_ui::serve(&file, CONFIG.clone()) {
        Ok(Some(found)) => {
            let headers = [(header::CONTENT_TYPE, found.content_type)];
            secured((StatusCode::OK, headers, found.bytes.into_owned()).into_response())
        }
        Ok(None) => not_found(),
        Err(cause) => Problem::internal(format_args!("the reference page's {file}: {cause}")).into_response(),
    }
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
