//! `wait_for_command`: woken by the projector's notification, bounded by its timeout.
use std::time::{Duration, Instant};

use ledger_domain::CommandId;
use ledger_ports::{CommandStatus, Commands};
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};
use ulid::Ulid;

use crate::support::*;

#[tokio::test]
async fn wait_for_command_returns_once_a_concurrent_projection_commits() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let records = [log.claim(1), create_tenant(&mut log, t)];
    let id = command_id(&records[1]);

    let store = db.store.clone();
    let waiter = tokio::spawn(async move { store.wait_for_command(t, id, Duration::from_secs(10)).await });
    assert!(the_store_listens(&db).await, "the waiter listens for decisions");
    assert!(!waiter.is_finished(), "nothing is decided yet");
    project(&db.store, &records).await;
    let committed = Instant::now();

    let view = waiter.await.unwrap().unwrap().expect("the command is decided");
    assert!(committed.elapsed() < Duration::from_secs(2));
    assert_eq!(view.status, CommandStatus::Accepted);
    assert_eq!(view.command_id, id);
}

#[tokio::test]
async fn wait_for_command_answers_at_once_when_already_decided() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let records = [log.claim(1), create_tenant(&mut log, t)];
    project(&db.store, &records).await;
    let view = db.store.wait_for_command(t, command_id(&records[1]), Duration::ZERO).await.unwrap();
    assert!(view.is_some());
}

#[tokio::test]
async fn wait_for_command_gives_up_when_the_timeout_passes() {
    let db = TestDb::new().await;
    let started = Instant::now();
    let view =
        db.store.wait_for_command(new_tenant(), CommandId(Ulid::new()), Duration::from_millis(500)).await.unwrap();
    assert_eq!(view, None);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn fifty_concurrent_waiters_share_one_listener_and_do_not_exhaust_the_pool() {
    let db = TestDb::with_pool_size(3).await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    for i in 0..50 {
        records.push(log.decide(
            t,
            "CreateContact",
            json!({"kind": "recipient", "email": format!("r{i}@example.com")}),
        ));
    }
    let waiters: Vec<_> = records[2..]
        .iter()
        .map(|record| {
            let (store, id) = (db.store.clone(), command_id(record));
            tokio::spawn(async move { store.wait_for_command(t, id, Duration::from_secs(20)).await })
        })
        .collect();
    assert!(the_store_listens(&db).await, "the waiters listen for decisions");

    // The pool's three connections plus one listener, however many wait.
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    let connections: i64 = sqlx::query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()")
        .fetch_one(&mut admin)
        .await
        .unwrap()
        .get("n");
    admin.close().await.unwrap();
    assert!(connections <= 4 + 1, "{connections} connections (including this one)");

    let started = Instant::now();
    project(&db.store, &records).await;
    for waiter in waiters {
        assert!(waiter.await.unwrap().unwrap().is_some());
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}
