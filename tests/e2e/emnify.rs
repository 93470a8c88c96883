//! Conformance: emnify organisation contacts (seed 002): authenticate, then
//! create, list, get, patch and delete under `/api/v1/organisation/{org_id}`.
//! One test per documented behaviour, error response and rule.
use contact_ledger_tests::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Org {
    id: u64,
    token: String,
}

async fn authenticate(app: &TestApp) -> Org {
    let r = app.client.post(app.url("/api/v1/authenticate")).json(&json!({"application_token": app.key})).send();
    let r = r.await.expect("authenticate");
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    let tenant: Value = app.get("/v1/tenant").await.json().await.expect("json");
    let id = tenant["organisation_id"].as_u64().expect("organisation_id");
    Org { id, token: body["auth_token"].as_str().expect("auth_token").to_owned() }
}

async fn call(app: &TestApp, org: &Org, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
    let mut r = app.client.request(method, app.url(&format!("/api/v1/organisation/{}{path}", org.id)));
    r = r.bearer_auth(&org.token);
    if let Some(body) = body {
        r = r.json(body);
    }
    r.send().await.expect("request")
}

/// Calls an organisation route and checks the answer against the published document.
async fn checked(app: &TestApp, org: &Org, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
    let full = format!("/api/v1/organisation/{}{path}", org.id);
    let r = call(app, org, method.clone(), path, body).await;
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, body) = json_of(r).await;
    app.assert_documented(method.as_str(), &full, status, content_type.as_deref(), &body).await;
    (status, body)
}

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") })
}

fn errors(body: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
        .collect();
    out.sort();
    out
}

