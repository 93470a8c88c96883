//! One consumer for many partitions. Every consumer fetches on its own (one
//! fetch request per broker per `fetch.wait.max.ms` while idle), so a role
//! that opened a consumer per partition and purpose multiplied the broker's
//! idle work. A `SharedConsumer` is one assign-mode consumer (no group, no
//! committed offsets) whose partitions are added and removed one at a time;
//! each added partition gets its own queue, so one partition's task never
//! sees another's records.
use std::sync::Arc;

use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer, stream_consumer::StreamPartitionQueue},
};
use tokio::task::JoinHandle;
use tracing::{debug, error};

use crate::{KafkaError, config::KafkaConfig};

pub type PartitionQueue = StreamPartitionQueue<rdkafka::consumer::DefaultConsumerContext>;

pub struct SharedConsumer {
    consumer: Arc<StreamConsumer>,
    topic: String,
    events: JoinHandle<()>,
}

impl SharedConsumer {
    pub fn new(cfg: &KafkaConfig, purpose: &str, topic: &str) -> Result<Self, KafkaError> {
        let consumer: Arc<StreamConsumer> = Arc::new(cfg.consumer(purpose).create()?);
        consumer.assign(&TopicPartitionList::new())?;
        // librdkafka serves errors and statistics on the main queue, which
        // must be polled even though every record goes to a partition queue.
        let main = consumer.clone();
        let name = topic.to_owned();
        let events = tokio::spawn(async move {
            loop {
                match main.recv().await {
                    Ok(m) => {
                        use rdkafka::Message;
                        // Never expected: queues are split before a partition is assigned.
                        error!(topic = %name, partition = m.partition(), offset = m.offset(), "record on the main queue");
                    }
                    Err(e) => debug!(topic = %name, error = %e, "consumer event"),
                }
            }
        });
        Ok(Self { consumer, topic: topic.to_owned(), events })
    }

    /// Starts reading `partition` at `offset`; its records arrive only on the
    /// returned queue. Opening a partition again restarts it at the new
    /// offset (records of the earlier opening are not delivered).
    pub fn open(&self, partition: i32, offset: Offset) -> Result<PartitionQueue, KafkaError> {
        self.close(partition)?;
        // Split before assigning, so no record of this partition can reach
        // the main queue.
        let queue = self
            .consumer
            .split_partition_queue(&self.topic, partition)
            .ok_or_else(|| KafkaError::Topic(format!("no queue for {}/{partition}", self.topic)))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, offset)?;
        self.consumer.incremental_assign(&tpl)?;
        // A pause outlives an unassign in librdkafka: a re-opened partition
        // must fetch.
        self.resume(partition)?;
        Ok(queue)
    }

    /// Stops reading `partition` (nothing if it is not open).
    pub fn close(&self, partition: i32) -> Result<(), KafkaError> {
        let assigned = self.consumer.assignment()?;
        if assigned.find_partition(&self.topic, partition).is_none() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        self.consumer.incremental_unassign(&tpl)?;
        Ok(())
    }

    /// Stops fetching `partition` until `resume` (its position is kept).
    pub fn pause(&self, partition: i32) -> Result<(), KafkaError> {
        Ok(self.consumer.pause(&self.one(partition))?)
    }

    pub fn resume(&self, partition: i32) -> Result<(), KafkaError> {
        Ok(self.consumer.resume(&self.one(partition))?)
    }

    fn one(&self, partition: i32) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        tpl
    }

    /// The consumer itself, for blocking calls (run them off the async threads).
    pub fn consumer(&self) -> Arc<StreamConsumer> {
        self.consumer.clone()
    }
}

impl Drop for SharedConsumer {
    fn drop(&mut self) {
        self.events.abort();
    }
}
