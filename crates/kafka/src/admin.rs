//! Topic creation through the Kafka admin API (brokers that do not create
//! topics on demand, and production, both need it).
use std::time::Duration;

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::RDKafkaErrorCode,
};

use crate::{KafkaError, config::KafkaConfig};

pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = cfg.producer().create()?;
    let topics = [
        NewTopic::new(&cfg.commands_topic, cfg.partitions, TopicReplication::Fixed(cfg.replication)),
        NewTopic::new(&cfg.events_topic, cfg.partitions, TopicReplication::Fixed(cfg.replication)),
        NewTopic::new(&cfg.dead_letter_topic, 1, TopicReplication::Fixed(cfg.replication)),
    ];
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaError::Topic(format!("{topic}: {code}"))),
        }
    }
    Ok(())
}