/// Every field of the seed's request, on an invoice contact (type 6).
fn every_field() -> Value {
    json!({
        "type": {"id": 6},
        "name": "Jane Doe",
        "title": "Dr",
        "department": "Billing",
        "street": "Landsberger Str. 110",
        "zipcode": "80339",
        "city": "Munich",
        "country": {"id": 74},
        "email": "billing@example.com",
        "phone": "+49 89 1234",
        "mobile": "+49 170 1234",
        "state": "Bavaria",
        "secondary_address": "Building B",
        "purchase_order_number": "PO-2026-001"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticate_gives_an_auth_and_a_refresh_token_for_the_tenants_organisation() {
    let app = spawn_app().await;
    let r = app.client.post(app.url("/api/v1/authenticate")).json(&json!({"application_token": app.key})).send();
    let (status, body) = json_of(r.await.expect("authenticate")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for token in ["auth_token", "refresh_token"] {
        assert_eq!(body[token].as_str().expect(token).split('.').count(), 3, "{token} is a JWT");
    }
    let refreshed =
        app.client.post(app.url("/api/v1/authenticate")).json(&json!({"refresh_token": body["refresh_token"]}));
    let (status, again) = json_of(refreshed.send().await.expect("refresh")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let org = Org { id: authenticate(&app).await.id, token: again["auth_token"].as_str().expect("auth").to_owned() };
    let (status, _) = checked(&app, &org, Method::GET, "/contact", None).await;
    assert_eq!(status, StatusCode::OK, "a refreshed token works");
    let bad = app.client.post(app.url("/api/v1/authenticate")).json(&json!({"application_token": "nope"}));
    let (status, answer) = json_of(bad.send().await.expect("authenticate")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error_code"], 401);
    let auth_as_refresh =
        app.client.post(app.url("/api/v1/authenticate")).json(&json!({"refresh_token": body["auth_token"]}));
    assert_eq!(auth_as_refresh.send().await.expect("refresh").status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_with_every_field_is_created_with_a_location_a_numeric_id_and_a_string_contact_id() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let full = format!("/api/v1/organisation/{}/contact", org.id);
    app.assert_documented_request("POST", &full, &every_field()).await;
    let r = call(&app, &org, Method::POST, "/contact", Some(&every_field())).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["id"], 1);
    assert_eq!(location, format!("/api/v1/organisation/{}/contact/1", org.id));
    assert!(body["contact_id"].as_str().is_some_and(|s| s.starts_with("contact_")), "{body}");
    assert_eq!(body["organisation"], json!({"id": org.id}));
    let mut expected = every_field();
    for (k, v) in expected.as_object_mut().expect("object").iter_mut() {
        assert_eq!(&body[k], v, "{k}");
    }
    let (status, got) = json_of(
        call(&app, &org, Method::GET, &location.replace(&format!("/api/v1/organisation/{}", org.id), ""), None).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_type_is_required() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let (status, body) = checked(&app, &org, Method::POST, "/contact", Some(&json!({"type": {"id": 2}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["type"], json!({"id": 2}));
    assert_eq!(body["email"], Value::Null);
    let (status, body) = checked(&app, &org, Method::POST, "/contact", Some(&json!({"name": "No Type"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(errors(&body), vec![("type".to_owned(), "required".to_owned())]);
    assert_eq!(body["error_code"], 422);
    let bad = json!({"email": "bad", "country": {"id": "x"}});
    let (status, body) = checked(&app, &org, Method::POST, "/contact", Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        errors(&body),
        vec![
            ("country".to_owned(), "invalid_type".to_owned()),
            ("email".to_owned(), "invalid_email".to_owned()),
            ("type".to_owned(), "required".to_owned()),
        ],
        "a missing type does not hide the other fields: {body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_order_number_is_at_most_50_characters_and_only_on_type_6() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let on_type_2 = json!({"type": {"id": 2}, "purchase_order_number": "PO-1"});
    let (status, body) = checked(&app, &org, Method::POST, "/contact", Some(&on_type_2)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(errors(&body), vec![("purchase_order_number".to_owned(), "only_for_invoice_contacts".to_owned())]);
    let too_long = json!({"type": {"id": 6}, "purchase_order_number": "x".repeat(51)});
    let (status, body) = checked(&app, &org, Method::POST, "/contact", Some(&too_long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(errors(&body), vec![("purchase_order_number".to_owned(), "too_long".to_owned())]);
    let fifty = json!({"type": {"id": 6}, "purchase_order_number": "x".repeat(50)});
    assert_eq!(call(&app, &org, Method::POST, "/contact", Some(&fifty)).await.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_and_organisation_id_may_not_be_given_in_the_body_or_the_query() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let body = json!({"type": {"id": 2}, "id": 5, "organisation_id": 9});
    let (status, answer) = checked(&app, &org, Method::POST, "/contact", Some(&body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        errors(&answer),
        vec![("id".to_owned(), "not_allowed".to_owned()), ("organisation_id".to_owned(), "not_allowed".to_owned())]
    );
    let (status, answer) = checked(&app, &org, Method::POST, "/contact?id=5", Some(&json!({"type": {"id": 2}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(errors(&answer), vec![("query.id".to_owned(), "not_allowed".to_owned())]);
    let encoded = "/contact?organisation%5Fid=5";
    let (status, answer) = checked(&app, &org, Method::POST, encoded, Some(&json!({"type": {"id": 2}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a percent-encoded key is the same key");
    assert_eq!(errors(&answer), vec![("query.organisation_id".to_owned(), "not_allowed".to_owned())]);
    let (status, list) = checked(&app, &org, Method::GET, "/contact", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])), "nothing was created");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_name_every_failing_field_at_once() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let body = json!({"type": "six", "email": "not-an-email", "country": "DE", "zipcode": 80339, "colour": "red"});
    let (status, answer) = checked(&app, &org, Method::POST, "/contact", Some(&body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let fields: Vec<String> = errors(&answer).into_iter().map(|(f, _)| f).collect();
    for field in ["type", "email", "country", "zipcode", "colour"] {
        assert!(fields.contains(&field.to_owned()), "{field} not named: {answer}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_is_403_and_a_missing_or_bad_token_is_401() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let other = Org { id: org.id + 1, token: org.token.clone() };
    let (status, body) = checked(&app, &other, Method::GET, "/contact", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error_code"], 403);
    let r = app.client.get(app.url(&format!("/api/v1/organisation/{}/contact", org.id))).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let forged = Org { id: org.id, token: format!("{}x", org.token) };
    assert_eq!(call(&app, &forged, Method::GET, "/contact", None).await.status(), StatusCode::UNAUTHORIZED);
    let api_key = Org { id: org.id, token: app.key.clone() };
    assert_eq!(
        call(&app, &api_key, Method::GET, "/contact", None).await.status(),
        StatusCode::UNAUTHORIZED,
        "the API key is not a token"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_an_unwrapped_array_paged_with_totals_in_headers() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    for i in 0..5 {
        let body = json!({"type": {"id": 2}, "name": format!("C{i}")});
        assert_eq!(call(&app, &org, Method::POST, "/contact", Some(&body)).await.status(), StatusCode::CREATED);
    }
    let r = call(&app, &org, Method::GET, "/contact?page=2&per_page=2", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = |name: &str| r.headers()[name].to_str().expect("header").to_owned();
    assert_eq!((header("x-total-count"), header("x-total-pages")), ("5".to_owned(), "3".to_owned()));
    assert_eq!((header("x-current-page"), header("x-count-per-page")), ("2".to_owned(), "2".to_owned()));
    let page: Value = r.json().await.expect("json");
    let names: Vec<&str> = page.as_array().expect("an array").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, vec!["C2", "C3"]);
    let (status, _) = checked(&app, &org, Method::GET, "/contact?per_page=0", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_changes_fields_keeps_the_type_fixed_and_delete_removes_the_contact() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let (_, created) = checked(&app, &org, Method::POST, "/contact", Some(&every_field())).await;
    let path = format!("/contact/{}", created["id"]);
    let change = json!({"city": "Berlin", "country": {"id": 75}, "phone": null});
    let (status, patched) = checked(&app, &org, Method::PATCH, &path, Some(&change)).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!((patched["city"].clone(), patched["country"].clone()), (json!("Berlin"), json!({"id": 75})));
    assert_eq!(patched["phone"], Value::Null);
    assert_eq!(patched["street"], created["street"]);
    let (status, answer) = checked(&app, &org, Method::PATCH, &path, Some(&json!({"type": {"id": 2}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(errors(&answer), vec![("type".to_owned(), "immutable_field".to_owned())]);
    let (status, same) = checked(&app, &org, Method::PATCH, &path, Some(&json!({"type": {"id": 6}}))).await;
    assert_eq!(status, StatusCode::OK, "repeating the type is fine: {same}");
    let (status, _) = checked(&app, &org, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = checked(&app, &org, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    assert_eq!(gone["error_code"], 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisation_contacts_may_share_an_email_and_stay_out_of_zephr_and_orq() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    for type_id in [6, 2] {
        let body = json!({"type": {"id": type_id}, "email": "ops@example.com", "country": {"id": 74}});
        let (status, created) = checked(&app, &org, Method::POST, "/contact", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "billing and technical contact share an email: {created}");
    }
    let zephr = json!({"identifiers": {"email_address": "ops@example.com"}, "attributes": {"emnify": "x"}});
    let r = app.post("/zephr/createContact", &zephr).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["message"], "Creating contact successful", "Zephr's upsert does not land on them");
    let (_, listed) = checked(&app, &org, Method::GET, "/contact", None).await;
    for c in listed.as_array().expect("array") {
        assert_eq!(c["country"], json!({"id": 74}), "their metadata is untouched: {c}");
    }
    let orq: Value = app.get("/v2/contacts").await.json().await.expect("json");
    let types: Vec<&Value> = orq["data"].as_array().expect("data").iter().collect();
    assert_eq!(types.len(), 1, "orq.ai sees only the untyped contact: {orq}");
    app.stop().await;
}

/// The token answer is never cached; a refresh keeps its first expiry (the
/// same refresh token comes back), and it ends when the API key it came
/// from is rotated out or revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_never_outlives_its_api_key_and_the_answer_is_not_stored() {
    let app = spawn_app().await;
    let sign_in =
        |key: String| app.client.post(app.url("/api/v1/authenticate")).json(&json!({"application_token": key})).send();
    let refresh =
        |token: Value| app.client.post(app.url("/api/v1/authenticate")).json(&json!({"refresh_token": token})).send();
    let r = sign_in(app.key.clone()).await.expect("authenticate");
    assert_eq!(r.headers().get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let (_, first) = json_of(r).await;
    let (status, again) = json_of(refresh(first["refresh_token"].clone()).await.expect("refresh")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refresh_token"], first["refresh_token"], "a refresh does not extend the refresh token");

    // A new key; the first works for an hour more, and so do its refreshes.
    let tenant: ledger_domain::TenantId = app.tenant_id.parse().expect("tenant");
    let bus = ledger_kafka::KafkaBus::new(app.kafka()).expect("bus");
    let rotated =
        contact_ledger::tenant::rotate_key(&bus, app.store(), tenant, 3600, std::time::Duration::from_secs(30))
            .await
            .expect("rotate");
    assert_eq!(rotated["key_version"], 2);
    let second_key = rotated["api_key"].as_str().expect("api_key").to_owned();
    assert_eq!(sign_in(app.key.clone()).await.expect("old key").status(), StatusCode::OK, "within the overlap");
    assert_eq!(refresh(first["refresh_token"].clone()).await.expect("refresh").status(), StatusCode::OK);
    let (_, second) = json_of(sign_in(second_key.clone()).await.expect("new key")).await;

    // Revoked at once (overlap 0): neither the first key nor its refresh works;
    // the newest does.
    let third = contact_ledger::tenant::rotate_key(&bus, app.store(), tenant, 0, std::time::Duration::from_secs(30))
        .await
        .expect("revoke");
    for key in [app.key.clone(), second_key] {
        assert_eq!(sign_in(key).await.expect("old key").status(), StatusCode::UNAUTHORIZED);
    }
    for token in [&first, &second] {
        let (status, body) = json_of(refresh(token["refresh_token"].clone()).await.expect("refresh")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let newest = third["api_key"].as_str().expect("api_key").to_owned();
    assert_eq!(sign_in(newest.clone()).await.expect("newest").status(), StatusCode::OK);
    let r = app.client.get(app.url("/v1/contacts")).bearer_auth(&app.key).send().await.expect("old key");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the revoked key opens no native route either");
    let r = app.client.get(app.url("/v1/contacts")).bearer_auth(&newest).send().await.expect("new key");
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
}

/// A token signed with the right secret but without our issuer, audience,
/// key id and key version (as tokens were made before) is not ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_issuer_audience_and_key_id_is_refused() {
    let app = spawn_app().await;
    let org = authenticate(&app).await;
    let secret = app.common.token_secret.clone().expect("the test app's token secret");
    let tenant: ledger_domain::TenantId = app.tenant_id.parse().expect("tenant");
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": tenant.to_string(), "org_id": org.id, "typ": "auth", "iat": now, "exp": now + 3600});
    let bare = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign");
    let (status, body) =
        json_of(call(&app, &Org { id: org.id, token: bare }, Method::GET, "/contact", None).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = json_of(call(&app, &org, Method::GET, "/contact", None).await).await;
    assert_eq!(status, StatusCode::OK, "the service's own token works");
    app.stop().await;
}

/// emnify's own Python SDK (tests/vendor-sdks/emnify), unchanged: what it
/// does against our routes is sign in (`POST /api/v1/authenticate`), and a
/// bad application token is its typed `UnauthorisedException`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emnifys_own_python_sdk_signs_in_and_a_bad_token_is_its_unauthorised_error() {
    let app = spawn_app().await;
    let python = std::env::var("CL_TEST_EMNIFY_PYTHON").expect("CL_TEST_EMNIFY_PYTHON (scripts/test sets it)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/vendor-sdks/emnify/run_python.py");
    let mut command = std::process::Command::new(python);
    command.arg(script).env("EMNIFY_BASE_URL", &app.base).env("EMNIFY_APP_TOKEN", &app.key);
    let out = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("run the SDK script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "emnify's SDK failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for call in ["construct", "authenticate", "authenticate_bad_token"] {
        assert!(stdout.contains(&format!("\"call\": \"{call}\", \"ok\": true")), "{call}:\n{stdout}");
    }
    app.stop().await;
}
