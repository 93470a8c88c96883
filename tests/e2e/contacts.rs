use contact_ledger::app::Roles;
use contact_ledger_tests::{fresh_common, spawn_app, spawn_app_from, spawn_app_with, user};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_contact_is_readable_at_once_with_its_version() {
    let app = spawn_app().await;
    let created = app
        .create_contact(json!({"kind": "contact", "email": "Jane.Smith@Example.com", "external_id": "user_12345",
            "name": "Jane Smith", "tags": ["premium", "beta-user"], "metadata": {"tier": "premium"}}))
        .await;
    let id = created["id"].as_str().expect("id");
    assert!(id.starts_with("contact_"), "{id}");
    assert_eq!(created["number"], 1);
    assert_eq!(created["email"], "Jane.Smith@Example.com");
    let r = app.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let got: Value = r.json().await.expect("json");
    assert_eq!(got, created);
    let by_external: Value = app.get("/v1/contacts/user_12345").await.json().await.expect("json");
    assert_eq!(by_external["id"], created["id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_follow_each_other_and_another_tenant_sees_nothing() {
    let app = spawn_app().await;
    let a = app.create_contact(json!({"kind": "recipient", "email": "a@example.com"})).await;
    let b = app
        .create_contact(json!({"kind": "guest", "email": "a@example.com", "first_name": "A", "last_name": "B"}))
        .await;
    assert_eq!((a["number"].as_u64(), b["number"].as_u64()), (Some(1), Some(2)));
    let (_, other_key) = app.create_tenant("other").await;
    let r = app
        .client
        .get(app.url(&format!("/v1/contacts/{}", a["id"].as_str().expect("id"))))
        .bearer_auth(&other_key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_user_with_the_same_email_in_other_case_is_a_conflict() {
    let app = spawn_app().await;
    app.create_contact(user("bob@email.com")).await;
    let r = app.post("/v1/contacts", &user("  BOB@email.com ")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "email_taken");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_lists_every_failing_field() {
    let app = spawn_app().await;
    let r = app
        .post("/v1/contacts", &json!({"kind": "user", "email": "not-an-email", "password": "short", "purchase_order_number": "PO-1", "bogus": 1}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.expect("json");
    let fields: Vec<&str> =
        problem["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    for f in ["email", "password", "first_name", "last_name", "purchase_order_number", "bogus"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let hq = app.post("/v1/contacts", &json!({"kind": "hq", "email": "hq@example.com"})).await;
    assert_eq!(hq.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_with_thousands_of_failing_fields_gets_the_first_hundred_and_a_count() {
    let app = spawn_app().await;
    let mut body = json!({"kind": "contact", "email": "many@example.com"});
    for i in 0..5_000 {
        body[format!("k{i:04}")] = json!(1);
    }
    let r = app.post("/v1/contacts", &body).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let problem: Value = r.json().await.expect("json");
    app.assert_documented("POST", "/v1/contacts", StatusCode::UNPROCESSABLE_ENTITY, content_type.as_deref(), &problem)
        .await;
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(100), "{problem}");
    assert_eq!(problem["errors_omitted"], json!(4_900));
    assert_eq!(problem["detail"], json!("5000 fields are invalid; the first 100 are listed"));
    assert_eq!(problem["errors"][0]["field"], json!("k0000"));

    // A role list past its cap is one error, whatever its items hold.
    let roles: Vec<Value> = (0..15_000).map(|i| json!({"reference": i})).collect();
    let r = app
        .post(
            "/v1/contacts",
            &json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "r@example.com",
            "password": "s3cret-pass1", "access_roles": roles}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(
        problem["errors"],
        json!([{"field": "access_roles", "code": "too_many", "message": "at most 100 roles per request"}])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_creates_then_updates_and_refuses_registered_users_and_disabled_capture() {
    let app = spawn_app().await;
    let first =
        app.post("/v1/contacts/upsert", &json!({"email": "joe.blow@company.com", "metadata": {"a": "1"}})).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    assert_eq!(first["outcome"], "created");
    let second =
        app.post("/v1/contacts/upsert", &json!({"email": "JOE.BLOW@company.com", "metadata": {"b": "2"}})).await;
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.expect("json");
    assert_eq!(second["outcome"], "updated");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["metadata"], json!({"a": "1", "b": "2"}));
    assert_eq!(second["version"], 2);

    app.create_contact(user("registered@company.com")).await;
    let r = app.post("/v1/contacts/upsert", &json!({"email": "registered@company.com"})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let off = app.patch("/v1/tenant", &json!({"contact_capture": false}), None).await;
    assert_eq!(off.status(), StatusCode::OK);
    let r = app.post("/v1/contacts/upsert", &json!({"email": "new@company.com"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_checks_the_version_refuses_kind_changes_and_appends_nothing_for_no_change() {
    let app = spawn_app().await;
    let c = app.create_contact(json!({"kind": "contact", "email": "p@example.com", "name": "P"})).await;
    let path = format!("/v1/contacts/{}", c["id"].as_str().expect("id"));
    let r = app.patch(&path, &json!({"name": "Q", "metadata": {"x": 1}}), Some(1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.expect("json");
    assert_eq!((patched["name"].as_str(), patched["version"].as_u64()), (Some("Q"), Some(2)));
    assert_eq!(app.patch(&path, &json!({"name": "R"}), Some(1)).await.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.patch(&path, &json!({"kind": "user"}), None).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let same = app.patch(&path, &json!({"name": "Q"}), None).await;
    assert_eq!(same.status(), StatusCode::OK);
    let same: Value = same.json().await.expect("json");
    assert_eq!(same["version"], 2);
    let events: Value = app.get(&format!("{path}/events")).await.json().await.expect("json");
    let types: Vec<&str> = events["data"].as_array().expect("data").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, vec!["ContactCreated", "ContactUpdated"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_and_page_by_id() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create_contact(json!({"kind": "contact", "email": format!("l{i}@example.com"), "tags": if i % 2 == 0 { json!(["even"]) } else { json!([]) }})).await;
    }
    let page1: Value = app.get("/v1/contacts?limit=2").await.json().await.expect("json");
    assert_eq!(page1["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["has_more"], true);
    let cursor = page1["next_cursor"].as_str().expect("cursor");
    let page2: Value = app.get(&format!("/v1/contacts?limit=10&cursor={cursor}")).await.json().await.expect("json");
    assert_eq!(page2["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(page2["has_more"], false);
    let even: Value = app.get("/v1/contacts?tag=even").await.json().await.expect("json");
    assert_eq!(even["data"].as_array().map(Vec::len), Some(3));
    let one: Value = app.get("/v1/contacts?email=L3@EXAMPLE.COM").await.json().await.expect("json");
    assert_eq!(one["data"][0]["email"], "l3@example.com");
    assert_eq!(app.get("/v1/contacts?limit=101").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = spawn_app().await;
    let send = |body: Value| {
        app.client
            .post(app.url("/v1/contacts"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "k-1")
            .json(&body)
            .send()
    };
    let body = json!({"kind": "contact", "email": "idem@example.com"});
    let a = send(body.clone()).await.expect("a");
    assert_eq!(a.status(), StatusCode::CREATED);
    let a: Value = a.json().await.expect("json");
    let b = send(body).await.expect("b");
    assert_eq!(b.status(), StatusCode::CREATED);
    let b: Value = b.json().await.expect("json");
    assert_eq!(a, b);
    let c = send(json!({"kind": "contact", "email": "other@example.com"})).await.expect("c");
    assert_eq!(c.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let list: Value = app.get("/v1/contacts").await.json().await.expect("json");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

/// Idempotency keys (with the answers stored for them) live for the
/// retention; the API prunes older ones, and the key is then a new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_deleted_after_its_retention() {
    let (mut common, db) = fresh_common(1).await;
    common.idempotency_retention_secs = 2;
    let app = spawn_app_from(common, db, Roles::ALL, "127.0.0.1:0").await;
    let send = |body: Value| {
        app.client
            .post(app.url("/v1/contacts"))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "k-kept-2s")
            .json(&body)
            .send()
    };
    let a = send(json!({"kind": "contact", "email": "first@example.com"})).await.expect("a");
    assert_eq!(a.status(), StatusCode::CREATED);
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM idempotency_keys")
            .fetch_one(app.store().pool())
            .await
            .unwrap()
    };
    assert_eq!(stored().await, 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while stored().await > 0 {
        assert!(std::time::Instant::now() < deadline, "the key outlived its retention by 13 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The same key with another body is a new request now, not a mismatch.
    let b = send(json!({"kind": "contact", "email": "second@example.com"})).await.expect("b");
    assert_eq!(b.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_contact_frees_its_email_and_keeps_its_history() {
    let app = spawn_app().await;
    let c = app.create_contact(json!({"kind": "contact", "email": "gone@example.com", "external_id": "crm-9"})).await;
    let id = c["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/contacts/{id}");
    let stale = app.client.delete(app.url(&path)).bearer_auth(&app.key).header("If-Match", "\"5\"").send().await;
    assert_eq!(stale.expect("delete").status(), StatusCode::PRECONDITION_FAILED);
    let r = app.client.delete(app.url(&path)).bearer_auth(&app.key).header("If-Match", "\"1\"").send().await;
    let r = r.expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/v1/contacts/crm-9").await.status(), StatusCode::NOT_FOUND);
    let list: Value = app.get("/v1/contacts").await.json().await.expect("json");
    assert_eq!(list["data"], json!([]));
    let history: Value = app.get(&format!("{path}/events")).await.json().await.expect("json");
    let types: Vec<&str> =
        history["data"].as_array().expect("data").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, vec!["ContactCreated", "ContactDeleted"], "{history}");
    let again = app.client.delete(app.url(&path)).bearer_auth(&app.key).send().await.expect("delete");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let reused =
        app.create_contact(json!({"kind": "contact", "email": "gone@example.com", "external_id": "crm-9"})).await;
    assert_ne!(reused["id"], c["id"]);
    app.stop().await;
}

/// A create answers with the contact folded from its own decision's events
/// (no read-back query): that answer must equal what the read model serves.
/// No mailer runs: its `InviteSent` would move the invited user to version 2
/// between the answer and the read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answer_equals_the_projected_contact_for_every_shape() {
    let app = spawn_app_with(1, Roles { mailer: false, ..Roles::ALL }).await;
    let bodies = [
        json!({"kind": "contact", "email": " Mixed.Case@Example.com ", "first_name": "Ada", "last_name": "Lovelace",
               "company": "Analytical", "title": "Countess", "phone": "+44 20 7946 0000", "tags": ["b", "a", "b"],
               "metadata": {"plan": "gold", "seats": 3, "nested": {"x": [1, 2]}},
               "address": {"line1": "1 Main St", "city": "Leeds", "country_code": "gb"},
               "external_id": "ext-1"}),
        json!({"kind": "contact", "type_id": 6, "email": "billing@example.com", "purchase_order_number": "PO-9"}),
        json!({"kind": "user", "email": "user@example.com", "first_name": "Grace", "last_name": "Hopper",
               "password": "Correct-horse-battery-9", "invite": false}),
        json!({"kind": "user", "email": "invited@example.com", "first_name": "Alan", "last_name": "Turing", "invite": true}),
        json!({"kind": "guest", "email": "guest@example.com", "first_name": "G", "last_name": "Uest"}),
    ];
    for body in bodies {
        let created = app.create_contact(body.clone()).await;
        let id = created["id"].as_str().expect("id");
        let read: Value = app.get(&format!("/v1/contacts/{id}")).await.json().await.expect("json");
        assert_eq!(created, read, "the 201 answer for {body} differs from the read model");
    }
    app.stop().await;
}
