//! Configuration shared by every role: each field is a flag and an env var.
use clap::Args;
use ledger_kafka::KafkaConfig;

#[derive(Args, Clone, Debug)]
pub struct Common {
    /// PostgreSQL URL of the read models.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:54329/contact_ledger")]
    pub database_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    pub kafka_brokers: String,
    /// Prefix of the topic names (`<prefix>commands`, `<prefix>events`, `<prefix>dead-letter`).
    #[arg(long, env = "CL_TOPIC_PREFIX", default_value = "contact-ledger.")]
    pub topic_prefix: String,
    /// Partitions of the commands and events topics (equal by design).
    #[arg(long, env = "CL_PARTITIONS", default_value_t = 4)]
    pub partitions: i32,
    /// Database connections per process.
    #[arg(long, env = "CL_DB_POOL", default_value_t = 20)]
    pub db_pool: u32,
    /// How long an invite stays valid, in hours.
    #[arg(long, env = "CL_INVITE_TTL_HOURS", default_value_t = 168)]
    pub invite_ttl_hours: i64,
}

impl Common {
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig::new(&self.kafka_brokers, &self.topic_prefix, self.partitions)
    }
}
