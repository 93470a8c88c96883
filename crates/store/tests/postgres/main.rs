//! Adapter tests of `ledger-store` against a real PostgreSQL server (admin URL
//! in `CL_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:54339/postgres`).
//! Each test gets a fresh database. One binary for every module, so the
//! crate links once.
mod deletion;
mod idempotency;
mod invites;
mod leases;
mod profile_columns;
mod projection;
mod queries;
mod rebuild;
mod roles;
mod secrets;
mod snapshots;
mod support;
mod updated_at;
mod waiting;
