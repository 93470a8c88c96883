//! The HTTP adapter of Contact Ledger. A write becomes a command envelope on
//! the `CommandBus` port; the answer comes from the read ports of
//! `ledger_ports` (`Commands`, `Contacts`, ...) once the projector has
//! recorded the command's outcome. The adapter knows nothing of Kafka or
//! PostgreSQL: the binary plugs the real ports in, tests plug fakes.
//!
//! Every error leaves as RFC 9457 problem+json with a stable `code` (see
//! [`codes`]); every port call is bounded by [`HttpConfig::port_timeout`], so
//! a dead dependency gives a 503 with `Retry-After`, never a hung request.
mod access_roles;
mod auth;
pub mod codes;
mod commands;
mod config;
mod contact_input;
mod contacts_read;
mod contacts_write;
mod decision;
mod grants;
mod idempotency;
mod invite_page;
mod invites;
mod list_query;
mod metrics;
mod middleware;
mod openapi;
mod ops;
mod password;
mod problem;
mod request;
mod state;
mod tenant;
mod vendors;
mod warnings;

use axum::{Router, extract::DefaultBodyLimit};
use tower_http::trace::TraceLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use auth::hash_api_key;
pub use config::{HttpConfig, TokenKey, random_secret};
pub use invites::hash_invite_token;
pub use password::PasswordHashError;
pub use state::AppState;

/// The whole HTTP surface, ready to serve, with its OpenAPI document at
/// `/openapi.json`. Each route is registered with its documentation (the
/// `openapi` module says how to add one).
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit;
    let api = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(contacts_write::create, contacts_read::list))
        .routes(routes!(contacts_write::upsert, contacts_read::get_upsert_literal))
        .routes(routes!(contacts_read::get, contacts_write::patch, contacts_write::delete))
        .routes(routes!(contacts_read::events))
        .routes(routes!(grants::list, grants::grant))
        .routes(routes!(grants::revoke))
        .routes(routes!(grants::approve))
        .routes(routes!(invites::request))
        .routes(routes!(invites::accept))
        .routes(routes!(invites::page, invites::submit_page))
        .routes(routes!(access_roles::define, access_roles::list))
        .routes(routes!(access_roles::get))
        .routes(routes!(commands::submit))
        .routes(routes!(commands::status))
        .routes(routes!(tenant::get, tenant::configure))
        .routes(routes!(vendors::zephr::create_contact))
        .routes(routes!(vendors::evance::create))
        .routes(routes!(vendors::emnify::authenticate))
        .routes(routes!(vendors::emnify::create, vendors::emnify::list))
        .routes(routes!(vendors::emnify::get, vendors::emnify::patch, vendors::emnify::delete))
        .routes(routes!(vendors::orq::create, vendors::orq::list))
        .routes(routes!(vendors::orq::get, vendors::orq::patch, vendors::orq::delete));
    openapi::publish(api)
        .fallback(middleware::not_found)
        .layer(axum::middleware::from_fn(middleware::problem_for_bare_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http().make_span_with(middleware::request_span))
        .with_state(state)
}
