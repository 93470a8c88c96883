use contact_ledger_tests::spawn_app;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn define(app: &contact_ledger_tests::TestApp, reference: &str, rule: &str) {
    let r = app.post("/v1/access-roles", &json!({"reference": reference, "name": reference, "grant_rule": rule})).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
}

fn effective(roles: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = roles["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|g| {
            (
                g["reference"].as_str().unwrap_or_default().to_owned(),
                g["effective"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_follow_each_roles_rule_through_the_whole_service() {
    let app = spawn_app().await;
    define(&app, "customer", "automatic").await;
    define(&app, "trade-account", "manual_approval").await;
    define(&app, "newsletter", "email_verification").await;
    let dup = app
        .post("/v1/access-roles", &json!({"reference": "customer", "name": "again", "grant_rule": "automatic"}))
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let catalogue: Value = app.get("/v1/access-roles").await.json().await.expect("json");
    assert_eq!(catalogue["data"].as_array().map(Vec::len), Some(3));

    let user = app
        .create_contact(json!({"kind": "user", "first_name": "Bob", "last_name": "Bobsworth", "email": "bob@email.com", "invite": true,
            "access_roles": ["customer", "trade-account", "newsletter",
                {"reference": "customer", "expires": "2018-01-01T00:00:00+00:00", "status": "active"}]}))
        .await;
    let id = user["id"].as_str().expect("id");
    let roles: Value = app.get(&format!("/v1/contacts/{id}/roles")).await.json().await.expect("json");
    assert_eq!(
        effective(&roles),
        vec![
            ("customer".into(), "expired".into()),
            ("newsletter".into(), "pending".into()),
            ("trade-account".into(), "pending".into())
        ]
    );
    let back_then: Value =
        app.get(&format!("/v1/contacts/{id}/roles?as_of=2017-06-01T00:00:00Z")).await.json().await.expect("json");
    // The grants were made today: in 2017 none of them existed yet.
    assert_eq!(effective(&back_then), Vec::<(String, String)>::new(), "{back_then}");

    let approved = app.post(&format!("/v1/contacts/{id}/roles/trade-account/approve"), &json!({})).await;
    assert_eq!(approved.status(), StatusCode::OK);
    let roles: Value = app.get(&format!("/v1/contacts/{id}/roles")).await.json().await.expect("json");
    assert!(effective(&roles).contains(&("trade-account".into(), "active".into())));

    let revoke = app
        .client
        .delete(app.url(&format!("/v1/contacts/{id}/roles/newsletter")))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("delete");
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let again = app
        .client
        .delete(app.url(&format!("/v1/contacts/{id}/roles/newsletter")))
        .bearer_auth(&app.key)
        .send()
        .await
        .expect("delete");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let events: Value = app.get(&format!("/v1/contacts/{id}/events")).await.json().await.expect("json");
    let types: Vec<&str> = events["data"].as_array().expect("data").iter().filter_map(|e| e["type"].as_str()).collect();
    for t in ["ContactCreated", "RoleGranted", "InviteRequested", "RoleActivated", "RoleRevoked"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_roles_are_refused_and_grants_to_other_kinds_are_ignored_with_a_warning() {
    let app = spawn_app().await;
    define(&app, "customer", "automatic").await;
    let r = app
        .post("/v1/contacts", &json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "a@x.io", "invite": true, "access_roles": ["customer", "vip"]}))
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["errors"][0]["field"], "access_roles[1]");
    assert_eq!(problem["errors"][0]["code"], "unknown_role");

    for body in [
        json!({"kind": "guest", "first_name": "G", "last_name": "H", "email": "g@x.io", "access_roles": ["customer"]}),
        json!({"kind": "branch", "company": "Acme", "email": "b@x.io", "access_roles": ["customer"]}),
        json!({"kind": "recipient", "email": "r@x.io", "access_roles": ["customer"]}),
    ] {
        let created = app.create_contact(body).await;
        assert_eq!(created["warnings"][0]["code"], "ignored_for_kind", "{created}");
        let roles: Value = app
            .get(&format!("/v1/contacts/{}/roles", created["id"].as_str().expect("id")))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(roles["data"].as_array().map(Vec::len), Some(0));
    }
    app.stop().await;
}
