//! HTTP tests of the adapter against fake ports, all in one test binary.
//! Requests go through the real router with `tower::ServiceExt::oneshot`;
//! no network is used.
mod contract;
mod support;

mod auth;
mod bodies;
mod commands;
mod contacts;
mod idempotency;
mod invite_pages;
mod invites;
mod lists;
mod openapi;
mod ops;
mod resilience;
mod roles;
