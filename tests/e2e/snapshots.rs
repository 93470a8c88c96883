//! Handler snapshots (issue 9): a claim starts from the newest usable
//! snapshot and folds only the records after it; the state it reaches equals
//! the fold of the whole log; a snapshot ahead of the log is ignored.
use std::{sync::Arc, time::Duration};

use contact_ledger::app::Roles;
use contact_ledger_tests::{TestApp, eventually, read_topic_records, spawn_app_with, user};
use ledger_kafka::{Handler, HandlerConfig, HandlerStatus};
use ledger_ports::{Snapshots, StoredSnapshot};
use ledger_protocol::PartitionState;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::watch;

fn config() -> HandlerConfig {
    HandlerConfig { snapshot_every: 5, ..HandlerConfig::default() }
}

/// Starts a snapshotting handler on partition 0; returns its status and stop switch.
async fn start(app: &TestApp) -> (Arc<HandlerStatus>, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let handler = Handler::new(app.kafka(), config()).expect("handler").with_snapshots(Arc::new(app.store().clone()));
    let handler = Arc::new(handler);
    let status = handler.status();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(handler.run(vec![0], rx));
    eventually(Duration::from_secs(30), || async { status.ready().then_some(()) }).await.expect("handler ready");
    (status, stop, task)
}

async fn newest(app: &TestApp) -> Option<StoredSnapshot> {
    app.store().newest_snapshot(&app.kafka().events_topic, 0, i64::MAX).await.expect("snapshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_from_a_snapshot_folds_only_the_tail_and_reaches_the_fold_of_the_whole_log() {
    let mut app = spawn_app_with(1, Roles { api: true, projector: true, ..Roles::NONE }).await;
    let (_, stop, task) = start(&app).await;
    let (tenant, key) = app.create_tenant("acme").await;
    (app.key, app.tenant_id) = (key, tenant);
    for i in 0..12 {
        app.create_contact(json!({"kind": "contact", "email": format!("c{i}@example.com"), "tags": ["s"]})).await;
    }
    app.create_contact(user("keep@example.com")).await;
    let stored = eventually(Duration::from_secs(30), || async { newest(&app).await.filter(|s| s.next_offset > 5) })
        .await
        .expect("a snapshot was stored");
    stop.send(true).expect("stop");
    task.await.expect("join");

    // The stored snapshot plus the records after it is the fold of the whole log.
    let records: Vec<_> = read_topic_records(&app.kafka()).await.into_iter().filter(|(p, _, _)| *p == 0).collect();
    let mut whole = PartitionState::new(chrono::Duration::days(7));
    for (_, _, r) in &records {
        whole.apply(r);
    }
    let mut restored = PartitionState::new(chrono::Duration::days(7));
    restored.restore(&stored.state).expect("a readable snapshot");
    for (_, _, r) in records.iter().filter(|(_, o, _)| *o >= stored.next_offset) {
        restored.apply(r);
    }
    assert_eq!(restored.snapshot().unwrap(), whole.snapshot().unwrap(), "snapshot + tail differs from the whole fold");

    // A new writer starts from the newest snapshot and folds only the tail.
    let newest_before = newest(&app).await.expect("snapshot");
    let (status, _stop, _task) = start(&app).await;
    let rebuild = status.rebuilds()[0];
    assert_eq!(rebuild.snapshot, Some(newest_before.next_offset), "{rebuild:?}");
    let end = records.last().map(|(_, o, _)| *o + 1).unwrap_or(0);
    assert_eq!(rebuild.records as i64, end - newest_before.next_offset, "only the records after the snapshot");
    assert!((rebuild.records as usize) < records.len());
    // And decides by the same rules: the email is taken, numbers go on.
    let r = app.post("/v1/contacts", &user("keep@example.com")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "the state from the snapshot must know the user");
    let next = app.create_contact(json!({"kind": "contact", "email": "n@example.com"})).await;
    assert_eq!(next["number"], 14);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_ahead_of_the_log_is_ignored() {
    let mut app = spawn_app_with(1, Roles { api: true, projector: true, ..Roles::NONE }).await;
    let (status, stop, task) = start(&app).await;
    let (tenant, key) = app.create_tenant("acme").await;
    (app.key, app.tenant_id) = (key, tenant);
    app.create_contact(user("keep@example.com")).await;
    stop.send(true).expect("stop");
    task.await.expect("join");
    // A snapshot of an empty state, of the current writer's epoch, far past the log's end.
    let epoch = status.rebuilds().len() as u64; // one claim so far: epoch 1
    let empty = PartitionState::new(chrono::Duration::days(7)).snapshot().unwrap();
    let bogus = StoredSnapshot { next_offset: 1_000_000, epoch, state: empty };
    let topic = app.kafka().events_topic;
    assert!(app.store().save_snapshot(&topic, 0, &bogus, "test").await.unwrap());

    let (status, _stop, _task) = start(&app).await;
    assert_eq!(status.rebuilds()[0].snapshot, None, "the snapshot ahead of the log was used");
    let r = app.post("/v1/contacts", &user("keep@example.com")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "the state comes from the log");
    app.stop().await;
}
