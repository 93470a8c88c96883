//! Topic creation through the Kafka admin API (brokers that do not create
//! topics on demand, and production, both need it).
use std::time::Duration;

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    error::RDKafkaErrorCode,
};

use crate::{KafkaError, config::KafkaConfig};

/// Creates the topics that are missing and returns the partition count the
/// commands and events topics have. `cfg.partitions` is the count for new
/// topics only: tenants are owned by `murmur2(tenant) % count`, so the count
/// of the existing topics is the one every role must use (and the two must
/// agree).
pub async fn ensure_topics(cfg: &KafkaConfig) -> Result<i32, KafkaError> {
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
    let (commands, events) = (cfg.commands_topic.clone(), cfg.events_topic.clone());
    let counts = tokio::task::spawn_blocking(move || -> Result<(usize, usize), KafkaError> {
        let meta = admin.inner().fetch_metadata(None, Duration::from_secs(10))?;
        let count = |name: &str| meta.topics().iter().find(|t| t.name() == name).map_or(0, |t| t.partitions().len());
        Ok((count(&commands), count(&events)))
    })
    .await
    .map_err(|e| KafkaError::Topic(format!("metadata lookup failed: {e}")))??;
    match counts {
        (c, e) if c == e && c > 0 => {
            let actual = i32::try_from(c).map_err(|_| KafkaError::Topic(format!("{c} partitions")))?;
            if actual != cfg.partitions {
                tracing::warn!(
                    configured = cfg.partitions,
                    actual,
                    "the topics exist with another partition count; using theirs"
                );
            }
            Ok(actual)
        }
        (c, e) => Err(KafkaError::Topic(format!(
            "{} has {c} partitions and {} has {e}: they must have the same number",
            cfg.commands_topic, cfg.events_topic
        ))),
    }
}
