//! When the broker or the database goes away the API answers 503 with
//! Retry-After within a bounded time, never a hang.
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use contact_ledger::app::{self, Roles};
use contact_ledger_tests::{RoleProcess, admin_url, eventually, free_port, fresh_common, spawn_app};
use ledger_store::Store;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_gives_503_with_retry_after_not_a_hang() {
    // A broker of this test's own, so it can be killed.
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("cl-broker-{port}"));
    std::fs::create_dir_all(&dir).expect("broker dir");
    let tansu = std::env::var("HOME").map(|h| format!("{h}/.cargo/bin/tansu")).expect("HOME");
    let url = format!("tcp://127.0.0.1:{port}");
    let mut broker: RoleProcess = Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu")
        .into();
    eventually(Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await
    .expect("broker listening");

    let (mut common, _db) = fresh_common(1).await;
    common.kafka_brokers = format!("127.0.0.1:{port}");
    let running = app::start(&common, Roles::ALL, "127.0.0.1:0".parse().expect("addr")).await.expect("start");
    running.ready(Duration::from_secs(60)).await.expect("ready");
    let bus = ledger_kafka::KafkaBus::new(running.kafka.clone()).expect("bus");
    let tenant =
        contact_ledger::tenant::create(&bus, &running.store, "outage", Duration::from_secs(30)).await.expect("tenant");
    let key = tenant["api_key"].as_str().expect("key").to_owned();
    let base = format!("http://{}", running.addr.expect("addr"));
    let client = reqwest::Client::new();

    broker.kill().expect("kill broker");
    broker.wait().expect("reap broker");
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
    let _ = std::fs::remove_dir_all(dir);
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
