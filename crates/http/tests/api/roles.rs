use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use ledger_domain::Command;
use serde_json::{Value, json};

use crate::support::*;

async fn define(app: &TestApp, reference: &str, rule: &str) {
    let body = json!({ "reference": reference, "name": reference.to_uppercase(), "grant_rule": rule });
    let r = app.json("POST", "/v1/access-roles", &body, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A tenant with one role of each rule.
async fn app_with_roles() -> TestApp {
    let app = spawn_app();
    define(&app, "customer", "automatic").await;
    define(&app, "trade-account", "manual_approval").await;
    define(&app, "newsletter", "email_verification").await;
    app
}

/// Creates a user with these grants and returns its id.
async fn user_with(app: &TestApp, email: &str, roles: Value) -> String {
    let mut body = a_user(email);
    body["access_roles"] = roles;
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body.get("warnings").is_none(), "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// `(reference, status, effective)` of each grant in a grant list.
fn grants(body: &Value) -> Vec<(String, String, String)> {
    let field = |g: &Value, k: &str| g[k].as_str().unwrap_or_default().to_owned();
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|g| (field(g, "reference"), field(g, "status"), field(g, "effective")))
        .collect()
}

fn grant(reference: &str, status: &str, effective: &str) -> (String, String, String) {
    (reference.to_owned(), status.to_owned(), effective.to_owned())
}

#[tokio::test]
async fn defining_a_role_answers_201_with_its_location_and_the_catalogue_lists_it() {
    let app = spawn_app();
    let body = json!({ "reference": "trade-account", "name": "Trade account", "grant_rule": "manual_approval" });
    let r = app.json("POST", "/v1/access-roles", &body, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("location"), Some("/v1/access-roles/trade-account"));
    assert_eq!(r.body["reference"], json!("trade-account"));
    assert_eq!(r.body["name"], json!("Trade account"));
    assert_eq!(r.body["grant_rule"], json!("manual_approval"));
    assert!(r.body["created_at"].is_string(), "{}", r.text);

    let one = app.get("/v1/access-roles/trade-account").await;
    assert_eq!((one.status, &one.body), (200, &r.body), "{}", one.text);
    let list = app.get("/v1/access-roles").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body, json!({ "data": [r.body] }));
    let missing = app.get("/v1/access-roles/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.problem_code(), "role_not_found");
}

#[tokio::test]
async fn defining_a_taken_reference_gets_409_role_exists() {
    let app = spawn_app();
    define(&app, "customer", "automatic").await;
    let r = app
        .json(
            "POST",
            "/v1/access-roles",
            &json!({ "reference": "customer", "name": "Again", "grant_rule": "automatic" }),
            &[],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.problem_code(), "role_exists");
    assert!(r.has_error("reference", "role_exists"), "{}", r.text);
}

#[tokio::test]
async fn a_bad_role_definition_lists_every_field_and_publishes_nothing() {
    let app = spawn_app();
    let body = json!({ "reference": "Not A Slug", "grant_rule": "sometimes", "colour": "red" });
    let r = app.json("POST", "/v1/access-roles", &body, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    for (field, code) in [
        ("reference", "invalid_reference"),
        ("name", "required"),
        ("grant_rule", "invalid_value"),
        ("colour", "unknown_field"),
    ] {
        assert!(r.has_error(field, code), "{field}: {}", r.text);
    }
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn a_user_created_with_string_and_object_grants_gets_each_roles_rule_or_the_override() {
    let app = app_with_roles().await;
    let roles = json!([
        "customer",
        "trade-account",
        { "reference": "newsletter", "expires": "2090-01-01T00:00:00+00:00", "status": "active" },
    ]);
    let id = user_with(&app, "ada@example.com", roles).await;
    let submitted = app.world.submitted();
    let Command::CreateContact(c) = &submitted.last().unwrap().command else { panic!() };
    assert_eq!(c.access_roles.len(), 3);

    let r = app.get(&format!("/v1/contacts/{id}/roles")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        grants(&r.body),
        [
            grant("customer", "active", "active"),
            grant("newsletter", "active", "active"),
            grant("trade-account", "pending", "pending")
        ]
    );
    let newsletter = &r.body["data"][1];
    assert_eq!(newsletter["expires"], json!("2090-01-01T00:00:00Z"));
    assert!(newsletter["granted_at"].is_string() && r.body["as_of"].is_string(), "{}", r.text);
    assert_eq!(r.body["data"][0]["expires"], Value::Null);
}

#[tokio::test]
async fn an_unknown_reference_gets_422_naming_its_index_and_creates_nothing() {
    let app = app_with_roles().await;
    let mut body = a_user("vip@example.com");
    body["access_roles"] = json!(["customer", { "reference": "vip" }]);
    let r = app.json("POST", "/v1/contacts", &body, &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_code(), "validation_failed");
    assert_eq!(r.field_errors(), [("access_roles[1]".to_owned(), "unknown_role".to_owned())]);
    assert_eq!(app.get("/v1/contacts").await.body["data"], json!([]));
    assert_eq!(app.get("/v1/access-roles/vip").await.status, 404);
}

#[tokio::test]
async fn grants_given_to_a_guest_or_a_contact_are_ignored_with_a_warning() {
    let app = app_with_roles().await;
    let mut guest = a_user("guest@example.com");
    guest["kind"] = json!("guest");
    guest.as_object_mut().unwrap().remove("password");
    guest["access_roles"] = json!(["customer", "not-even-defined"]);
    let r = app.json("POST", "/v1/contacts", &guest, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let warning = json!([{
        "field": "access_roles", "code": "ignored_for_kind", "message": "access roles are only granted to users",
    }]);
    assert_eq!(r.body["warnings"], warning);
    assert_eq!(r.body["kind"], json!("guest"));
    let roles = app.get(&format!("/v1/contacts/{}/roles", r.body["id"].as_str().unwrap())).await;
    assert_eq!((roles.status, &roles.body["data"]), (200, &json!([])), "{}", roles.text);

    let upsert = json!({ "email": "c@example.com", "access_roles": ["customer"] });
    let r = app.json("POST", "/v1/contacts/upsert", &upsert, &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["warnings"], warning);
    let r = app
        .json("POST", "/v1/contacts", &json!({ "kind": "contact", "email": "d@example.com", "access_roles": [] }), &[])
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body.get("warnings").is_none(), "nothing asked, nothing ignored: {}", r.text);
}

#[tokio::test]
async fn granting_later_answers_200_with_every_grant_and_warns_for_a_non_user() {
    let app = app_with_roles().await;
    let id = user_with(&app, "later@example.com", json!(["customer"])).await;
    let path = format!("/v1/contacts/{id}/roles");
    let r = app.json("POST", &path, &json!({ "access_roles": ["trade-account"] }), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(grants(&r.body), [grant("customer", "active", "active"), grant("trade-account", "pending", "pending")]);
    assert!(r.body.get("warnings").is_none(), "{}", r.text);

    let r = app.json("POST", &path, &json!({ "access_roles": ["vip"], "contact_id": id }), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.has_error("contact_id", "unknown_field"), "{}", r.text);
    let r = app.json("POST", &path, &json!({ "access_roles": ["customer", "vip"] }), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.field_errors(), [("access_roles[1]".to_owned(), "unknown_role".to_owned())]);

    let contact = app.json("POST", "/v1/contacts", &a_contact("plain@example.com"), &[]).await;
    let plain = contact.body["id"].as_str().unwrap();
    let r =
        app.json("POST", &format!("/v1/contacts/{plain}/roles"), &json!({ "access_roles": ["customer"] }), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["data"], json!([]));
    assert_eq!(r.body["warnings"][0]["code"], json!("ignored_for_kind"));

    let r = app
        .json("POST", "/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/roles", &json!({ "access_roles": [] }), &[])
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_not_found");
}

#[tokio::test]
async fn approving_a_pending_grant_makes_it_active_and_approving_again_changes_nothing() {
    let app = app_with_roles().await;
    let id = user_with(&app, "appr@example.com", json!(["trade-account", "newsletter"])).await;
    let approve = format!("/v1/contacts/{id}/roles/trade-account/approve");
    let r = app.json("POST", &approve, &json!({}), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        grants(&r.body),
        [grant("newsletter", "pending", "pending"), grant("trade-account", "active", "active")]
    );
    let submitted = app.world.submitted().len();
    let again = app.json("POST", &approve, &json!({}), &[]).await;
    assert_eq!((again.status, &again.body["data"]), (200, &r.body["data"]), "{}", again.text);
    assert_eq!(app.world.submitted().len(), submitted + 1);

    let r = app.json("POST", &format!("/v1/contacts/{id}/roles/customer/approve"), &json!({}), &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "grant_not_found");
    let r = app.json("POST", &format!("/v1/contacts/{id}/roles/Not%20A%20Slug/approve"), &json!({}), &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "grant_not_found");
    assert_eq!(app.world.submitted().len(), submitted + 2, "a non-slug reference is not published");
    let r = app.json("POST", "/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/roles/x/approve", &json!({}), &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_not_found");
}

#[tokio::test]
async fn revoking_answers_204_without_a_body_then_404_grant_not_found() {
    let app = app_with_roles().await;
    let id = user_with(&app, "rev@example.com", json!(["customer", "newsletter"])).await;
    let auth = format!("Bearer {KEY}");
    let path = format!("/v1/contacts/{id}/roles/customer");
    let r = app.send("DELETE", &path, &[("authorization", auth.as_str())], "").await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!((r.text.as_str(), r.header("content-type")), ("", None));
    let roles = app.get(&format!("/v1/contacts/{id}/roles")).await;
    assert_eq!(grants(&roles.body), [grant("newsletter", "pending", "pending")]);

    let r = app.send("DELETE", &path, &[("authorization", auth.as_str())], "").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "grant_not_found");

    // With a key, a retry gets the first answer back rather than a 404.
    let keyed = [("authorization", auth.as_str()), ("idempotency-key", "revoke-newsletter")];
    let path = format!("/v1/contacts/{id}/roles/newsletter");
    for _ in 0..2 {
        let r = app.send("DELETE", &path, &keyed, "").await;
        assert_eq!((r.status, r.text.as_str()), (204, ""));
    }
    let r = app.send("DELETE", "/v1/contacts/not-an-id/roles/customer", &[("authorization", auth.as_str())], "").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_not_found");
}

#[tokio::test]
async fn as_of_before_an_expiry_shows_the_grant_active_and_after_it_expired() {
    let app = app_with_roles().await;
    let roles = json!([
        { "reference": "customer", "expires": "2030-01-01T00:00:00Z" },
        { "reference": "trade-account", "expires": "2018-01-01T00:00:00+00:00", "status": "active" },
    ]);
    let id = user_with(&app, "exp@example.com", roles).await;
    let at = |q: &str| format!("/v1/contacts/{id}/roles?as_of={q}");

    let before = app.get(&at("2029-12-31T23:59:59Z")).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.body["as_of"], json!("2029-12-31T23:59:59Z"));
    assert_eq!(grants(&before.body)[0], grant("customer", "active", "active"));
    // An unescaped `+` arrives as a space and still means the offset.
    let after = app.get(&at("2030-01-01T01:00:00+01:00")).await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(after.body["as_of"], json!("2030-01-01T00:00:00Z"));
    assert_eq!(grants(&after.body)[0], grant("customer", "active", "expired"));

    let now = app.get(&format!("/v1/contacts/{id}/roles")).await;
    assert_eq!(grants(&now.body)[1], grant("trade-account", "active", "expired"));
    // Before the grants were made there were none, whatever their expiry says.
    let long_ago = app.get(&at("2017-06-01T00:00:00%2B02:00")).await;
    assert_eq!((long_ago.status, &long_ago.body["data"]), (200, &json!([])), "{}", long_ago.text);
}

/// A time as the query string carries it (`+` escaped), to the nanosecond.
fn query_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// A contact's grant list, now or `as_of` a time.
async fn roles_as_of(app: &TestApp, id: &str, as_of: Option<DateTime<Utc>>) -> Value {
    let path = match as_of {
        Some(t) => format!("/v1/contacts/{id}/roles?as_of={}", query_time(t)),
        None => format!("/v1/contacts/{id}/roles"),
    };
    let r = app.get(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn time_of(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a time: {v}"))
}

/// Returns once the wall clock (at the microseconds commands are stamped
/// with) has passed `t`, so the next command is stamped later; panics if it
/// has not within a second.
async fn clock_past(t: DateTime<Utc>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while Utc::now().trunc_subsecs(6) <= t {
        assert!(std::time::Instant::now() < deadline, "the clock did not pass {t}");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn as_of_shows_each_grant_as_it_stood_then_absent_pending_active_or_revoked() {
    let app = app_with_roles().await;
    let id = user_with(&app, "past@example.com", json!(["trade-account", "customer"])).await;
    let list = |as_of: Option<DateTime<Utc>>| roles_as_of(&app, &id, as_of);
    let granted_at = time_of(&list(None).await["data"][0]["granted_at"]);
    clock_past(granted_at).await;
    let approved = app.json("POST", &format!("/v1/contacts/{id}/roles/trade-account/approve"), &json!({}), &[]).await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let approved_at = time_of(&approved.body["data"][1]["granted_at"]);
    assert!(approved_at > granted_at);
    clock_past(approved_at).await;
    let auth = format!("Bearer {KEY}");
    let r =
        app.send("DELETE", &format!("/v1/contacts/{id}/roles/customer"), &[("authorization", auth.as_str())], "").await;
    assert_eq!(r.status, 204, "{}", r.text);
    let events = app.get(&format!("/v1/contacts/{id}/events")).await;
    let revoked_at = time_of(&events.body["data"].as_array().unwrap().last().unwrap()["time"]);
    assert!(revoked_at > approved_at);

    // Before the grant: nothing, though the grant has no expiry.
    let before = list(Some("2019-01-01T00:00:00Z".parse().unwrap())).await;
    assert_eq!(before["data"], json!([]), "{before}");
    // Granted, not yet approved.
    let between = list(Some(granted_at)).await;
    assert_eq!(between["as_of"], json!(granted_at));
    assert_eq!(grants(&between), [grant("customer", "active", "active"), grant("trade-account", "pending", "pending")]);
    // Approved, not yet revoked.
    let approved = list(Some(approved_at)).await;
    assert_eq!(grants(&approved), [grant("customer", "active", "active"), grant("trade-account", "active", "active")]);
    assert_eq!(time_of(&approved["data"][1]["granted_at"]), approved_at);
    // After the revocation the revoked grant is listed as revoked, with when.
    let after = list(Some(revoked_at)).await;
    assert_eq!(grants(&after), [grant("customer", "active", "revoked"), grant("trade-account", "active", "active")]);
    assert_eq!(time_of(&after["data"][0]["revoked_at"]), revoked_at);
    assert_eq!(time_of(&after["data"][0]["granted_at"]), granted_at);
    assert!(after["data"][1].get("revoked_at").is_none(), "{after}");
    // Without as_of: the current grants only, as before.
    assert_eq!(grants(&list(None).await), [grant("trade-account", "active", "active")]);
}

#[tokio::test]
async fn a_bad_as_of_gets_422_and_an_unknown_contact_404() {
    let app = app_with_roles().await;
    let id = user_with(&app, "q@example.com", json!(["customer"])).await;
    let r = app.get(&format!("/v1/contacts/{id}/roles?as_of=yesterday&colour=red")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.has_error("as_of", "invalid_time") && r.has_error("colour", "unknown_field"), "{}", r.text);
    let r = app.get("/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/roles").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "contact_not_found");
}

#[tokio::test]
async fn role_routes_need_an_api_key() {
    let app = spawn_app();
    for (method, path) in [
        ("GET", "/v1/access-roles"),
        ("POST", "/v1/access-roles"),
        ("GET", "/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/roles"),
        ("DELETE", "/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/roles/customer"),
    ] {
        let r = app.send(method, path, &[("content-type", "application/json")], "{}").await;
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        assert_eq!(r.problem_code(), "unauthorized");
    }
}
