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
    /// librdkafka's security settings (`security.protocol`, `sasl.*`,
    /// `ssl.*`), given to every client: producer, consumers and admin.
    pub security: Vec<ClientOption>,
}

/// One librdkafka security setting. Only `security.protocol`, `sasl.*` and
/// `ssl.*` are taken: the rest of a client's configuration is the
/// service's (idempotence, acks, offsets) and not the operator's to change.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientOption {
    key: String,
    value: String,
}

impl ClientOption {
    pub fn new(key: &str, value: &str) -> Result<ClientOption, String> {
        let key = key.trim();
        if key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.") {
            Ok(ClientOption { key: key.to_owned(), value: value.to_owned() })
        } else {
            Err(format!("{key:?} is not a Kafka security setting: only security.protocol, sasl.* and ssl.* are taken"))
        }
    }

    /// `key=value`, as a flag gives it.
    pub fn parse(pair: &str) -> Result<ClientOption, String> {
        let (key, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not KEY=VALUE"))?;
        ClientOption::new(key, value)
    }

    /// The settings in environment variables `CL_KAFKA_<KEY>`, the key upper
    /// case with `_` for `.` (`CL_KAFKA_SASL_MECHANISM` is `sasl.mechanism`).
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Vec<ClientOption> {
        let mut options: Vec<ClientOption> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("CL_KAFKA_")?.to_ascii_lowercase().replace('_', ".");
                ClientOption::new(&key, &value).ok()
            })
            .collect();
        options.sort_by(|a, b| a.key.cmp(&b.key));
        options
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The key only: values hold passwords and keys.
impl std::fmt::Debug for ClientOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=<redacted>", self.key)
    }
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
            security: Vec::new(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers).set("socket.keepalive.enable", "true");
        for option in &self.security {
            c.set(&option.key, &option.value);
        }
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

    /// The process's producer for these brokers (and security settings), made on first use and shared
    /// by every role in the process (one polling thread and one connection per
    /// broker, not one per component). Order per partition is the
    /// producer's, whoever sends.
    pub fn shared_producer(&self) -> Result<Producer, rdkafka::error::KafkaError> {
        static PRODUCERS: OnceLock<Mutex<HashMap<String, Producer>>> = OnceLock::new();
        let mut producers = PRODUCERS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        let mut key = self.brokers.clone();
        for o in &self.security {
            key.push_str(&format!("\n{}={}", o.key, o.value));
        }
        if let Some(p) = producers.get(&key) {
            return Ok(p.clone());
        }
        let producer = Producer::new(&self.producer())?;
        producers.insert(key, producer.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_settings_reach_every_client_and_nothing_else_is_taken() {
        let mut cfg = KafkaConfig::new("127.0.0.1:9092", "p.", 1);
        cfg.security = vec![
            ClientOption::parse("security.protocol=SASL_SSL").unwrap(),
            ClientOption::parse("sasl.mechanism=SCRAM-SHA-512").unwrap(),
            ClientOption::parse("sasl.password=a=b").unwrap(),
        ];
        for c in [cfg.producer(), cfg.consumer("x")] {
            assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
            assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(c.get("sasl.password"), Some("a=b"));
        }
        assert!(ClientOption::parse("enable.idempotence=false").is_err());
        assert!(ClientOption::parse("ssl.ca.location").is_err());
        assert_eq!(format!("{:?}", cfg.security[2]), "sasl.password=<redacted>");
    }

    #[test]
    fn environment_variables_name_the_settings_with_underscores() {
        let vars = [
            ("CL_KAFKA_SSL_CA_LOCATION", "/etc/ca.pem"),
            ("CL_KAFKA_SECURITY_PROTOCOL", "SSL"),
            ("CL_KAFKA_ENABLE_IDEMPOTENCE", "false"),
            ("KAFKA_BROKERS", "x:9092"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let options = ClientOption::from_env(vars);
        let keys: Vec<_> = options.iter().map(ClientOption::key).collect();
        assert_eq!(keys, ["security.protocol", "ssl.ca.location"]);
    }
}
