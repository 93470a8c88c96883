use chrono::{DateTime, Duration, Utc};
use ledger_domain::Command;
use serde_json::{Value, json};

use crate::support::*;

const TOKEN: &str = "tok_3f9a8c1e5b7d2f4a6c8e0b1d3f5a7c9e";
const PASSWORD: &str = "babbage1842";

async fn accept(app: &TestApp, token: &str, password: &str) -> TestResponse {
    let body = serde_json::to_vec(&json!({ "token": token, "password": password })).unwrap();
    app.send("POST", "/v1/invites/accept", &[("content-type", "application/json")], body).await
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).unwrap_or_else(|| panic!("not a time: {v}")).into()
}

#[tokio::test]
async fn requesting_an_invite_answers_201_with_the_invite_its_expiry_and_the_contacts_location() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_user("inv@example.com"), &[]).await;
    let id = created.body["id"].as_str().unwrap();
    let r = app.json("POST", &format!("/v1/contacts/{id}/invites"), &json!({}), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("location"), Some(format!("/v1/contacts/{id}").as_str()));
    assert!(r.body["invite_id"].as_str().unwrap().starts_with("invite_"), "{}", r.text);
    assert_eq!(r.body["contact_id"], json!(id));
    let in_a_week = time(&r.body["expires_at"]) - Utc::now();
    assert!(in_a_week > Duration::days(7) - Duration::minutes(1) && in_a_week <= Duration::days(7), "{}", r.text);
    let submitted = app.world.submitted();
    assert!(matches!(submitted.last().unwrap().command, Command::RequestInvite(_)));

    let events = app.get(&format!("/v1/contacts/{id}/events")).await;
    let last = events.body["data"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last["type"].clone(), last["data"]["invite_id"].clone()),
        (json!("InviteRequested"), r.body["invite_id"].clone())
    );
}

#[tokio::test]
async fn an_invite_for_a_non_user_gets_422_and_for_an_unknown_contact_404() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_contact("plain@example.com"), &[]).await;
    let id = created.body["id"].as_str().unwrap();
    let r = app.json("POST", &format!("/v1/contacts/{id}/invites"), &json!({}), &[]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.problem_code(), "validation_failed");
    assert!(r.has_error("contact_id", "only_for_users"), "{}", r.text);

    for path in ["/v1/contacts/contact_01ARZ3NDEKTSV4RRFFQ69G5FAV/invites", "/v1/contacts/not-an-id/invites"] {
        let r = app.json("POST", path, &json!({}), &[]).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.problem_code(), "contact_not_found");
    }
    let r = app.send("POST", &format!("/v1/contacts/{id}/invites"), &[], "").await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test]
async fn a_retried_invite_request_with_the_same_key_gets_the_same_invite() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_user("again@example.com"), &[]).await;
    let path = format!("/v1/contacts/{}/invites", created.body["id"].as_str().unwrap());
    let first = app.json("POST", &path, &json!({}), &[("idempotency-key", "invite-1")]).await;
    let second = app.json("POST", &path, &json!({}), &[("idempotency-key", "invite-1")]).await;
    assert_eq!((first.status, &first.body), (second.status, &second.body));
    assert_eq!(first.status, 201, "{}", first.text);
}

#[tokio::test]
async fn accepting_sets_an_argon2id_hash_registers_the_user_and_activates_verification_grants() {
    let app = spawn_app();
    for (reference, rule) in [("newsletter", "email_verification"), ("trade", "manual_approval")] {
        let body = json!({ "reference": reference, "name": reference, "grant_rule": rule });
        assert_eq!(app.json("POST", "/v1/access-roles", &body, &[]).await.status, 201);
    }
    let mut body = an_invited_user("ada@example.com");
    body["access_roles"] = json!(["newsletter", "trade"]);
    let (id, _) = app.invited_user(body, TOKEN).await;
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(false));

    let r = accept(&app, TOKEN, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["registered"], json!(true));
    assert_eq!((r.body["contact"]["id"].clone(), r.body["contact"]["registered"].clone()), (json!(id), json!(true)));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.text.contains(PASSWORD) && !r.text.contains("argon2"), "{}", r.text);

    let submitted = app.world.submitted();
    let envelope = submitted.last().unwrap();
    assert_eq!(envelope.tenant_id, app.tenant);
    let Command::AcceptInvite(a) = &envelope.command else { panic!("{:?}", envelope.command) };
    assert!(a.password_hash.starts_with("$argon2id$"), "{a:?}");
    let wire = String::from_utf8(envelope.to_bytes().expect("encodes")).unwrap();
    assert!(!wire.contains(PASSWORD) && !wire.contains(TOKEN), "a secret on the wire: {wire}");

    let events = app.get(&format!("/v1/contacts/{id}/events")).await;
    let types: Vec<&str> =
        events.body["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.ends_with(&["PasswordSet", "InviteAccepted", "RoleActivated"]), "{types:?}");
    let roles = app.get(&format!("/v1/contacts/{id}/roles")).await;
    let statuses: Vec<(&str, &str)> = roles.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["reference"].as_str().unwrap(), g["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("newsletter", "active"), ("trade", "pending")]);
}

#[tokio::test]
async fn accepting_with_an_unknown_token_gets_404_invite_not_found() {
    let app = spawn_app();
    let r = accept(&app, "no-such-token", PASSWORD).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.problem_code(), "invite_not_found");
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn a_used_invite_gets_410_invite_used_from_the_read_model_or_from_the_decision() {
    let app = spawn_app();
    let (id, invite) = app.invited_user(an_invited_user("used@example.com"), TOKEN).await;
    assert_eq!(accept(&app, TOKEN, PASSWORD).await.status, 200);
    let published = app.world.submitted().len();

    let r = accept(&app, TOKEN, "another1password").await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(r.problem_code(), "invite_used");
    assert_eq!(app.world.submitted().len(), published, "the read model answered; nothing is published");

    // A read model that has not caught up yet: the domain still refuses.
    let mut stale = app.world.invite_view(app.tenant, invite);
    stale.state = ledger_ports::InviteState::Sent;
    app.world.add_invite_token("stale-token", stale);
    let r = accept(&app, "stale-token", "another1password").await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(r.problem_code(), "invite_used");
    assert_eq!(app.world.submitted().len(), published + 1);
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(true));
}

