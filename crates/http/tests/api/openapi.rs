//! The published contract: `/openapi.json` lists every route the router
//! serves and nothing else, is a sound OpenAPI 3.1 document, and the real
//! answers (and the bodies a client sends) fit it; `/docs` renders it from
//! files the service itself serves.
use std::collections::BTreeSet;

use axum::{
    body::Body,
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::{self, Next},
    response::Response,
};
use serde_json::{Value, json};

use crate::{contract::Contract, support::*};

async fn contract(app: &TestApp) -> Contract {
    let r = app.send("GET", "/openapi.json", &[], Body::empty()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    Contract::new(r.body)
}

#[tokio::test]
async fn the_document_is_openapi_3_1_served_as_json_without_a_key() {
    let app = spawn_app();
    let r = app.send("GET", "/openapi.json", &[], Body::empty()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["openapi"], json!("3.1.0"));
    assert_eq!(r.body["info"]["title"], json!("Contact Ledger"));
    assert_eq!(r.body["components"]["securitySchemes"]["api_key"]["scheme"], json!("bearer"));
}

/// Paths the router matches, read from its `Debug` (axum has no other way
/// to list them): the quoted paths of its path router, not of its fallback.
fn router_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let start = debug.find("path_router:").expect("a path router");
    let end = debug.find("fallback_router:").expect("a fallback router");
    debug[start..end].split('"').skip(1).step_by(2).filter(|s| s.starts_with('/')).map(str::to_owned).collect()
}

/// A concrete path for a template: each parameter a placeholder.
fn concrete(template: &str) -> String {
    template.split('/').map(|s| if s.starts_with('{') { "probe-1" } else { s }).collect::<Vec<_>>().join("/")
}

/// Every (method, path) the router answers, found by asking it: a route
/// matched (its `MatchedPath` is the path) whose answer is not 405.
async fn served(app: &TestApp) -> BTreeSet<(String, String)> {
    async fn matched(req: Request, next: Next) -> Response {
        let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
        let mut response = next.run(req).await;
        response.headers_mut().insert("x-matched-route", HeaderValue::from_str(&route).expect("a header value"));
        response
    }
    let probe = app.router.clone().layer(middleware::from_fn(matched));
    let probing = TestApp { router: probe, world: app.world.clone(), tenant: app.tenant };
    // (the probes' answers are checked against the document too, by `send`)
    let paths = router_paths(&app.router);
    assert!(paths.contains("/v1/contacts") && paths.contains("/healthz"), "cannot read the routes: {paths:?}");
    let mut served = BTreeSet::new();
    for path in paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"] {
            let r = probing.send(method, &concrete(&path), &[], Body::empty()).await;
            if r.status != 405 && r.header("x-matched-route") == Some(path.as_str()) {
                served.insert((method.to_owned(), path.clone()));
            }
        }
    }
    served
}

#[tokio::test]
async fn every_route_the_router_serves_is_in_the_document_and_nothing_else() {
    let app = spawn_app();
    let documented: BTreeSet<(String, String)> = contract(&app).await.operations().into_iter().collect();
    let served = served(&app).await;
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(undocumented.is_empty(), "served but not in /openapi.json: {undocumented:?}");
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "in /openapi.json but not served: {unserved:?}");
    for route in [("POST", "/zephr/createContact"), ("GET", "/invite/{token}"), ("GET", "/docs"), ("GET", "/metrics")] {
        assert!(documented.contains(&(route.0.to_owned(), route.1.to_owned())), "{route:?}");
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_sound() {
    let app = spawn_app();
    let contract = contract(&app).await;
    let doc = &contract.doc;
    let mut ids = BTreeSet::new();
    let tags: BTreeSet<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_path: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no operationId"));
            assert!(ids.insert(id.to_owned()), "{at}: operationId {id} twice");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{at}: no summary");
            assert!(op["tags"].as_array().is_some_and(|t| t.len() == 1), "{at}: one tag");
            let tag = op["tags"][0].as_str().unwrap();
            assert!(tags.contains(tag), "{at}: the tag {tag} is not described in the document's tags");
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(scheme), "{at}: no security scheme {scheme}");
                }
            }
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(declared, in_path, "{at}: path parameters");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{at}: no success answer");
            for (status, response) in responses {
                let text = response["description"].as_str().unwrap_or_default();
                assert!(!text.is_empty(), "{at} {status}: no description");
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(response.get("content").is_some(), "{at} {status}: an error without a body");
                }
            }
            // Credentials mean a 401: a key or token in the header, or (the
            // one token exchange) in the body.
            let credentials = op.get("security").is_some() || op["operationId"] == "emnify_authenticate";
            assert_eq!(credentials, responses.contains_key("401"), "{at}: credentials mean a 401");
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    for r in all {
        assert!(doc.pointer(r.trim_start_matches('#')).is_some(), "{r} leads nowhere");
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let standalone = contract.standalone(schema);
        assert!(jsonschema::meta::is_valid(&standalone), "{name} is not a valid JSON Schema 2020-12");
        assert!(jsonschema::validator_for(&standalone).is_ok(), "{name} does not compile");
        for example in schema["examples"].as_array().into_iter().flatten() {
            contract.validate(schema, example).unwrap_or_else(|e| panic!("{name}'s example does not fit it: {e}"));
        }
    }
    for (name, schema) in [("NewContact", 2), ("ContactUpsert", 2), ("ContactPatch", 1), ("ZephrCreateContact", 1)] {
        let examples = doc["components"]["schemas"][name]["examples"].as_array().map_or(0, Vec::len);
        assert_eq!(examples, schema, "{name} has no example to show");
    }
    let codes = doc["components"]["schemas"]["Code"].to_string();
    for code in ledger_domain::Code::ALL {
        let row = format!("| `{code}` |");
        assert!(doc["info"]["description"].as_str().unwrap().contains(&row), "{code} is not in the table");
        assert!(codes.contains(&format!("\"{code}\"")), "{code} is not in the Code schema");
    }
}

