//! The command bus: how the API appends a command to the commands topic,
//! keyed by tenant so one handler decides a tenant's commands in order.
use std::time::Duration;

use async_trait::async_trait;
use ledger_ports::{CommandBus, Unavailable};
use ledger_protocol::{CommandEnvelope, header};
use rdkafka::producer::FutureRecord;

use crate::{KafkaError, codec::owned_headers, config::KafkaConfig, producer::Producer};

#[derive(Clone)]
pub struct KafkaBus {
    producer: Producer,
    cfg: KafkaConfig,
    timeout: Duration,
}

impl KafkaBus {
    pub fn new(cfg: KafkaConfig) -> Result<Self, KafkaError> {
        Ok(Self { producer: cfg.shared_producer()?, cfg, timeout: Duration::from_secs(5) })
    }
}

#[async_trait]
impl CommandBus for KafkaBus {
    async fn submit(&self, envelope: &CommandEnvelope) -> Result<(), Unavailable> {
        let key = envelope.tenant_id.to_string();
        let payload =
            envelope.to_bytes().map_err(|e| Unavailable(format!("the command could not be written as JSON: {e}")))?;
        let headers = owned_headers(&[
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::COMMAND_ID, envelope.command_id.to_string()),
        ]);
        let record = FutureRecord::to(&self.cfg.commands_topic).key(&key).payload(&payload).headers(headers);
        match tokio::time::timeout(self.timeout, self.producer.send(record, self.timeout)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Unavailable(format!("broker refused the command: {e}"))),
            Err(_) => Err(Unavailable("broker did not acknowledge the command in time".into())),
        }
    }

    async fn broker_ready(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.cfg.commands_topic.clone();
        tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(Some(&topic), Duration::from_secs(2)).is_ok()
        })
        .await
        .unwrap_or(false)
    }
}
