//! When the broker or the database goes away the API answers 503 with
//! Retry-After within a bounded time, never a hang.
use std::time::{Duration, Instant};

use contact_ledger::app::{self, Roles};
use contact_ledger_tests::{admin_url, broker::OwnBroker, fresh_common, spawn_app};
use ledger_store::Store;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_gives_503_with_retry_after_not_a_hang() {
    // A broker of this test's own, so it can be killed.
    let mut broker = OwnBroker::memory().await;

    let (mut common, _db) = fresh_common(1).await;
    common.kafka_brokers = broker.brokers.clone();
    let running = app::start(&common, Roles::ALL, "127.0.0.1:0".parse().expect("addr")).await.expect("start");
    running.ready(Duration::from_secs(60)).await.expect("ready");
    let bus = ledger_kafka::KafkaBus::new(running.kafka.clone()).expect("bus");
    let tenant =
        contact_ledger::tenant::create(&bus, &running.store, "outage", Duration::from_secs(30)).await.expect("tenant");
    let key = tenant["api_key"].as_str().expect("key").to_owned();
    let base = format!("http://{}", running.addr.expect("addr"));
    let client = reqwest::Client::new();

    broker.process.kill().expect("kill broker");
    broker.process.wait().expect("reap broker");
    let started = Instant::now();
    let r = client
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(&key)
        .json(&json!({"kind": "contact", "email": "down@example.com"}))
        .send()
        .await
        .expect("an answer");
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert!(took < Duration::from_secs(15), "answered after {took:?}");
    let ready = client.get(format!("{base}/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_database_gives_503_with_retry_after_not_a_hang() {
    let app = spawn_app().await;
    let db = app.common.database_url.rsplit_once('/').map(|(_, d)| d.to_owned()).expect("db name");
    let admin = Store::connect(&admin_url(), 1).await.expect("admin");
    admin.drop_database(&db).await.expect("drop the app's database");
    let started = Instant::now();
    let r = app.get("/v1/contacts").await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert!(took < Duration::from_secs(12), "answered after {took:?}");
    let body = r.text().await.expect("body");
    assert!(!body.contains("does not exist") && !body.contains(&db), "5xx bodies are opaque: {body}");
    app.stop().await;
}