/// A request as a client sends it: the body checked against the documented
/// request body, the answer against the documented answers.
async fn call(app: &TestApp, contract: &Contract, method: &str, path: &str, body: Option<&Value>) -> TestResponse {
    let r = match body {
        Some(body) => {
            contract.check_request(method, path, "application/json", body).unwrap_or_else(|e| panic!("{e}"));
            app.json(method, path, body, &[]).await
        }
        None => app.send(method, path, &[("authorization", &format!("Bearer {KEY}"))], Body::empty()).await,
    };
    answer_fits(contract, method, path, &r);
    r
}

fn answer_fits(contract: &Contract, method: &str, path: &str, r: &TestResponse) {
    contract
        .check_answer(method, path, r.status, r.header("content-type"), &r.body)
        .unwrap_or_else(|e| panic!("{e}\n{}", r.text));
}

#[tokio::test]
async fn contact_answers_fit_the_document() {
    let app = spawn_app();
    let c = contract(&app).await;
    let created = call(&app, &c, "POST", "/v1/contacts", Some(&a_user("ada@example.com"))).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    // The oracle itself: a body the document does not describe is refused.
    let json = Some("application/json");
    let mut broken = created.body.clone();
    broken.as_object_mut().unwrap().remove("version");
    assert!(c.check_answer("POST", "/v1/contacts", 201, json, &broken).is_err());
    broken["version"] = json!("one");
    assert!(c.check_answer("POST", "/v1/contacts", 201, json, &broken).is_err());
    assert!(c.check_answer("POST", "/v1/contacts", 418, json, &created.body).is_err());
    assert!(c.check_answer("POST", "/v1/contacts", 201, Some("text/html"), &created.body).is_err());
    let mut full = a_contact("full@example.com");
    full["external_id"] = json!("crm-1");
    full["tags"] = json!(["vip"]);
    full["metadata"] = json!({"source": "fair"});
    full["address"] = json!({"line1": "1 Main St", "city": "Leeds", "country_code": "gb"});
    full["access_roles"] = json!(["anything"]);
    let warned = call(&app, &c, "POST", "/v1/contacts", Some(&full)).await;
    assert_eq!((warned.status, warned.body["warnings"][0]["code"].clone()), (201, json!("ignored_for_kind")));
    let taken = call(&app, &c, "POST", "/v1/contacts", Some(&a_user("ada@example.com"))).await;
    assert_eq!(taken.status, 409, "{}", taken.text);
    let invalid = app.json("POST", "/v1/contacts", &json!({"kind": "user", "colour": 1}), &[]).await;
    answer_fits(&c, "POST", "/v1/contacts", &invalid);
    assert_eq!(invalid.status, 422);
    let refused = c.check_request("POST", "/v1/contacts", "application/json", &json!({"kind": "user", "colour": 1}));
    assert!(refused.is_err(), "the document admits an unknown field");
    let bad_json = app.send("POST", "/v1/contacts", &[("authorization", &format!("Bearer {KEY}"))], "{").await;
    answer_fits(&c, "POST", "/v1/contacts", &bad_json);
    let no_key = app.send("GET", "/v1/contacts", &[], Body::empty()).await;
    assert_eq!(no_key.status, 401);
    answer_fits(&c, "GET", "/v1/contacts", &no_key);

    let upsert = json!({"email": "zed@example.com", "first_name": "Zed"});
    let made = call(&app, &c, "POST", "/v1/contacts/upsert", Some(&upsert)).await;
    let again = call(&app, &c, "POST", "/v1/contacts/upsert", Some(&upsert)).await;
    assert_eq!((made.status, again.status), (201, 200));
    let by_external = json!({"match_on": "external_id", "external_id": "crm-1", "title": "CTO"});
    assert_eq!(call(&app, &c, "POST", "/v1/contacts/upsert", Some(&by_external)).await.status, 200);

    assert_eq!(call(&app, &c, "GET", &format!("/v1/contacts/{id}"), None).await.status, 200);
    assert_eq!(call(&app, &c, "GET", "/v1/contacts/crm-1", None).await.status, 200);
    assert_eq!(call(&app, &c, "GET", "/v1/contacts/nobody", None).await.status, 404);
    assert_eq!(call(&app, &c, "GET", "/v1/contacts/upsert", None).await.status, 404);
    let page = call(&app, &c, "GET", "/v1/contacts?limit=1&kind=contact", None).await;
    assert_eq!((page.status, page.body["has_more"].clone()), (200, json!(true)));
    let next = page.body["next_cursor"].as_str().unwrap();
    assert_eq!(call(&app, &c, "GET", &format!("/v1/contacts?limit=1&cursor={next}"), None).await.status, 200);
    assert_eq!(call(&app, &c, "GET", "/v1/contacts?limit=0", None).await.status, 422);

    let patch = json!({"title": "Countess", "phone": null, "tags": ["a", "b"], "address": {"city": "London"}});
    c.check_request("PATCH", &format!("/v1/contacts/{id}"), "application/merge-patch+json", &patch).unwrap();
    let headers = [("content-type", "application/merge-patch+json"), ("if-match", "\"1\"")];
    let auth = format!("Bearer {KEY}");
    let mut with_auth = vec![("authorization", auth.as_str())];
    with_auth.extend(headers);
    let body = serde_json::to_vec(&patch).unwrap();
    let patched = app.send("PATCH", &format!("/v1/contacts/{id}"), &with_auth, body.clone()).await;
    answer_fits(&c, "PATCH", &format!("/v1/contacts/{id}"), &patched);
    assert_eq!(patched.status, 200, "{}", patched.text);
    let stale = app.send("PATCH", &format!("/v1/contacts/{id}"), &with_auth, body).await;
    answer_fits(&c, "PATCH", &format!("/v1/contacts/{id}"), &stale);
    assert_eq!(stale.status, 412);
    let fixed = c.check_request("PATCH", &format!("/v1/contacts/{id}"), "application/json", &json!({"version": 9}));
    assert!(fixed.is_err(), "the document admits a read-only field");

    let events = call(&app, &c, "GET", &format!("/v1/contacts/{id}/events"), None).await;
    assert!(events.body["data"].as_array().unwrap().len() >= 2, "{}", events.text);
    assert_eq!(call(&app, &c, "DELETE", &format!("/v1/contacts/{id}"), None).await.status, 204);
    assert_eq!(call(&app, &c, "DELETE", &format!("/v1/contacts/{id}"), None).await.status, 404);
    assert_eq!(call(&app, &c, "GET", &format!("/v1/contacts/{id}/events"), None).await.status, 200);

    app.stall_decisions();
    let pending = call(&app, &c, "POST", "/v1/contacts", Some(&a_contact("late@example.com"))).await;
    assert_eq!((pending.status, pending.body["code"].clone()), (503, json!("decision_pending")));
}

