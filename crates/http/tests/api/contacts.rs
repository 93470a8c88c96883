use ledger_domain::Command;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn creating_a_user_answers_201_with_location_etag_and_no_password() {
    let app = spawn_app();
    let r = app.json("POST", "/v1/contacts", &a_user("ada@example.com"), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    assert!(id.starts_with("contact_"), "{id}");
    assert_eq!(r.header("location"), Some(format!("/v1/contacts/{id}").as_str()));
    assert_eq!(r.header("etag"), Some("\"1\""));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["email"], json!("ada@example.com"));
    assert_eq!(r.body["kind"], json!("user"));
    assert!(r.body.get("password").is_none() && r.body.get("password_hash").is_none(), "{}", r.text);
    assert!(!r.text.contains("analytical1engine") && !r.text.contains("argon2"), "{}", r.text);

    let submitted = app.world.submitted();
    assert_eq!(submitted.len(), 1);
    let wire = String::from_utf8(submitted[0].to_bytes().expect("encodes")).unwrap();
    assert!(!wire.contains("analytical1engine"), "plaintext on the wire: {wire}");
    let Command::CreateContact(c) = &submitted[0].command else { panic!("{:?}", submitted[0].command) };
    assert!(c.password_hash.as_deref().unwrap_or_default().starts_with("$argon2id$"), "{c:?}");
    assert_eq!(submitted[0].tenant_id, app.tenant);
}

#[tokio::test]
async fn a_created_contact_can_be_read_by_id_bare_ulid_and_external_id() {
    let app = spawn_app();
    let mut body = a_contact("x@example.com");
    body["external_id"] = json!("crm-42");
    let created = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    let bare = id.trim_start_matches("contact_");
    for path in [format!("/v1/contacts/{id}"), format!("/v1/contacts/{bare}"), "/v1/contacts/crm-42".to_owned()] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.body["id"], json!(id));
        assert_eq!(r.header("etag"), Some("\"1\""));
    }
    let r = app.get("/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.problem_code(), "contact_not_found");
}

#[tokio::test]
async fn a_taken_email_is_rejected_with_409_and_its_code() {
    let app = spawn_app();
    assert_eq!(app.json("POST", "/v1/contacts", &a_contact("dup@example.com"), &[]).await.status, 201);
    let r = app.json("POST", "/v1/contacts", &a_contact("dup@example.com"), &[]).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.problem_code(), "email_taken");
    assert!(r.has_error("email", "email_taken"), "{}", r.text);
}

#[tokio::test]
async fn a_domain_validation_rejection_lists_its_fields() {
    let app = spawn_app();
    let r = app.json("POST", "/v1/contacts", &json!({ "kind": "user", "email": "u@example.com" }), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_code(), "validation_failed");
    for field in ["first_name", "last_name", "password"] {
        assert!(r.has_error(field, "required"), "{field}: {}", r.text);
    }
}

#[tokio::test]
async fn a_contact_history_lists_its_events_without_secrets() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_user("h@example.com"), &[]).await;
    let id = created.body["id"].as_str().unwrap();
    let r = app.get(&format!("/v1/contacts/{id}/events")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let types: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ContactCreated", "PasswordSet"]);
    assert!(!r.text.contains("argon2"), "{}", r.text);
    let r = app.get("/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/events").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn patching_answers_200_with_the_new_version_and_a_stale_if_match_gets_412() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_contact("p@example.com"), &[]).await;
    let path = format!("/v1/contacts/{}", created.body["id"].as_str().unwrap());
    let auth = format!("Bearer {KEY}");
    let headers =
        [("authorization", auth.as_str()), ("content-type", "application/merge-patch+json"), ("if-match", "\"1\"")];
    let patch = serde_json::to_vec(&json!({ "first_name": "Grace", "title": null })).unwrap();
    let r = app.send("PATCH", &path, &headers, patch.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["first_name"], json!("Grace"));
    assert_eq!(r.header("etag"), Some("\"2\""));

    let r = app.send("PATCH", &path, &headers, patch).await;
    assert_eq!(r.status, 412, "{}", r.text);
    assert_eq!(r.problem_code(), "version_mismatch");
    assert_eq!(r.body["current_version"], json!(2));
}

