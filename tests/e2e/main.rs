//! End-to-end tests: the whole service, real broker, real PostgreSQL. One
//! binary, one module per area; names read as behaviour sentences.
mod broker;
mod browser;
mod contacts;
mod crash;
mod emnify;
mod evance;
mod invites;
mod log;
mod mailer_crash;
mod orq;
mod outage;
mod roles;
mod routing;
mod scale;
mod secrets;
mod security;
mod service;
mod snapshots;
mod zephr;