#[tokio::test]
async fn role_invite_command_tenant_and_ops_answers_fit_the_document() {
    // Readiness asked afresh each time, so its 503 shows as soon as a port is down.
    let app = spawn_app_with(ledger_http::HttpConfig { probe_ttl: std::time::Duration::ZERO, ..test_config() });
    let c = contract(&app).await;
    for (reference, rule) in [("trade", "manual_approval"), ("news", "automatic")] {
        let role = json!({"reference": reference, "name": reference, "grant_rule": rule});
        assert_eq!(call(&app, &c, "POST", "/v1/access-roles", Some(&role)).await.status, 201);
    }
    let again = json!({"reference": "trade", "name": "Trade", "grant_rule": "automatic"});
    assert_eq!(call(&app, &c, "POST", "/v1/access-roles", Some(&again)).await.status, 409);
    assert_eq!(call(&app, &c, "GET", "/v1/access-roles", None).await.status, 200);
    assert_eq!(call(&app, &c, "GET", "/v1/access-roles/trade", None).await.status, 200);
    assert_eq!(call(&app, &c, "GET", "/v1/access-roles/none", None).await.status, 404);

    let (id, _) = app.invited_user(an_invited_user("grace@example.com"), "tok-grace").await;
    let roles = format!("/v1/contacts/{id}/roles");
    let grants = json!({"access_roles": ["trade", {"reference": "news", "expires": "2099-01-01T00:00:00Z"}]});
    let granted = call(&app, &c, "POST", &roles, Some(&grants)).await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert_eq!(call(&app, &c, "POST", &roles, Some(&json!({"access_roles": ["nope"]}))).await.status, 422);
    assert_eq!(call(&app, &c, "GET", &roles, None).await.status, 200);
    assert_eq!(call(&app, &c, "POST", &format!("{roles}/trade/approve"), None).await.status, 200);
    assert_eq!(call(&app, &c, "DELETE", &format!("{roles}/news"), None).await.status, 204);
    assert_eq!(call(&app, &c, "DELETE", &format!("{roles}/news"), None).await.status, 404);
    let past = call(&app, &c, "GET", &format!("{roles}?as_of=2999-01-01T00:00:00Z"), None).await;
    assert!(past.text.contains("revoked_at"), "{}", past.text);
    assert_eq!(call(&app, &c, "GET", &format!("{roles}?as_of=yesterday"), None).await.status, 422);

    let invited = call(&app, &c, "POST", &format!("/v1/contacts/{id}/invites"), None).await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    let page = app.send("GET", "/invite/tok-grace", &[], Body::empty()).await;
    answer_fits(&c, "GET", "/invite/tok-grace", &page);
    assert_eq!(page.status, 410, "a newer invite supersedes the link: {}", page.text);
    let (_, _) = app.invited_user(an_invited_user("alan@example.com"), "tok-alan").await;
    let form = app.send("GET", "/invite/tok-alan", &[], Body::empty()).await;
    answer_fits(&c, "GET", "/invite/tok-alan", &form);
    let weak = app.form("/invite/tok-alan", &[("password", "x"), ("password_confirmation", "x")]).await;
    answer_fits(&c, "POST", "/invite/tok-alan", &weak);
    assert_eq!(weak.status, 422);
    let acceptance = json!({"token": "tok-alan", "password": "analytical1engine"});
    c.check_request("POST", "/v1/invites/accept", "application/json", &acceptance).unwrap();
    let body = serde_json::to_vec(&acceptance).unwrap();
    let accepted = app.send("POST", "/v1/invites/accept", &[("content-type", "application/json")], body).await;
    answer_fits(&c, "POST", "/v1/invites/accept", &accepted);
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    let used = app.send("GET", "/invite/tok-alan", &[], Body::empty()).await;
    answer_fits(&c, "GET", "/invite/tok-alan", &used);

    let envelope = json!({"type": "ConfigureTenant", "payload": {"contact_capture": false}});
    let submitted = call(&app, &c, "POST", "/v1/commands", Some(&envelope)).await;
    assert_eq!(submitted.status, 202, "{}", submitted.text);
    let command = submitted.body["command_id"].as_str().unwrap();
    assert_eq!(call(&app, &c, "GET", &format!("/v1/commands/{command}"), None).await.body["status"], "accepted");
    let doomed = json!({"type": "DeleteContact", "payload": {"contact_id": "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV"}});
    let rejected = call(&app, &c, "POST", "/v1/commands", Some(&doomed)).await;
    let command = rejected.body["command_id"].as_str().unwrap();
    let status = call(&app, &c, "GET", &format!("/v1/commands/{command}"), None).await;
    assert_eq!(status.body["status"], "rejected", "{}", status.text);
    let forbidden = json!({"type": "CreateTenant", "payload": {"name": "x", "api_key_hash": "y"}});
    assert!(c.check_request("POST", "/v1/commands", "application/json", &forbidden).is_err());
    let r = app.json("POST", "/v1/commands", &forbidden, &[]).await;
    answer_fits(&c, "POST", "/v1/commands", &r);
    assert_eq!(r.status, 403);
    let unknown = format!("/v1/commands/{}", ulid::Ulid::new());
    assert_eq!(call(&app, &c, "GET", &unknown, None).await.status, 404);

    assert_eq!(call(&app, &c, "GET", "/v1/tenant", None).await.status, 200);
    let capture = json!({"contact_capture": true});
    assert_eq!(call(&app, &c, "PATCH", "/v1/tenant", Some(&capture)).await.status, 200);

    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/swagger-ui.css", "/docs/nope"] {
        let r = app.send("GET", path, &[], Body::empty()).await;
        answer_fits(&c, "GET", path, &r);
    }
    app.take_down("database_ready");
    let r = app.send("GET", "/readyz", &[], Body::empty()).await;
    assert_eq!(r.status, 503);
    answer_fits(&c, "GET", "/readyz", &r);
}

