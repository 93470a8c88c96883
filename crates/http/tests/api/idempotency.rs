use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_retry_with_the_same_key_replays_the_stored_response_without_resubmitting() {
    let app = spawn_app();
    let key = [("idempotency-key", "create-ada-1")];
    let first = app.json("POST", "/v1/contacts", &a_user("ada@example.com"), &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = app.json("POST", "/v1/contacts", &a_user("ada@example.com"), &key).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.text, first.text);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("content-type"), Some("application/json"));
    assert_eq!(app.world.submitted().len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_gets_422_idempotency_key_reused() {
    let app = spawn_app();
    let key = [("idempotency-key", "k-2")];
    assert_eq!(app.json("POST", "/v1/contacts", &a_contact("one@example.com"), &key).await.status, 201);
    let r = app.json("POST", "/v1/contacts", &a_contact("two@example.com"), &key).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_code(), "idempotency_key_reused");
    assert_eq!(app.world.submitted().len(), 1);
}

#[tokio::test]
async fn a_client_error_is_stored_and_replayed_too() {
    let app = spawn_app();
    let key = [("idempotency-key", "k-3")];
    let bad = json!({ "kind": "hq" });
    let first = app.json("POST", "/v1/contacts", &bad, &key).await;
    assert_eq!(first.status, 422);
    let again = app.json("POST", "/v1/contacts", &bad, &key).await;
    assert_eq!((again.status, again.text.as_str()), (422, first.text.as_str()));
    assert_eq!(again.header("content-type"), Some("application/problem+json"));
}

#[tokio::test]
async fn a_retry_after_a_503_resubmits_the_same_command_id() {
    let app = spawn_app();
    app.stall_decisions();
    let key = [("idempotency-key", "k-4")];
    let first = app.json("POST", "/v1/contacts", &a_contact("slow@example.com"), &key).await;
    assert_eq!(first.status, 503, "{}", first.text);
    let again = app.json("POST", "/v1/contacts", &a_contact("slow@example.com"), &key).await;
    assert_eq!(again.status, 503, "{}", again.text);
    let submitted = app.world.submitted();
    assert_eq!(submitted.len(), 2);
    assert_eq!(submitted[0], submitted[1], "the retry must publish the very same envelope");
    assert_eq!(first.body["command_id"], json!(submitted[0].command_id.to_string()));
}

#[tokio::test]
async fn an_unusable_idempotency_key_gets_400() {
    let app = spawn_app();
    let long = "k".repeat(256);
    let r = app.json("POST", "/v1/contacts", &a_contact("k@example.com"), &[("idempotency-key", long.as_str())]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.problem_code(), "invalid_header");
    assert!(app.world.submitted().is_empty());
}
