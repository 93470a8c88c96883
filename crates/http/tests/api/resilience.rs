use std::time::{Duration, Instant};

use ledger_http::HttpConfig;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_hanging_port_gives_503_with_retry_after_within_the_port_timeout() {
    let config = HttpConfig { port_timeout: Duration::from_millis(100), ..test_config() };
    for port in ["tenant_by_key_hash", "submit", "idempotency_begin"] {
        let app = spawn_app_with(config.clone());
        app.hang(port);
        let started = Instant::now();
        let r = app.json("POST", "/v1/contacts", &a_contact("h@example.com"), &[("idempotency-key", "k")]).await;
        let took = started.elapsed();
        assert_eq!(r.status, 503, "{port}: {}", r.text);
        assert_eq!(r.problem_code(), "service_unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(!r.body["detail"].as_str().unwrap().contains(port), "the cause must stay in the log: {}", r.text);
        assert!(took < Duration::from_secs(2), "{port} took {took:?}");
    }
    // A create waits on the submitted-command row only when its decision is
    // late (the row is what a poll of the 503's command id reads), and
    // answers with the contact folded from its own decision's events: with
    // either port hanging, a create decided in time still answers 201.
    for port in ["record_submitted", "contact"] {
        let app = spawn_app_with(config.clone());
        app.hang(port);
        let r = app.json("POST", "/v1/contacts", &a_contact("s@example.com"), &[]).await;
        assert_eq!(r.status, 201, "{port}: {}", r.text);
        assert_eq!(r.body["email"], json!("s@example.com"), "{port}: {}", r.text);
    }
    // A read still waits on the contact port, within its timeout.
    let app = spawn_app_with(config.clone());
    let id = app.json("POST", "/v1/contacts", &a_contact("r@example.com"), &[]).await.body["id"].clone();
    app.hang("contact");
    let started = Instant::now();
    let r = app.get(&format!("/v1/contacts/{}", id.as_str().unwrap())).await;
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")), "{}", r.text);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_unavailable_port_gives_503() {
    let app = spawn_app();
    app.take_down("contacts");
    let r = app.get("/v1/contacts").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.problem_code(), "service_unavailable");
}

#[tokio::test]
async fn no_decision_within_the_timeout_gives_503_naming_the_command() {
    let app = spawn_app();
    app.stall_decisions();
    let started = Instant::now();
    let r = app.json("POST", "/v1/contacts", &a_contact("late@example.com"), &[]).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.problem_code(), "decision_pending");
    assert!(r.header("retry-after").is_some());
    let id = app.world.submitted()[0].command_id.to_string();
    assert_eq!(r.body["command_id"], json!(id));
    let status = app.get(&format!("/v1/commands/{id}")).await;
    assert_eq!(status.body["status"], json!("pending"), "{}", status.text);
}