#[tokio::test]
async fn zephr_answers_fit_the_document() {
    let app = spawn_app();
    let c = contract(&app).await;
    let path = "/zephr/createContact";
    let body = json!({"identifiers": {"email_address": "z@example.com"}, "attributes": {"plan": "gold"}});
    let created = call(&app, &c, "POST", path, Some(&body)).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(call(&app, &c, "POST", path, Some(&body)).await.body["message"], "Updating contact successful");
    let wrong = app.json("POST", path, &json!({"identifiers": {}, "attributes": {"plan": 1}}), &[]).await;
    answer_fits(&c, "POST", path, &wrong);
    assert_eq!(wrong.status, 400);
    let no_key = app.send("POST", path, &[("content-type", "application/json")], "{}").await;
    answer_fits(&c, "POST", path, &no_key);
    assert_eq!(no_key.status, 401);
}

#[tokio::test]
async fn the_reference_page_loads_only_files_the_service_serves() {
    let app = spawn_app();
    let page = app.send("GET", "/docs", &[], Body::empty()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    let mut loaded = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in page.text.split(attribute).skip(1) {
            loaded.push(piece.split('"').next().unwrap().to_owned());
        }
    }
    assert!(loaded.len() >= 5, "{loaded:?}");
    for url in &loaded {
        assert!(url.starts_with("/docs/"), "{url} is not the service's own");
        let r = app.send("GET", url, &[], Body::empty()).await;
        assert_eq!(r.status, 200, "{url}");
        assert!(r.header("content-security-policy").is_some(), "{url}");
    }
    let init = app.send("GET", "/docs/swagger-initializer.js", &[], Body::empty()).await;
    assert!(init.text.contains("\"/openapi.json\""), "{}", init.text);
    assert!(init.text.contains("\"validatorUrl\": \"none\""), "{}", init.text);
    assert!(!init.text.contains("http://") && !init.text.contains("https://"), "{}", init.text);
    let missing = app.send("GET", "/docs/nope.js", &[], Body::empty()).await;
    assert_eq!((missing.status, missing.problem_code()), (404, "not_found"));
}

