//! The process's producer (`ledger_kafka::Producer`) against librdkafka's
//! mock cluster: each record's future resolves with where it was written,
//! a refused record says why, and dropping every clone ends its thread.
use std::time::Duration;

use ledger_kafka::{KafkaConfig, Producer};
use rdkafka::{
    mocking::MockCluster,
    producer::FutureRecord,
    types::{RDKafkaApiKey, RDKafkaRespErr},
};

fn producer(mock: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>) -> Producer {
    let mut config = KafkaConfig::new(mock.bootstrap_servers(), "", 1).producer();
    config.set("message.timeout.ms", "2000");
    Producer::new(&config).expect("producer")
}

#[tokio::test]
async fn every_record_gets_its_own_delivery_with_the_offset_it_was_written_at() {
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic("t", 2, 1).expect("topic");
    let producer = producer(&mock);
    let mut sent = Vec::new();
    for i in 0..10 {
        let payload = format!("r{i}");
        let record = FutureRecord::<(), _>::to("t").partition(i % 2).payload(&payload);
        sent.push((i % 2, producer.send_result(record).map_err(|(e, _)| e).expect("queued")));
    }
    let mut next = [0i64; 2];
    for (partition, delivered) in sent {
        let delivery = tokio::time::timeout(Duration::from_secs(10), delivered)
            .await
            .expect("delivered in time")
            .expect("not cancelled")
            .map_err(|(e, _)| e)
            .expect("written");
        assert_eq!(delivery.partition, partition);
        assert_eq!(delivery.offset, next[partition as usize], "records of a partition land in order");
        next[partition as usize] += 1;
    }
    assert_eq!(next, [5, 5]);
    let delivery =
        producer.send(FutureRecord::<(), _>::to("t").partition(0).payload("one more"), Duration::from_secs(1)).await;
    assert_eq!(delivery.expect("written").offset, 5);
}

#[tokio::test]
async fn a_record_the_broker_refuses_reports_the_error() {
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic("t", 1, 1).expect("topic");
    mock.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 20]);
    let producer = producer(&mock);
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        producer.send(FutureRecord::<(), _>::to("t").partition(0).payload("refused"), Duration::from_secs(1)),
    )
    .await
    .expect("an answer in time");
    let error = outcome.expect_err("the broker refused it");
    assert!(error.to_string().contains("authoriz"), "{error}");
}

#[tokio::test]
async fn the_polling_thread_ends_when_the_last_clone_is_dropped() {
    let mock = MockCluster::new(1).expect("mock cluster");
    let threads = || {
        std::fs::read_dir("/proc/self/task")
            .expect("tasks")
            .flatten()
            .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "cl-deliveries"))
            .count()
    };
    let until = |want: usize, what: &'static str| async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while threads() != want {
            assert!(std::time::Instant::now() < deadline, "{what}: {} polling threads, not {want}", threads());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let before = threads();
    let producer = producer(&mock);
    let clone = producer.clone();
    until(before + 1, "one polling thread per producer, not per clone").await;
    drop(producer);
    until(before + 1, "a clone keeps the thread").await;
    drop(clone);
    until(before, "the polling thread ends with its producer").await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_local_queue_is_waited_on_without_blocking_the_runtime_and_given_up_after_the_bound() {
    // A broker that never answers, and room for one record in the queue.
    let mut config = KafkaConfig::new("127.0.0.1:9".to_owned(), "", 1).producer();
    config.set("queue.buffering.max.messages", "1").set("message.timeout.ms", "30000");
    let producer = Producer::new(&config).expect("producer");
    let first = FutureRecord::<(), _>::to("t").partition(0).payload("a");
    let _queued = producer.enqueue(first, Duration::from_millis(100)).await.expect("the first record fits");

    // On a one-thread runtime, another task keeps running while the second
    // record waits for room: the wait yields instead of sleeping the thread.
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = ticks.clone();
    let ticking = tokio::spawn(async move {
        loop {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let started = std::time::Instant::now();
    let second = FutureRecord::<(), _>::to("t").partition(0).payload("b");
    let refused = producer.enqueue(second, Duration::from_millis(300)).await;
    let waited = started.elapsed();
    ticking.abort();
    assert!(
        matches!(
            refused,
            Err(rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull))
        ),
        "{refused:?}"
    );
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(5), "gave up after {waited:?}");
    assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) >= 10, "the runtime was blocked while waiting");
}
