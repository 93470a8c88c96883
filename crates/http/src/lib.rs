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
mod ops;
mod password;
mod problem;
mod request;
mod state;
mod tenant;
mod vendors;
mod warnings;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{delete, get, post},
};
use tower_http::trace::TraceLayer;

pub use auth::hash_api_key;
pub use config::{HttpConfig, TokenKey};
pub use invites::hash_invite_token;
pub use password::{PasswordHashError, hash_password};
pub use state::AppState;

/// The whole HTTP surface, ready to serve.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/contacts", post(contacts_write::create).get(contacts_read::list))
        .route("/v1/contacts/upsert", post(contacts_write::upsert).get(contacts_read::get_upsert_literal))
        .route("/v1/contacts/{id}", get(contacts_read::get).patch(contacts_write::patch).delete(contacts_write::delete))
        .route("/v1/contacts/{id}/events", get(contacts_read::events))
        .route("/v1/contacts/{id}/roles", get(grants::list).post(grants::grant))
        .route("/v1/contacts/{id}/roles/{reference}", delete(grants::revoke))
        .route("/v1/contacts/{id}/roles/{reference}/approve", post(grants::approve))
        .route("/v1/contacts/{id}/invites", post(invites::request))
        .route("/v1/invites/accept", post(invites::accept))
        .route("/invite/{token}", get(invites::page).post(invites::submit_page))
        .route("/v1/access-roles", post(access_roles::define).get(access_roles::list))
        .route("/v1/access-roles/{reference}", get(access_roles::get))
        .route("/v1/commands", post(commands::submit))
        .route("/v1/commands/{command_id}", get(commands::status))
        .route("/v1/tenant", get(tenant::get).patch(tenant::configure))
        .route("/zephr/createContact", post(vendors::zephr::create_contact))
        .route("/api/contacts.json", post(vendors::evance::create))
        .route("/api/v1/authenticate", post(vendors::emnify::authenticate))
        .route("/api/v1/organisation/{org_id}/contact", post(vendors::emnify::create).get(vendors::emnify::list))
        .route(
            "/api/v1/organisation/{org_id}/contact/{id}",
            get(vendors::emnify::get).patch(vendors::emnify::patch).delete(vendors::emnify::delete),
        )
        .route("/v2/contacts", post(vendors::orq::create).get(vendors::orq::list))
        .route("/v2/contacts/{id}", get(vendors::orq::get).patch(vendors::orq::patch).delete(vendors::orq::delete))
        .fallback(middleware::not_found)
        .layer(axum::middleware::from_fn(middleware::problem_for_bare_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http().make_span_with(middleware::request_span))
        .with_state(state)
}
