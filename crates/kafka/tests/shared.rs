//! `SharedConsumer` against rdkafka's in-process MockCluster: one consumer,
//! a queue per partition, and a partition re-opened at another offset
//! delivers only from there.
use std::time::Duration;

use ledger_kafka::{KafkaConfig, shared::SharedConsumer};
use rdkafka::{
    Message, Offset,
    mocking::MockCluster,
    producer::{FutureProducer, FutureRecord},
};

async fn next(queue: &ledger_kafka::shared::PartitionQueue) -> (i32, i64, String) {
    let m = tokio::time::timeout(Duration::from_secs(10), queue.recv()).await.expect("a record in time").expect("ok");
    (m.partition(), m.offset(), String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
}

#[tokio::test]
async fn each_partition_reads_on_its_own_queue_and_reopens_at_a_new_offset() {
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic("t", 2, 1).expect("topic");
    let cfg = KafkaConfig::new(mock.bootstrap_servers(), "", 2);
    let producer: FutureProducer = cfg.producer().create().expect("producer");
    for (p, n) in [(0, 3), (1, 2)] {
        for i in 0..n {
            let value = format!("p{p}-{i}");
            producer
                .send(FutureRecord::<(), _>::to("t").partition(p).payload(&value), Duration::from_secs(5))
                .await
                .expect("sent");
        }
    }

    let shared = SharedConsumer::new(&cfg, "test", "t").expect("consumer");
    let q0 = shared.open(0, Offset::Beginning).expect("open 0");
    let q1 = shared.open(1, Offset::Beginning).expect("open 1");
    assert_eq!(next(&q1).await, (1, 0, "p1-0".into()));
    for i in 0..3 {
        assert_eq!(next(&q0).await, (0, i, format!("p0-{i}")));
    }
    assert_eq!(next(&q1).await, (1, 1, "p1-1".into()));

    // Re-opened at offset 1 (after a pause): partition 0 starts over from there.
    shared.pause(0).expect("pause");
    drop(q0);
    let q0 = shared.open(0, Offset::Offset(1)).expect("reopen 0");
    assert_eq!(next(&q0).await, (0, 1, "p0-1".into()));
    assert_eq!(next(&q0).await, (0, 2, "p0-2".into()));

    // A closed partition delivers nothing more; an open one goes on.
    shared.close(1).expect("close 1");
    producer
        .send(FutureRecord::<(), _>::to("t").partition(1).payload("late"), Duration::from_secs(5))
        .await
        .expect("sent");
    producer
        .send(FutureRecord::<(), _>::to("t").partition(0).payload("p0-3"), Duration::from_secs(5))
        .await
        .expect("sent");
    assert_eq!(next(&q0).await, (0, 3, "p0-3".into()));
    assert!(tokio::time::timeout(Duration::from_millis(500), q1.recv()).await.is_err(), "closed partition delivered");
}
