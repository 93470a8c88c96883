use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn malformed_json_gets_400_malformed_json() {
    let app = spawn_app();
    let auth = format!("Bearer {KEY}");
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let r = app.send("POST", "/v1/contacts", &headers, "{\"kind\": ").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.problem_code(), "malformed_json");
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn a_body_without_a_json_content_type_gets_400() {
    let app = spawn_app();
    let auth = format!("Bearer {KEY}");
    let body = serde_json::to_vec(&a_contact("a@example.com")).unwrap();
    let r = app
        .send("POST", "/v1/contacts", &[("authorization", auth.as_str()), ("content-type", "text/plain")], body.clone())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.problem_code(), "unsupported_content_type");
    let r = app.send("POST", "/v1/contacts", &[("authorization", auth.as_str())], body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.problem_code(), "unsupported_content_type");
}

#[tokio::test]
async fn a_json_body_that_is_not_an_object_gets_422() {
    let app = spawn_app();
    let r = app.json("POST", "/v1/contacts", &json!(["kind", "contact"]), &[]).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.problem_code(), "validation_failed");
    assert!(r.has_error("body", "invalid_type"), "{}", r.text);
}

#[tokio::test]
async fn unknown_fields_get_one_422_listing_each_of_them() {
    let app = spawn_app();
    let mut body = a_contact("a@example.com");
    body["colour"] = json!("red");
    body["password_hash"] = json!("$argon2id$v=19$m=19456,t=2,p=1$abc$def");
    body["contact_id"] = json!("contact_01ARZ3NDEKTSV4RRFFQ69G5FAV");
    body["address"] = json!({ "line1": "1 Main St", "planet": "Mars" });
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_code(), "validation_failed");
    for field in ["colour", "password_hash", "contact_id", "address.planet"] {
        assert!(r.has_error(field, "unknown_field"), "{field} not listed: {}", r.text);
    }
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn several_invalid_fields_are_listed_in_one_422() {
    let app = spawn_app();
    let body = json!({ "email": "not-an-email", "password": "short", "first_name": 7 });
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_code(), "validation_failed");
    assert!(r.has_error("kind", "required"), "{}", r.text);
    assert!(r.has_error("password", "weak_password"), "{}", r.text);
    assert!(r.has_error("email", "invalid_email"), "{}", r.text);
    assert!(r.has_error("first_name", "invalid_type"), "{}", r.text);
    let message =
        r.body["errors"].as_array().unwrap().iter().find(|e| e["field"] == "password").unwrap()["message"].clone();
    assert_eq!(message, json!(ledger_domain::rules::PASSWORD_RULE));
    assert!(!r.text.contains("short"), "the password must not be echoed: {}", r.text);
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn an_hq_contact_is_refused_with_422() {
    let app = spawn_app();
    let r = app.json("POST", "/v1/contacts", &json!({ "kind": "hq", "email": "hq@example.com" }), &[]).await;
    assert_eq!(r.status, 422);
    assert!(r.has_error("kind", "kind_not_allowed"), "{}", r.text);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_gets_413_problem_json() {
    let app = spawn_app();
    let filler = "x".repeat(1536 * 1024);
    let body = serde_json::to_vec(&json!({ "kind": "contact", "email": "a@example.com", "name": filler })).unwrap();
    let auth = format!("Bearer {KEY}");
    let r = app
        .send("POST", "/v1/contacts", &[("authorization", auth.as_str()), ("content-type", "application/json")], body)
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.problem_code(), "payload_too_large");
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn an_unknown_route_gets_404_problem_json() {
    let app = spawn_app();
    let r = app.get("/v1/nothing-here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.problem_code(), "not_found");
}

#[tokio::test]
async fn a_wrong_method_gets_405_problem_json_with_allow() {
    let app = spawn_app();
    let r = app.json("DELETE", "/v1/contacts", &json!({}), &[]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.problem_code(), "method_not_allowed");
    let allow = r.header("allow").unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn odd_bodies_never_cause_a_server_error() {
    let app = spawn_app();
    let bodies = [
        json!(null),
        json!(42),
        json!({ "kind": null, "tags": [1, {}], "address": "nowhere", "metadata": [], "type_id": 1e300 }),
        json!({ "kind": "user", "password": { "nested": true }, "invite": "yes" }),
        json!({ "kind": "contact", "external_id": "", "email": " A@B.CO " , "tags": ["\u{0}"] }),
    ];
    for body in &bodies {
        for path in ["/v1/contacts", "/v1/contacts/upsert", "/v1/commands"] {
            let r = app.json("POST", path, body, &[]).await;
            assert!(r.status < 500, "{path} {body}: {} {}", r.status, r.text);
        }
        let r = app.json("PATCH", "/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV", body, &[]).await;
        assert!(r.status < 500, "patch {body}: {} {}", r.status, r.text);
        let r = app.json("PATCH", "/v1/tenant", body, &[]).await;
        assert!(r.status < 500, "tenant {body}: {} {}", r.status, r.text);
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let auth = format!("Bearer {KEY}");
    let r = app
        .send("POST", "/v1/contacts", &[("authorization", auth.as_str()), ("content-type", "application/json")], deep)
        .await;
    assert_eq!(r.status, 400);
}
