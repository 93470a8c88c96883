//! Where the topics are and how clients are tuned. The producer is
//! idempotent (no duplicates from its own retries, order kept per partition);
//! nothing here uses Kafka transactions.
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use rdkafka::ClientConfig;

use crate::producer::Producer;

#[derive(Clone, Debug)]
pub struct KafkaConfig {
    pub brokers: String,
    pub commands_topic: String,
    pub events_topic: String,
    pub dead_letter_topic: String,
    /// Partition count of the commands and events topics (they must match).
    pub partitions: i32,
    pub replication: i32,
    /// `fetch.wait.max.ms` of every consumer: how long the broker may hold
    /// a fetch that finds no data. Apache Kafka (and the dev/test broker as
    /// patched in broker/) answers a held fetch as soon as data arrives, so a
    /// long wait costs no latency and keeps idle consumers cheap.
    pub fetch_wait_ms: u32,
}

/// librdkafka's own default.
pub const DEFAULT_FETCH_WAIT_MS: u32 = 500;

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>, prefix: &str, partitions: i32) -> Self {
        Self {
            brokers: brokers.into(),
            commands_topic: format!("{prefix}commands"),
            events_topic: format!("{prefix}events"),
            dead_letter_topic: format!("{prefix}dead-letter"),
            partitions,
            replication: 1,
            fetch_wait_ms: DEFAULT_FETCH_WAIT_MS,
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("socket.keepalive.enable", "true");
        c
    }

    pub fn producer(&self) -> ClientConfig {
        let mut c = self.base();
        // Hash keys like the Java client, so commands published by any Kafka
        // client land on the partition our handler owns.
        c.set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "15000")
            .set("queue.buffering.max.messages", "200000");
        c
    }

    /// The process's producer for these brokers, made on first use and shared
    /// by every role in the process (one polling thread and one connection per
    /// broker, not one per component). Order per partition is the
    /// producer's, whoever sends.
    pub fn shared_producer(&self) -> Result<Producer, rdkafka::error::KafkaError> {
        static PRODUCERS: OnceLock<Mutex<HashMap<String, Producer>>> = OnceLock::new();
        let mut producers = PRODUCERS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = producers.get(&self.brokers) {
            return Ok(p.clone());
        }
        let producer = Producer::new(&self.producer())?;
        producers.insert(self.brokers.clone(), producer.clone());
        Ok(producer)
    }

    /// A consumer driven by `assign()` with offsets we keep ourselves: no
    /// group membership, no committed offsets.
    pub fn consumer(&self, purpose: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", format!("contact-ledger-{purpose}-{}", ulid::Ulid::new()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", self.fetch_wait_ms.to_string())
            .set("fetch.min.bytes", "1")
            // How much librdkafka prefetches per partition: its default byte
            // cap (64 MB) is per partition, so a handler claiming 4 partitions
            // of a long log held ~280 MB of records it had not asked for yet.
            // 16 MB is still ~20,000 records ahead. (A cap of 10,000 messages
            // instead cut the handler's rebuild from ~50k to ~18k records/s.)
            .set("queued.max.messages.kbytes", "16384")
            // When that cap is reached librdkafka stops fetching the partition
            // for this long (its default is a whole second). A broker that
            // answers a fetch at once fills the cap whenever the reader is
            // behind (a claim or a replay of a long log), so at 1 s a rebuild
            // sat idle for most of its time; 10 ms only bounds the polling
            // while the queue is full.
            .set("fetch.queue.backoff.ms", "10");
        c
    }
}
