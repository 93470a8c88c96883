//! End-to-end tests: the whole service, real broker, real PostgreSQL. One
//! binary, one module per area; names read as behaviour sentences.
mod contacts;
mod crash;
mod invites;
mod log;
mod outage;
mod roles;
mod secrets;
mod service;