#[tokio::test]
async fn the_documents_example_bodies_are_accepted() {
    let app = spawn_app();
    let c = contract(&app).await;
    let examples = |name: &str| c.doc["components"]["schemas"][name]["examples"].as_array().cloned().unwrap();
    for reference in ["newsletter", "trade-account"] {
        let role = json!({"reference": reference, "name": reference, "grant_rule": "automatic"});
        assert_eq!(call(&app, &c, "POST", "/v1/access-roles", Some(&role)).await.status, 201);
    }
    let mut user = None;
    for example in examples("NewContact") {
        let r = call(&app, &c, "POST", "/v1/contacts", Some(&example)).await;
        assert_eq!(r.status, 201, "{example}: {}", r.text);
        user = user.or_else(|| (r.body["kind"] == "user").then(|| r.body["id"].as_str().unwrap().to_owned()));
    }
    for example in examples("ContactUpsert") {
        let r = call(&app, &c, "POST", "/v1/contacts/upsert", Some(&example)).await;
        assert!(r.status == 200 || r.status == 201, "{example}: {}", r.text);
    }
    let user = user.expect("a user example");
    for example in examples("ContactPatch") {
        let r = call(&app, &c, "PATCH", &format!("/v1/contacts/{user}"), Some(&example)).await;
        assert_eq!(r.status, 200, "{example}: {}", r.text);
    }
    for example in examples("RoleGrants") {
        let r = call(&app, &c, "POST", &format!("/v1/contacts/{user}/roles"), Some(&example)).await;
        assert_eq!(r.status, 200, "{example}: {}", r.text);
    }
    for example in examples("ZephrCreateContact") {
        let r = call(&app, &c, "POST", "/zephr/createContact", Some(&example)).await;
        assert_eq!(r.status, 200, "{example}: {}", r.text);
    }
}
