//! Reading the events topic from positions the caller keeps (the projector
//! keeps them in PostgreSQL), in batches. Decoding happens here; fencing is
//! the caller's, with `ledger_protocol::Fence`.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::FutureExt;
use ledger_protocol::LogRecord;
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::OwnedMessage,
};

use crate::{
    KafkaError,
    codec::decode_record,
    config::KafkaConfig,
    dlq::dead_letter,
    producer::{DeliveryFuture, Producer},
    shared::{PartitionQueue, SharedConsumer},
};

pub struct EventRead {
    pub partition: i32,
    pub offset: i64,
    /// The decoded record, or why it could not be decoded.
    pub record: Result<LogRecord, String>,
    pub message: OwnedMessage,
}

pub struct EventReader {
    source: Source,
    producer: Producer,
    cfg: KafkaConfig,
}

enum Source {
    /// A consumer of its own, over the partitions it was given.
    Own(Arc<StreamConsumer>),
    /// One partition's queue of a consumer shared with other readers; the
    /// next offset it will deliver is kept here.
    Shared { shared: Arc<SharedConsumer>, partition: i32, queue: PartitionQueue, next: Mutex<Option<i64>> },
}

impl EventReader {
    /// Assigns every partition of the events topic at the given next offsets
    /// (absent: from offset 0, the beginning of a topic that keeps every
    /// record; an offset, not `Beginning`, which librdkafka resolves with a
    /// query it retries only after 500 ms when it does not know the
    /// partition's leader yet).
    pub fn new(cfg: &KafkaConfig, positions: &HashMap<i32, i64>) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer = cfg.consumer("projector").create()?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..cfg.partitions {
            let offset = Offset::Offset(positions.get(&p).copied().unwrap_or(0));
            tpl.add_partition_offset(&cfg.events_topic, p, offset)?;
        }
        consumer.assign(&tpl)?;
        Ok(Self { source: Source::Own(Arc::new(consumer)), producer: cfg.shared_producer()?, cfg: cfg.clone() })
    }

    /// Reads one partition through `shared`, which many readers of one
    /// process share (one fetch per broker for all of them while idle),
    /// from `next` (absent: the beginning). Dropping the reader closes the
    /// partition on the shared consumer.
    pub fn on_shared(
        cfg: &KafkaConfig,
        shared: Arc<SharedConsumer>,
        partition: i32,
        next: Option<i64>,
    ) -> Result<Self, KafkaError> {
        let queue = shared.open(partition, Offset::Offset(next.unwrap_or(0)))?;
        let source = Source::Shared { shared, partition, queue, next: Mutex::new(next) };
        Ok(Self { source, producer: cfg.shared_producer()?, cfg: cfg.clone() })
    }

    /// Up to `max` records; waits at most `wait` for the first one.
    pub async fn next_batch(&self, max: usize, wait: Duration) -> Result<Vec<EventRead>, KafkaError> {
        match &self.source {
            Source::Own(consumer) => drain(|| consumer.recv().map(|m| m.map(|m| m.detach())), max, wait).await,
            Source::Shared { queue, next, .. } => {
                let out = drain(|| queue.recv().map(|m| m.map(|m| m.detach())), max, wait).await?;
                if let (Some(last), Ok(mut next)) = (out.last(), next.lock()) {
                    *next = Some(last.offset + 1);
                }
                Ok(out)
            }
        }
    }

    /// The next offset this reader will deliver, per partition it has read.
    pub fn positions(&self) -> Result<HashMap<i32, i64>, KafkaError> {
        match &self.source {
            Source::Own(consumer) => Ok(consumer
                .position()?
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect()),
            Source::Shared { partition, next, .. } => {
                let next = next.lock().map_err(|_| KafkaError::Topic("reader lock poisoned".into()))?;
                Ok(next.iter().map(|n| (*partition, *n)).collect())
            }
        }
    }

    /// The next offset to be written in each partition, asked off the
    /// async threads (librdkafka's call blocks).
    pub async fn high_watermarks(&self) -> Result<HashMap<i32, i64>, KafkaError> {
        let consumer = match &self.source {
            Source::Own(consumer) => consumer.clone(),
            Source::Shared { shared, .. } => shared.consumer(),
        };
        let (topic, partitions) = (self.cfg.events_topic.clone(), self.cfg.partitions);
        tokio::task::spawn_blocking(move || {
            let mut out = HashMap::new();
            for p in 0..partitions {
                let (_, high) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(10))?;
                out.insert(p, high);
            }
            Ok(out)
        })
        .await
        .map_err(|e| KafkaError::Topic(format!("watermark lookup failed: {e}")))?
    }

    /// Moves an undecodable record to the dead-letter topic.
    pub async fn dead_letter(&self, read: &EventRead, error: &str) -> Result<DeliveryFuture, KafkaError> {
        dead_letter(&self.producer, &self.cfg.dead_letter_topic, &read.message, error).await
    }
}

impl Drop for EventReader {
    fn drop(&mut self) {
        if let Source::Shared { shared, partition, .. } = &self.source {
            let _ = shared.close(*partition);
        }
    }
}

/// The first record within `wait`, then whatever else is already there, up to `max`.
async fn drain<F, Fut>(recv: F, max: usize, wait: Duration) -> Result<Vec<EventRead>, KafkaError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = rdkafka::error::KafkaResult<OwnedMessage>>,
{
    let mut out = Vec::new();
    match tokio::time::timeout(wait, recv()).await {
        Ok(m) => out.push(read(m?)),
        Err(_) => return Ok(out),
    }
    while out.len() < max {
        match recv().now_or_never() {
            Some(m) => out.push(read(m?)),
            None => break,
        }
    }
    Ok(out)
}

fn read(message: OwnedMessage) -> EventRead {
    EventRead {
        partition: message.partition(),
        offset: message.offset(),
        record: decode_record(&message).map_err(|e| e.to_string()),
        message,
    }
}