#[tokio::test]
async fn patching_an_unknown_contact_gets_404_and_a_read_only_field_gets_422() {
    let app = spawn_app();
    let r = app.json("PATCH", "/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV", &json!({ "name": "x" }), &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_not_found");
    let r = app.json("PATCH", "/v1/contacts/not-an-id", &json!({ "name": "x" }), &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);

    let created = app.json("POST", "/v1/contacts", &a_contact("ro@example.com"), &[]).await;
    let path = format!("/v1/contacts/{}", created.body["id"].as_str().unwrap());
    let r = app.json("PATCH", &path, &json!({ "password": "x", "shoe_size": 9 }), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.has_error("password", "read_only") && r.has_error("shoe_size", "unknown_field"), "{}", r.text);
}

#[tokio::test]
async fn upsert_creates_with_201_then_updates_with_200() {
    let app = spawn_app();
    let r = app.json("POST", "/v1/contacts/upsert", &json!({ "email": "up@example.com", "name": "One" }), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["outcome"], json!("created"));
    assert_eq!(r.body["kind"], json!("contact"));
    assert!(r.header("location").is_some());
    let r = app.json("POST", "/v1/contacts/upsert", &json!({ "email": "up@example.com", "name": "Two" }), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["outcome"], json!("updated"));
    assert_eq!(r.body["name"], json!("Two"));
    assert_eq!(r.header("etag"), Some("\"2\""));
}

#[tokio::test]
async fn upsert_of_a_registered_users_email_gets_409() {
    let app = spawn_app();
    assert_eq!(app.json("POST", "/v1/contacts", &a_user("reg@example.com"), &[]).await.status, 201);
    let r = app.json("POST", "/v1/contacts/upsert", &json!({ "email": "reg@example.com" }), &[]).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.problem_code(), "registered_user");
}

#[tokio::test]
async fn upsert_is_forbidden_when_the_tenant_disabled_contact_capture() {
    let app = spawn_app();
    let r = app.json("PATCH", "/v1/tenant", &json!({ "contact_capture": false }), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["contact_capture"], json!(false));
    let r = app.json("POST", "/v1/contacts/upsert", &a_contact("cap@example.com"), &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_capture_disabled");
}

#[tokio::test]
async fn a_branch_ignores_a_password_like_evance() {
    let app = spawn_app();
    let body = json!({ "kind": "branch", "company": "Acme", "email": "b@example.com", "password": "weak" });
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let Command::CreateContact(c) = &app.world.submitted()[0].command else { panic!() };
    assert_eq!(c.password_hash, None);
}

#[tokio::test]
async fn a_weak_password_is_the_only_password_error_and_nothing_is_published() {
    let app = spawn_app();
    let mut body = a_user("w@example.com");
    body["password"] = json!("letters-only");
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.field_errors(), [("password".to_owned(), "weak_password".to_owned())]);
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn a_password_for_a_guest_is_refused_before_hashing() {
    let app = spawn_app();
    let mut body = a_user("g@example.com");
    body["kind"] = json!("guest");
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.has_error("password", "not_allowed"), "{}", r.text);
}

#[tokio::test]
async fn a_burst_of_password_creates_past_the_hashing_queue_gets_503_with_retry_after_and_the_rest_succeed() {
    let app = std::sync::Arc::new(spawn_app_with(ledger_http::HttpConfig {
        decision_timeout: std::time::Duration::from_secs(30),
        ..test_config()
    }));
    // One thread and a queue of 32 per core: a burst of 60 per core cannot
    // all be held.
    let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let burst = 60 * cpus;
    let tasks: Vec<_> = (0..burst)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(
                async move { app.json("POST", "/v1/contacts", &a_user(&format!("u{i}@example.com")), &[]).await },
            )
        })
        .collect();
    let (mut created, mut refused) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            201 => created += 1,
            503 => {
                refused += 1;
                assert_eq!(r.header("retry-after"), Some("1"), "{}", r.text);
                assert_eq!(r.body["code"], json!("service_unavailable"), "{}", r.text);
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(refused > 0, "a burst past the queue is refused, not queued without bound");
    assert!(created >= cpus, "what the queue holds is hashed and created ({created})");
    assert_eq!(app.world.submitted().len(), created, "a refused create publishes nothing");
    // Once the burst is over, passwords are hashed again.
    let r = app.json("POST", "/v1/contacts", &a_user("after@example.com"), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_create_with_an_invite_is_answered_from_its_own_events_not_read_back() {
    // ContactCreated and InviteRequested: the answer is folded from the
    // decision's events (`CommandView::created_contact`), so the contact is
    // never read back from the read model.
    let app = spawn_app();
    let mut body = a_user("grace@example.com");
    body["invite"] = json!(true);
    body.as_object_mut().unwrap().remove("password");
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["email"], json!("grace@example.com"));
    assert_eq!(app.world.calls("contact"), 0, "the created contact was read back, not folded from its events");
}
