use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_envelope_is_accepted_with_202_and_its_decision_can_be_polled() {
    let app = spawn_app();
    let envelope = json!({ "type": "CreateContact", "payload": { "kind": "contact", "email": "c@example.com" } });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["status"], json!("pending"));
    let id = r.body["command_id"].as_str().unwrap();
    assert_eq!(r.header("location"), Some(format!("/v1/commands/{id}").as_str()));
    assert_eq!(app.world.submitted()[0].tenant_id, app.tenant);

    let r = app.get(&format!("/v1/commands/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], json!("accepted"));
    assert!(r.body["contact_id"].as_str().unwrap().starts_with("contact_"));
    assert_eq!(r.body["events"][0]["type"], json!("ContactCreated"));
}

#[tokio::test]
async fn a_rejected_command_shows_the_problem_a_synchronous_call_would_have_given() {
    let app = spawn_app();
    app.json("POST", "/v1/contacts", &a_contact("dup@example.com"), &[]).await;
    let envelope = json!({
        "command_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "type": "CreateContact",
        "payload": { "kind": "contact", "email": "dup@example.com" },
    });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["command_id"], json!("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    let r = app.get("/v1/commands/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(r.body["status"], json!("rejected"), "{}", r.text);
    assert_eq!(r.body["problem"]["status"], json!(409));
    assert_eq!(r.body["problem"]["code"], json!("email_taken"));
}

#[tokio::test]
async fn an_undecided_command_is_pending_and_an_unknown_one_is_not_found() {
    let app = spawn_app();
    app.stall_decisions();
    let envelope = json!({ "type": "ConfigureTenant", "payload": { "contact_capture": false } });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    let id = r.body["command_id"].as_str().unwrap();
    let r = app.get(&format!("/v1/commands/{id}")).await;
    assert_eq!((r.status, r.body["status"].clone()), (200, json!("pending")), "{}", r.text);
    let r = app.get("/v1/commands/01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.problem_code(), "command_not_found");
}

#[tokio::test]
async fn creating_a_tenant_through_the_api_is_forbidden() {
    let app = spawn_app();
    let envelope = json!({ "type": "CreateTenant", "payload": { "name": "x", "api_key_hash": "00" } });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.problem_code(), "command_not_allowed");
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn an_envelope_for_another_tenant_gets_403_tenant_mismatch() {
    let app = spawn_app();
    let envelope = json!({
        "tenant_id": "tenant_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "type": "ConfigureTenant",
        "payload": { "contact_capture": false },
    });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.problem_code(), "tenant_mismatch");
    let mut own = envelope.clone();
    own["tenant_id"] = json!(app.tenant.to_string());
    assert_eq!(app.json("POST", "/v1/commands", &own, &[]).await.status, 202);
}

#[tokio::test]
async fn an_invalid_envelope_lists_envelope_and_payload_errors_in_one_422() {
    let app = spawn_app();
    let envelope = json!({
        "command_id": "nope",
        "issued_at": "yesterday",
        "type": "UpsertContact",
        "payload": { "match_on": "phone", "email": 5, "extra": true },
        "priority": "high",
    });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    for (field, code) in [
        ("command_id", "invalid_id"),
        ("issued_at", "invalid_timestamp"),
        ("priority", "unknown_field"),
        ("payload.match_on", "invalid_value"),
        ("payload.email", "invalid_type"),
        ("payload.extra", "unknown_field"),
    ] {
        assert!(r.has_error(field, code), "{field} {code}: {}", r.text);
    }
    let r = app.json("POST", "/v1/commands", &json!({ "type": "Launch", "payload": {} }), &[]).await;
    assert!(r.has_error("type", "unknown_command"), "{}", r.text);
    assert!(app.world.submitted().is_empty());
}
