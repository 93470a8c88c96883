//! The contact-ledger service: composition of the pure domain with the
//! Kafka, PostgreSQL and HTTP adapters, and the command line over it.
pub mod app;
pub mod bench;
pub mod bench_scale;
pub mod cli;
pub mod config;
pub mod idle;
pub mod loadgen;
pub mod mailer;
pub mod pool;
pub mod projector;
pub mod replay;
pub mod retention;
pub mod tenant;