#[tokio::test]
async fn an_expired_invite_gets_410_invite_expired_from_the_read_model_or_from_the_decision() {
    let app = spawn_app();
    let created = app.json("POST", "/v1/contacts", &a_user("late@example.com"), &[]).await;
    let id = created.body["id"].as_str().unwrap();
    // An invite requested long ago: it expired on 8 January 2020. (A command
    // back-dated through `issued_at` cannot make one: it happens when decided.)
    let envelope = json!({ "type": "RequestInvite", "payload": { "contact_id": id } });
    let r = app.json("POST", "/v1/commands", &envelope, &[]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let decided = app.get(&format!("/v1/commands/{}", r.body["command_id"].as_str().unwrap())).await;
    let invite = decided.body["events"][0]["data"]["invite_id"].as_str().unwrap().parse().unwrap();
    let expired = "2020-01-08T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
    app.world.expire_invite(app.tenant, invite, expired);
    let view = app.world.invite_view(app.tenant, invite);
    assert_eq!(view.expires_at, expired);
    app.world.add_invite_token(TOKEN, view.clone());
    let published = app.world.submitted().len();

    let r = accept(&app, TOKEN, PASSWORD).await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(r.problem_code(), "invite_expired");
    assert_eq!(app.world.submitted().len(), published, "refused before hashing or publishing");

    let mut wrong = view;
    wrong.expires_at = Utc::now() + Duration::days(1);
    app.world.add_invite_token("wrong-expiry", wrong);
    let r = accept(&app, "wrong-expiry", PASSWORD).await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(r.problem_code(), "invite_expired");
    assert_eq!(app.world.submitted().len(), published + 1);
}

#[tokio::test]
async fn a_replaced_invite_gets_410_invite_superseded_from_the_read_model_or_from_the_decision() {
    let app = spawn_app();
    let (id, first) = app.invited_user(an_invited_user("twice@example.com"), TOKEN).await;
    let r = app.json("POST", &format!("/v1/contacts/{id}/invites"), &json!({}), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let published = app.world.submitted().len();

    // Whatever the password: the link is gone before its rule matters.
    for password in ["short", PASSWORD] {
        let r = accept(&app, TOKEN, password).await;
        assert_eq!(r.status, 410, "{password}: {}", r.text);
        assert_eq!(r.problem_code(), "invite_superseded");
    }
    assert_eq!(app.world.submitted().len(), published, "the read model answered; nothing is published");

    // A read model that has not caught up yet: the domain still refuses.
    let mut stale = app.world.invite_view(app.tenant, first);
    stale.state = ledger_ports::InviteState::Sent;
    app.world.add_invite_token("stale-token", stale);
    let r = accept(&app, "stale-token", PASSWORD).await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(r.problem_code(), "invite_superseded");
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(false));
}

#[tokio::test]
async fn a_weak_password_gets_422_naming_the_field_and_publishes_nothing() {
    let app = spawn_app();
    let (id, _) = app.invited_user(an_invited_user("weak@example.com"), TOKEN).await;
    let published = app.world.submitted().len();
    for weak in ["short1", "lettersonly", "1234567890"] {
        let r = accept(&app, TOKEN, weak).await;
        assert_eq!(r.status, 422, "{weak}: {}", r.text);
        assert_eq!(r.problem_code(), "validation_failed");
        assert_eq!(r.field_errors(), [("password".to_owned(), "weak_password".to_owned())]);
        assert!(!r.text.contains(weak), "{}", r.text);
    }
    let body = serde_json::to_vec(&json!({ "password": "x", "token": 7, "remember": true })).unwrap();
    let r = app.send("POST", "/v1/invites/accept", &[("content-type", "application/json")], body).await;
    assert_eq!(r.status, 422, "{}", r.text);
    for (field, code) in [("token", "invalid_type"), ("remember", "unknown_field"), ("password", "weak_password")] {
        assert!(r.has_error(field, code), "{field}: {}", r.text);
    }
    assert_eq!(app.world.submitted().len(), published);
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(false));
}

#[tokio::test]
async fn the_mailers_reports_cannot_be_sent_through_the_commands_route() {
    let app = spawn_app();
    for (ty, payload) in [
        ("RecordInviteSent", json!({ "invite_id": "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV", "message_id": "<m@x>" })),
        ("RecordInviteDeliveryFailed", json!({ "invite_id": "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV", "reason": "x" })),
    ] {
        let r = app.json("POST", "/v1/commands", &json!({ "type": ty, "payload": payload }), &[]).await;
        assert_eq!(r.status, 403, "{ty}: {}", r.text);
        assert_eq!(r.problem_code(), "command_not_allowed");
    }
    assert!(app.world.submitted().is_empty());
}
