//! The handler's snapshots: the newest usable one is loaded; one ahead of
//! the log or from a writer a later registered claim superseded is not; no
//! snapshot of a lower epoch is stored once a higher claim is registered.
use ledger_ports::{Snapshots, StoredSnapshot};

use crate::support::*;

fn snap(next_offset: i64, epoch: u64) -> StoredSnapshot {
    StoredSnapshot { next_offset, epoch, state: format!("state at {next_offset}").into_bytes() }
}

#[tokio::test]
async fn the_newest_snapshot_of_the_current_writer_not_ahead_of_the_log_is_loaded() {
    let db = TestDb::new().await;
    let s = &db.store;
    assert_eq!(s.newest_snapshot(TOPIC, 0, 100).await.unwrap(), None);
    assert!(s.register_claim(TOPIC, 0, 1, 0, "w1").await.unwrap());
    assert!(s.save_snapshot(TOPIC, 0, &snap(10, 1), "w1").await.unwrap());
    assert_eq!(s.newest_snapshot(TOPIC, 0, 100).await.unwrap(), Some(snap(10, 1)));
    assert_eq!(s.newest_snapshot(TOPIC, 1, 100).await.unwrap(), None, "partitions are apart");
    assert_eq!(s.newest_snapshot(TOPIC, 0, 9).await.unwrap(), None, "a snapshot ahead of the log is not loaded");

    // A successor claims at offset 5, before w1's snapshot at 10: that snapshot
    // folded w1's records after 5, which readers ignore. It is never loaded,
    // and w1 (a zombie now) can store no more.
    assert!(s.register_claim(TOPIC, 0, 2, 5, "w2").await.unwrap());
    assert_eq!(s.newest_snapshot(TOPIC, 0, 100).await.unwrap(), None, "a superseded writer's snapshot was loaded");
    assert!(!s.save_snapshot(TOPIC, 0, &snap(12, 1), "w1").await.unwrap(), "a superseded writer stored a snapshot");
    assert!(!s.register_claim(TOPIC, 0, 1, 20, "w1").await.unwrap(), "a lower claim registered after a higher one");

    assert!(s.save_snapshot(TOPIC, 0, &snap(8, 2), "w2").await.unwrap());
    assert_eq!(s.newest_snapshot(TOPIC, 0, 100).await.unwrap(), Some(snap(8, 2)));
    assert!(s.save_snapshot(TOPIC, 0, &snap(200, 2), "w2").await.unwrap());
    assert_eq!(s.newest_snapshot(TOPIC, 0, 100).await.unwrap(), Some(snap(8, 2)), "200 is past the log's end");
    assert_eq!(s.newest_snapshot(TOPIC, 0, 300).await.unwrap(), Some(snap(200, 2)));

    // Only the newest two are kept.
    assert!(s.save_snapshot(TOPIC, 0, &snap(300, 2), "w2").await.unwrap());
    assert_eq!(s.newest_snapshot(TOPIC, 0, 199).await.unwrap(), None, "the oldest snapshots are deleted");
}
