use std::time::Duration;

use axum::body::Body;
use ledger_http::HttpConfig;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn healthz_answers_200_without_a_key() {
    let app = spawn_app();
    let r = app.send("GET", "/healthz", &[], Body::empty()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn readyz_names_the_dependency_that_is_not_ready() {
    // Every answer asks again (no reuse), so each change shows at once.
    let app = spawn_app_with(HttpConfig { probe_ttl: Duration::ZERO, ..test_config() });
    let r = app.send("GET", "/readyz", &[], Body::empty()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.take_down("handler_ready");
    app.hang("database_ready");
    let r = app.send("GET", "/readyz", &[], Body::empty()).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.problem_code(), "not_ready");
    assert_eq!(r.body["failed"], json!(["database", "handler"]));
    app.hang("projector_ready");
    let r = app.send("GET", "/readyz", &[], Body::empty()).await;
    assert_eq!(r.body["failed"], json!(["database", "handler", "projector"]));
    assert_eq!(r.body["checks"]["broker"], json!(true));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_commands_by_type() {
    let app = spawn_app();
    app.json("POST", "/v1/contacts", &a_contact("m@example.com"), &[]).await;
    app.get("/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    app.get("/nowhere").await;
    let r = app.send("GET", "/metrics", &[], Body::empty()).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or_default().starts_with("text/plain"));
    for line in [
        "http_requests_total{route=\"/v1/contacts\",status=\"201\"} 1",
        "http_requests_total{route=\"/v1/contacts/{id}\",status=\"404\"} 1",
        "http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "commands_submitted_total{type=\"CreateContact\"} 1",
        "http_request_duration_seconds_count{route=\"/v1/contacts\"} 1",
    ] {
        assert!(r.text.contains(line), "missing {line}:\n{}", r.text);
    }
}

#[tokio::test]
async fn probes_ask_the_dependencies_at_most_once_per_probe_ttl_however_often_they_are_called() {
    let app = spawn_app_with(HttpConfig { probe_ttl: Duration::from_millis(300), ..test_config() });
    let answers = futures::future::join_all((0..50).map(|i| {
        let path = if i % 2 == 0 { "/readyz" } else { "/metrics" };
        app.send("GET", path, &[], Body::empty())
    }))
    .await;
    assert!(answers.iter().all(|r| r.status == 200));
    // Readiness asks the broker, the database and the handler and projector
    // pools; the metrics ask the three pools.
    for (port, asked) in
        [("broker_ready", 1), ("database_ready", 1), ("handler_ready", 2), ("projector_ready", 2), ("mailer_ready", 1)]
    {
        assert_eq!(app.world.calls(port), asked, "{port}");
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = app.send("GET", "/readyz", &[], Body::empty()).await;
    assert_eq!(r.status, 200);
    assert_eq!(app.world.calls("database_ready"), 2, "asked again once the answer is older than probe_ttl");
}
