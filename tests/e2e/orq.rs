//! Conformance: orq.ai Contacts API `/v2/contacts` (seed 001). The seed's own
//! create sample is sent verbatim (with a fresh external id and email); then
//! retrieve, update, delete and list as orq.ai documents them, one test per
//! error response and per rule.
use contact_ledger_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The seed's create sample, as the page prints it.
fn seed_sample(external_id: &str, email: &str) -> Value {
    json!({
        "external_id": external_id,
        "display_name": "Jane Smith",
        "email": email,
        "avatar_url": "https://example.com/avatars/jane-smith.jpg",
        "tags": ["premium", "beta-user", "enterprise"],
        "metadata": {
            "department": "Engineering",
            "role": "Senior Developer",
            "subscription_tier": "premium",
            "last_login": "2024-01-15T10:30:00Z"
        }
    })
}

/// Sends a request and checks the answer against the published document.
async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    let mut r = app.client.request(method.clone(), app.url(path)).bearer_auth(&app.key);
    if let Some(body) = body {
        r = r.json(body);
    }
    let r = r.send().await.expect("request");
    let status = r.status();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let text = r.text().await.expect("body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") };
    app.assert_documented(method.as_str(), path, status, content_type.as_deref(), &body).await;
    (status, body)
}

async fn create(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    send(app, reqwest::Method::POST, "/v2/contacts", Some(body)).await
}

