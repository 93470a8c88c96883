//! Partition leases against a real PostgreSQL: members share the partitions,
//! a joining member gets its share once the holder gives it back, an expired
//! or departed member's partitions are taken, and coverage counts only live,
//! working owners. Partition-scoped projections run side by side.
use std::time::Duration;

use ledger_ports::{Coverage, Readiness};

use crate::support::*;

const LONG: Duration = Duration::from_secs(30);

fn partitions(tick: &ledger_store::Tick) -> Vec<i32> {
    tick.held.iter().map(|h| h.partition).collect()
}

#[tokio::test]
async fn members_share_the_partitions_and_a_joining_one_gets_what_the_holder_gives_back() {
    let db = TestDb::new().await;
    let s = &db.store;
    let a = s.lease_tick("handler", "a", 4, LONG, &[]).await.unwrap();
    assert_eq!((partitions(&a), a.members), (vec![0, 1, 2, 3], 1));
    assert!(a.held.iter().all(|h| h.lease_epoch == 1), "{a:?}");
    assert_eq!(s.coverage("handler").await.unwrap(), Coverage { partitions: 4, served: 0 }, "nothing works yet");
    s.lease_tick("handler", "a", 4, LONG, &[0, 1, 2, 3]).await.unwrap();
    assert!(s.coverage("handler").await.unwrap().complete());
    assert_eq!(s.coverage("projector").await.unwrap(), Coverage::default(), "roles are apart");

    let b = s.lease_tick("handler", "b", 4, LONG, &[]).await.unwrap();
    assert!(b.held.is_empty(), "a's live leases stay a's: {b:?}");
    let a = s.lease_tick("handler", "a", 4, LONG, &[0, 1, 2, 3]).await.unwrap();
    assert_eq!((partitions(&a), a.give_back.clone(), a.members), (vec![0, 1], vec![2, 3], 2));
    s.release_leases("handler", "a", &a.give_back).await.unwrap();
    assert_eq!(s.coverage("handler").await.unwrap().served, 2);
    let b = s.lease_tick("handler", "b", 4, LONG, &[]).await.unwrap();
    assert_eq!(partitions(&b), vec![2, 3]);
    assert!(b.held.iter().all(|h| h.lease_epoch == 2), "the lease changed hands: {b:?}");
}

#[tokio::test]
async fn an_expired_members_partitions_are_taken_and_a_departed_ones_at_once() {
    let db = TestDb::new().await;
    let s = &db.store;
    s.lease_tick("projector", "a", 3, Duration::from_millis(300), &[0, 1, 2]).await.unwrap();
    s.lease_tick("projector", "b", 3, LONG, &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.coverage("projector").await.unwrap().served, 0, "an expired lease serves nothing");
    let b = s.lease_tick("projector", "b", 3, LONG, &[]).await.unwrap();
    assert_eq!((partitions(&b), b.members), (vec![0, 1, 2], 1), "a stopped renewing: b takes all");
    // a comes back (a paused process): its share is free only once b gives it back.
    let a = s.lease_tick("projector", "a", 3, LONG, &[]).await.unwrap();
    assert!(a.held.is_empty(), "{a:?}");

    let c = s.lease_tick("mailer", "c", 2, LONG, &[]).await.unwrap();
    assert_eq!(partitions(&c), vec![0, 1]);
    let d = s.lease_tick("mailer", "d", 2, LONG, &[]).await.unwrap();
    assert!(d.held.is_empty());
    s.leave_pool("mailer", "c").await.unwrap();
    let d = s.lease_tick("mailer", "d", 2, LONG, &[]).await.unwrap();
    assert_eq!((partitions(&d), d.members), (vec![0, 1], 1), "c left: d takes its partitions at once");
}

#[tokio::test]
async fn projections_of_two_partitions_run_side_by_side_and_a_whole_topic_one_waits() {
    let db = TestDb::with_pool_size(4).await;
    let s = &db.store;
    let first = s.begin_partition_projection(TOPIC, 0).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), s.begin_partition_projection(TOPIC, 1)).await;
    assert!(second.is_ok(), "partition 1 waited for partition 0");
    let same = tokio::time::timeout(Duration::from_millis(300), s.begin_partition_projection(TOPIC, 0)).await;
    assert!(same.is_err(), "two projections of partition 0 at once");
    let whole = tokio::time::timeout(Duration::from_millis(300), s.begin_projection(TOPIC)).await;
    assert!(whole.is_err(), "a whole-topic projection ran beside a partition's");
    drop(second);
    let mut first = first;
    let err = first.apply(1, 0, None).await;
    assert!(err.is_err(), "a projection of partition 0 applied a record of partition 1");
    drop(first);
    assert!(tokio::time::timeout(Duration::from_secs(5), s.begin_projection(TOPIC)).await.is_ok());
}
