use axum::body::Body;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_request_without_a_key_gets_401_problem_json() {
    let app = spawn_app();
    let r = app.send("GET", "/v1/contacts", &[], Body::empty()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.problem_code(), "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn a_request_with_an_unknown_key_gets_401() {
    let app = spawn_app();
    let r = app.send("GET", "/v1/contacts", &[("authorization", "Bearer not-a-key")], Body::empty()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.problem_code(), "unauthorized");
    let r = app.send("GET", "/v1/contacts", &[("authorization", format!("Basic {KEY}").as_str())], Body::empty()).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_write_without_a_key_is_refused_before_anything_is_published() {
    let app = spawn_app();
    let body = serde_json::to_vec(&a_contact("a@example.com")).unwrap();
    let r = app.send("POST", "/v1/contacts", &[("content-type", "application/json")], body).await;
    assert_eq!(r.status, 401);
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn another_tenants_contact_is_not_found() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_contact("a@example.com"), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    app.world.add_tenant("Tenant B", "key-b");
    let other = [("authorization", "Bearer key-b")];
    let r = app.send("GET", &format!("/v1/contacts/{id}"), &other, Body::empty()).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.problem_code(), "contact_not_found");
    let patch = serde_json::to_vec(&json!({ "first_name": "Eve" })).unwrap();
    let headers = [("authorization", "Bearer key-b"), ("content-type", "application/merge-patch+json")];
    let r = app.send("PATCH", &format!("/v1/contacts/{id}"), &headers, patch).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_not_found");
}

#[tokio::test]
async fn the_tenant_route_shows_the_callers_own_tenant() {
    let app = spawn_app();
    let r = app.get("/v1/tenant").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["tenant_id"], json!(app.tenant.to_string()));
    assert_eq!(r.body["contact_capture"], json!(true));
}
