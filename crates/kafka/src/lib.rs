//! The Kafka adapter of Contact Ledger. It speaks only the Kafka protocol
//! through rdkafka (librdkafka), so it runs on Apache Kafka in production and
//! on any broker that keeps per-partition order in development.
pub mod admin;
pub mod bus;
pub mod codec;
pub mod config;
pub mod dlq;
pub mod handler;
pub mod producer;
pub mod reader;
pub mod shared;
pub mod status;

pub use admin::ensure_topics;
pub use bus::KafkaBus;
pub use config::KafkaConfig;
pub use handler::{Handler, HandlerConfig, PartitionEnd};
pub use producer::Producer;
pub use reader::{EventRead, EventReader};
pub use status::{HandlerStatus, Phase};

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error(transparent)]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Topic(String),
    #[error(transparent)]
    Encode(#[from] ledger_protocol::EncodeError),
}