fn codes(body: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
        .collect();
    out.sort();
    out
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_sample_creates_a_contact_with_every_documented_field() {
    let app = spawn_app().await;
    app.assert_documented_request("POST", "/v2/contacts", &seed_sample("user_12345", "jane.smith@example.com")).await;
    let r = app.post("/v2/contacts", &seed_sample("user_12345", "jane.smith@example.com")).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    let body: Value = r.json().await.expect("json");
    let id = body["_id"].as_str().expect("_id");
    assert!(id.starts_with("contact_") && id.len() == "contact_".len() + 26, "{id}");
    assert_eq!(location, format!("/v2/contacts/{id}"));
    assert_eq!(body["external_id"], "user_12345");
    assert_eq!(body["display_name"], "Jane Smith");
    assert_eq!(body["email"], "jane.smith@example.com");
    assert_eq!(body["avatar_url"], "https://example.com/avatars/jane-smith.jpg");
    let mut tags: Vec<&str> = body["tags"].as_array().expect("tags").iter().filter_map(Value::as_str).collect();
    tags.sort();
    assert_eq!(tags, vec!["beta-user", "enterprise", "premium"]);
    assert_eq!(body["metadata"], seed_sample("x", "y")["metadata"]);
    let workspace = body["workspace_id"].as_str().expect("workspace_id");
    let parts: Vec<usize> = workspace.split('-').map(str::len).collect();
    assert_eq!(parts, vec![8, 4, 4, 4, 12], "a UUID: {workspace}");
    assert!(is_rfc3339(&body["created"]) && is_rfc3339(&body["updated"]), "{body}");
    assert_eq!(body["created"], body["updated"]);
    // The workspace id is stable per tenant.
    let (_, second) = create(&app, &seed_sample("user_67890", "john@example.com")).await;
    assert_eq!(second["workspace_id"], body["workspace_id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_id_that_exists_is_409() {
    let app = spawn_app().await;
    let (status, _) = create(&app, &seed_sample("dup-1", "a@example.com")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = create(&app, &json!({"external_id": "dup-1", "email": "b@example.com"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "external_id_taken");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_external_id_is_required_and_1_to_120_characters() {
    let app = spawn_app().await;
    for (body, code) in [
        (json!({"display_name": "No Id"}), "required"),
        (json!({"external_id": ""}), "invalid_length"),
        (json!({"external_id": "x".repeat(121)}), "invalid_length"),
    ] {
        let (status, answer) = create(&app, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(codes(&answer), vec![("external_id".to_owned(), code.to_owned())], "{answer}");
    }
    let (status, _) = create(&app, &json!({"external_id": "x".repeat(120)})).await;
    assert_eq!(status, StatusCode::CREATED, "120 characters is allowed, with no name or email");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_with_several_wrong_fields_is_one_400_in_orq_names() {
    let app = spawn_app().await;
    let body =
        json!({"external_id": "e-1", "display_name": 7, "email": "nope", "avatar_url": "ftp://x", "colour": "red"});
    let (status, answer) = create(&app, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        codes(&answer),
        vec![
            ("avatar_url".to_owned(), "invalid_url".to_owned()),
            ("colour".to_owned(), "unknown_field".to_owned()),
            ("display_name".to_owned(), "invalid_type".to_owned()),
            ("email".to_owned(), "invalid_email".to_owned()),
        ],
        "{answer}"
    );
    let (status, answer) = create(&app, &json!({"email": "nope", "colour": "red"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        codes(&answer),
        vec![
            ("colour".to_owned(), "unknown_field".to_owned()),
            ("email".to_owned(), "invalid_email".to_owned()),
            ("external_id".to_owned(), "required".to_owned()),
        ],
        "a missing external_id does not hide the other fields: {answer}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_is_retrieved_by_id_or_by_external_id() {
    let app = spawn_app().await;
    let (_, created) = create(&app, &seed_sample("crm-42", "r@example.com")).await;
    let id = created["_id"].as_str().expect("_id");
    let (status, by_id) = send(&app, reqwest::Method::GET, &format!("/v2/contacts/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id, created);
    let (status, by_external) = send(&app, reqwest::Method::GET, "/v2/contacts/crm-42", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_external, created);
    let (status, missing) = send(&app, reqwest::Method::GET, "/v2/contacts/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "contact_not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_only_the_fields_given() {
    let app = spawn_app().await;
    let (_, created) = create(&app, &seed_sample("p-1", "p@example.com")).await;
    let path = format!("/v2/contacts/{}", created["_id"].as_str().expect("_id"));
    let (status, patched) =
        send(&app, reqwest::Method::PATCH, &path, Some(&json!({"display_name": "Jane Doe", "avatar_url": null}))).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["display_name"], "Jane Doe");
    assert_eq!(patched["avatar_url"], Value::Null);
    for kept in ["_id", "external_id", "email", "tags", "metadata", "workspace_id", "created"] {
        assert_eq!(patched[kept], created[kept], "{kept}");
    }
    assert!(patched["updated"].as_str() > created["updated"].as_str(), "{patched}");
    let (status, answer) = send(&app, reqwest::Method::PATCH, &path, Some(&json!({"_id": "contact_x"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_contact_and_frees_its_external_id() {
    let app = spawn_app().await;
    let (_, created) = create(&app, &seed_sample("d-1", "d@example.com")).await;
    let path = format!("/v2/contacts/{}", created["_id"].as_str().expect("_id"));
    let (status, _) = send(&app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, again) = create(&app, &seed_sample("d-1", "d@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_ne!(again["_id"], created["_id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_pages_with_limit_starting_after_and_ending_before() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, c) = create(&app, &json!({"external_id": format!("l-{i}")})).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(c["_id"].as_str().expect("_id").to_owned());
    }
    let page = |v: &Value| -> Vec<String> {
        v["data"].as_array().expect("data").iter().map(|c| c["_id"].as_str().expect("_id").to_owned()).collect()
    };
    let (status, all) = send(&app, reqwest::Method::GET, "/v2/contacts", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((page(&all), all["has_more"].clone()), (ids.clone(), json!(false)), "default limit 10");
    let (_, first) = send(&app, reqwest::Method::GET, "/v2/contacts?limit=2", None).await;
    assert_eq!((page(&first), first["has_more"].clone()), (ids[..2].to_vec(), json!(true)));
    let (_, next) =
        send(&app, reqwest::Method::GET, &format!("/v2/contacts?limit=2&starting_after={}", ids[1]), None).await;
    assert_eq!((page(&next), next["has_more"].clone()), (ids[2..4].to_vec(), json!(true)));
    let (_, last) =
        send(&app, reqwest::Method::GET, &format!("/v2/contacts?limit=2&starting_after={}", ids[3]), None).await;
    assert_eq!((page(&last), last["has_more"].clone()), (ids[4..].to_vec(), json!(false)));
    let (_, back) =
        send(&app, reqwest::Method::GET, &format!("/v2/contacts?limit=2&ending_before={}", ids[4]), None).await;
    assert_eq!((page(&back), back["has_more"].clone()), (ids[2..4].to_vec(), json!(true)));
    let (_, start) =
        send(&app, reqwest::Method::GET, &format!("/v2/contacts?limit=2&ending_before={}", ids[2]), None).await;
    assert_eq!((page(&start), start["has_more"].clone()), (ids[..2].to_vec(), json!(false)));
    for bad in ["limit=0", "limit=51", "limit=x", "starting_after=nope", "colour=red"] {
        let (status, answer) = send(&app, reqwest::Method::GET, &format!("/v2/contacts?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
    }
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        &format!("/v2/contacts?limit=50&starting_after={}&ending_before={}", ids[0], ids[4]),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_an_api_key_is_401_in_orq_shape() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/v2/contacts"))
        .json(&seed_sample("k", "k@example.com"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "unauthorized");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let r = app.client.get(app.url("/v2/contacts")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_and_delete_find_by_external_id_and_answer_404_and_409() {
    let app = spawn_app().await;
    create(&app, &seed_sample("first", "first@example.com")).await;
    create(&app, &seed_sample("second", "second@example.com")).await;
    let (status, body) =
        send(&app, reqwest::Method::PATCH, "/v2/contacts/second", Some(&json!({"external_id": "first"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "external_id_taken");
    let (status, _) =
        send(&app, reqwest::Method::PATCH, "/v2/contacts/nobody", Some(&json!({"display_name": "X"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, reqwest::Method::DELETE, "/v2/contacts/first", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "deleted by its external id");
    let (status, _) = send(&app, reqwest::Method::GET, "/v2/contacts/first", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

/// Runs one of orq.ai's own SDKs (tests/vendor-sdks/orq) against the service:
/// the script prints a JSON line per call and fails if any call does not do
/// what the SDK promises (its response models and typed errors included).
async fn run_sdk(app: &TestApp, program: String, script: &str, extra_env: &[(&str, String)]) -> String {
    let script = format!("{}/vendor-sdks/orq/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut command = std::process::Command::new(&program);
    command.arg(&script).env("ORQ_BASE_URL", &app.base).env("ORQ_API_KEY", &app.key);
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("run {program} {script} (scripts/test installs the SDKs): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "orq.ai's SDK failed against the service:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orq_ais_own_python_and_node_sdks_create_list_retrieve_update_and_delete() {
    let app = spawn_app().await;
    let python = std::env::var("CL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let calls = ["create", "list", "retrieve", "update", "update_nothing", "retrieve_missing", "delete"];
    let out = run_sdk(&app, python, "run_python.py", &[]).await;
    for call in calls {
        assert!(out.contains(&format!("\"call\": \"{call}\", \"ok\": true")), "python {call}:\n{out}");
    }
    let modules = std::env::var("CL_TEST_ORQ_NODE_MODULES").expect("CL_TEST_ORQ_NODE_MODULES (scripts/test sets it)");
    let out = run_sdk(&app, "node".into(), "run_node.mjs", &[("ORQ_NODE_MODULES", modules)]).await;
    for call in calls {
        assert!(out.contains(&format!("\"call\":\"{call}\",\"ok\":true")), "node {call}:\n{out}");
    }
    app.stop().await;
}
