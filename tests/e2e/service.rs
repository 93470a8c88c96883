//! The whole service started as a user starts it: `contact-ledger dev
//! --demo-tenant` in its own process, driven over HTTP, stopped with SIGTERM.
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use contact_ledger_tests::{binary, eventually, free_port, fresh_common};
use reqwest::StatusCode;
use serde_json::{Value, json};

const MARKER: &str = "LogMarker9Password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_service_prints_a_demo_key_serves_the_api_and_never_logs_a_password() {
    let common = fresh_common(2).await;
    let port = free_port();
    let log_path = std::env::temp_dir().join(format!("contact-ledger-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(binary())
        .args(["dev", "--http", &format!("127.0.0.1:{port}"), "--demo-tenant"])
        .env("DATABASE_URL", &common.database_url)
        .env("KAFKA_BROKERS", &common.kafka_brokers)
        .env("CL_TOPIC_PREFIX", &common.topic_prefix)
        .env("CL_PARTITIONS", "2")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn contact-ledger dev");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next())
        .await
        .expect("join")
        .expect("a line on stdout")
        .expect("utf-8");
    let demo: Value = serde_json::from_str(&line).expect("the demo tenant as JSON");
    let key = demo["api_key"].as_str().expect("api_key");
    assert!(demo["tenant_id"].as_str().is_some_and(|t| t.starts_with("tenant_")));

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready = eventually(Duration::from_secs(30), || async {
        let r = client.get(format!("{base}/readyz")).send().await.ok()?;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(ready.is_some(), "readyz never turned 200");
    let r = client
        .post(format!("{base}/v1/contacts"))
        .bearer_auth(key)
        .json(
            &json!({"kind": "user", "first_name": "L", "last_name": "M", "email": "l@example.com", "password": MARKER}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.expect("json");
    let got: Value = client
        .get(format!("{base}/v1/contacts/{}", created["id"].as_str().expect("id")))
        .bearer_auth(key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["registered"], true);
    let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("http_requests_total"), "{metrics}");

    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let logged = std::fs::read_to_string(&log_path).expect("log");
    assert!(logged.contains("listening"), "the log must hold the service's output to be worth scanning");
    assert!(!logged.contains(MARKER), "a plaintext password reached the log");
    let _ = std::fs::remove_file(log_path);
}
