//! Configuration that protects the service's connections, against the real
//! test broker (plaintext): what an operator sets reaches the Kafka clients.
use std::time::Duration;

use contact_ledger::config::Common;
use contact_ledger_tests::brokers;
use ledger_kafka::config::ClientOption;
use rdkafka::producer::{BaseProducer, Producer};

/// Whether a producer made from `common`'s Kafka settings can read the
/// broker's metadata.
async fn reaches_the_broker(common: &Common) -> bool {
    let producer: BaseProducer = common.kafka().producer().create().expect("a producer (built with TLS)");
    tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, Duration::from_secs(5)).is_ok())
        .await
        .expect("metadata")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_security_settings_reach_the_clients() {
    let mut common = Common::with_defaults("postgres://unused", &brokers(), "unused.", 1);
    common.kafka_options = vec![ClientOption::parse("security.protocol=PLAINTEXT").unwrap()];
    assert!(reaches_the_broker(&common).await, "plaintext, as the test broker speaks");
    // TLS to a plaintext broker: the handshake fails, so the setting was used.
    common.kafka_options = vec![ClientOption::parse("security.protocol=SSL").unwrap()];
    assert!(!reaches_the_broker(&common).await, "a TLS client reached a plaintext broker");
}
