//! Conformance: Zuora Zephr `POST /zephr/createContact` (seed 000). The
//! seed's own request sample is sent verbatim (with a fresh email); then one
//! test per documented error response and per rule.
use contact_ledger_tests::{TestApp, spawn_app, user};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ROUTE: &str = "/zephr/createContact";

/// The seed's request sample, as the page prints it, with `email` in place
/// of joe.blow@company.com.
fn seed_sample(email: &str) -> Value {
    json!({
        "identifiers": {
            "email_address": email
        },
        "attributes": {
            "property1": "string",
            "property2": "string"
        }
    })
}

/// Sends a body and checks the answer against the published document.
async fn send(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let r = app.post(ROUTE, body).await;
    let status = r.status();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = r.json().await.expect("a JSON body");
    app.assert_documented("POST", ROUTE, status, content_type.as_deref(), &body).await;
    (status, body)
}

async fn contacts_with_email(app: &TestApp, email: &str) -> Vec<Value> {
    let r = app.get(&format!("/v1/contacts?email={email}")).await;
    let list: Value = r.json().await.expect("json");
    list["data"].as_array().expect("data").clone()
}

fn fields(body: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_sample_creates_a_contact_user_with_its_attributes_and_a_tracking_id() {
    let app = spawn_app().await;
    app.assert_documented_request("POST", ROUTE, &seed_sample("joe.blow.seed@company.com")).await;
    let (status, body) = send(&app, &seed_sample("joe.blow.seed@company.com")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Creating contact successful");
    let tracking_id = body["tracking_id"].as_str().expect("tracking_id");
    let decided: Value = app.get(&format!("/v1/commands/{tracking_id}")).await.json().await.expect("json");
    assert_eq!(decided["status"], "accepted", "{decided}");
    let found = contacts_with_email(&app, "joe.blow.seed@company.com").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "contact");
    assert_eq!(found[0]["metadata"], json!({"property1": "string", "property2": "string"}));
    assert_eq!(found[0]["registered"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_email_updates_the_contact_and_merges_its_attributes() {
    let app = spawn_app().await;
    let (status, _) = send(&app, &seed_sample("ann@company.com")).await;
    assert_eq!(status, StatusCode::OK);
    let again = json!({"identifiers": {"email_address": " ANN@company.com"}, "attributes": {"property2": "changed", "plan": "gold"}});
    let (status, body) = send(&app, &again).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Updating contact successful");
    let found = contacts_with_email(&app, "ann@company.com").await;
    assert_eq!(found.len(), 1, "one contact, updated: {found:?}");
    assert_eq!(found[0]["metadata"], json!({"property1": "string", "property2": "changed", "plan": "gold"}));
    assert_eq!(found[0]["version"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_missing_the_email_identifier_is_400() {
    let app = spawn_app().await;
    for body in
        [json!({"attributes": {"a": "b"}}), json!({"identifiers": {}}), json!({"identifiers": {"email_address": ""}})]
    {
        let (status, answer) = send(&app, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["status"], 400);
        assert_eq!(fields(&answer), vec![("identifiers.email_address".to_owned(), "required".to_owned())], "{answer}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_email_and_attributes_that_are_not_strings_are_one_400_naming_each() {
    let app = spawn_app().await;
    let body =
        json!({"identifiers": {"email_address": "not-an-email"}, "attributes": {"n": 1, "ok": "x", "list": ["a"]}});
    let (status, answer) = send(&app, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        fields(&answer),
        vec![
            ("attributes.list".to_owned(), "invalid_type".to_owned()),
            ("attributes.n".to_owned(), "invalid_type".to_owned()),
            ("identifiers.email_address".to_owned(), "invalid_email".to_owned()),
        ],
        "every failing field at once: {answer}"
    );
    let (status, answer) = send(&app, &json!({"identifiers": {"email_address": "not-an-email"}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&answer), vec![("identifiers.email_address".to_owned(), "invalid_email".to_owned())]);
    assert!(contacts_with_email(&app, "not-an-email").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_creation_disabled_for_the_tenant_is_403() {
    let app = spawn_app().await;
    let off = app.patch("/v1/tenant", &json!({"contact_capture": false}), None).await;
    assert_eq!(off.status(), StatusCode::OK);
    let (status, answer) = send(&app, &seed_sample("off@company.com")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["status"], 403);
    assert!(contacts_with_email(&app, "off@company.com").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_users_email_is_409_user_already_exists() {
    let app = spawn_app().await;
    app.create_contact(user("registered@company.com")).await;
    let (status, answer) = send(&app, &seed_sample("registered@company.com")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["message"], "User registered@company.com already exists");
    let found = contacts_with_email(&app, "registered@company.com").await;
    assert_eq!(found.len(), 1, "no contact beside the user: {found:?}");
    assert_eq!(found[0]["kind"], "user");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_an_api_key_is_401_in_zephrs_shape() {
    let app = spawn_app().await;
    let r = app.client.post(app.url(ROUTE)).json(&seed_sample("x@company.com")).send().await.expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], 401);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_answer_and_a_reused_one_is_refused_in_zephrs_shape() {
    let app = spawn_app().await;
    let post = |body: Value| {
        app.client.post(app.url(ROUTE)).bearer_auth(&app.key).header("Idempotency-Key", "zephr-k1").json(&body).send()
    };
    let first: Value = post(seed_sample("idem@company.com")).await.expect("post").json().await.expect("json");
    let again = post(seed_sample("idem@company.com")).await.expect("post");
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["tracking_id"], first["tracking_id"], "the first answer, replayed");
    let other = post(seed_sample("other@company.com")).await.expect("post");
    let status = other.status();
    let content_type = other.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: Value = other.json().await.expect("json");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["status"], 422, "in Zephr's shape: {body}");
    app.assert_documented("POST", ROUTE, status, content_type.as_deref(), &body).await;
    app.stop().await;
}
