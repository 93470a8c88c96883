use ledger_domain::{Command, rules::PASSWORD_RULE};
use serde_json::json;

use crate::support::*;

const TOKEN: &str = "tok_b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1";
const PAGE: &str = "/invite/tok_b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1";

/// An invited user with everything the page shows (and markup in the name).
async fn app_with_invite() -> (TestApp, String) {
    let app = spawn_app();
    let mut body = an_invited_user("ada@example.com");
    body["first_name"] = json!("<script>alert(1)</script>");
    body["company"] = json!("Analytical & Co");
    body["address"] =
        json!({ "line1": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH", "country_code": "GB" });
    let (id, _) = app.invited_user(body, TOKEN).await;
    (app, id)
}

fn assert_page(r: &TestResponse, status: u16, id: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert!(r.text.starts_with("<!doctype html>") && r.text.contains("<html lang=\"en\">"), "{}", r.text);
    assert!(r.text.contains(&format!("<main id=\"{id}\"")), "not the {id} page: {}", r.text);
}

#[tokio::test]
async fn the_page_shows_the_contact_the_tenant_and_the_password_rule_with_everything_escaped() {
    let (app, _) = app_with_invite().await;
    let r = app.send("GET", PAGE, &[], "").await;
    assert_page(&r, 200, "invite-form");
    for expected in [
        "<h1>Tenant A</h1>",
        "<dd id=\"contact-name\">&lt;script&gt;alert(1)&lt;/script&gt; Lovelace</dd>",
        "<dd id=\"contact-email\">ada@example.com</dd>",
        "<dd id=\"contact-company\">Analytical &amp; Co</dd>",
        "<dd id=\"contact-address\">12 St James&#39;s Square<br>London SW1Y 4JH<br>GB</dd>",
        "<form method=\"post\"",
        "<label for=\"password\">",
        "<input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"new-password\"",
        "<label for=\"password_confirmation\">",
        "name=\"password_confirmation\" id=\"password_confirmation\"",
        "<button type=\"submit\" id=\"set-password\">",
        PASSWORD_RULE,
    ] {
        assert!(r.text.contains(expected), "missing {expected}: {}", r.text);
    }
    assert!(!r.text.contains("<script>"), "{}", r.text);
    assert!(!r.text.contains("id=\"error\""), "{}", r.text);
}

#[tokio::test]
async fn a_weak_password_shows_the_form_again_with_the_rule_and_publishes_nothing() {
    let (app, id) = app_with_invite().await;
    let published = app.world.submitted().len();
    let r = app.form(PAGE, &[("password", "short"), ("password_confirmation", "short")]).await;
    assert_page(&r, 422, "invite-form");
    assert!(r.text.contains("<div id=\"error\" class=\"error\" role=\"alert\">"), "{}", r.text);
    assert!(r.text.contains(&format!("<p>Your password {PASSWORD_RULE}.</p>")), "{}", r.text);
    assert!(!r.text.contains("value=\"short\""), "the password is never echoed: {}", r.text);
    assert_eq!(app.world.submitted().len(), published);
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(false));
}

#[tokio::test]
async fn passwords_that_do_not_match_show_the_form_again_and_publish_nothing() {
    let (app, _) = app_with_invite().await;
    let published = app.world.submitted().len();
    let r = app.form(PAGE, &[("password", "babbage1842"), ("password_confirmation", "babbage1843")]).await;
    assert_page(&r, 422, "invite-form");
    assert!(r.text.contains("id=\"error\"") && r.text.contains("The two passwords do not match."), "{}", r.text);
    assert!(!r.text.contains("<p>Your password "), "only the mismatch is wrong: {}", r.text);
    assert_eq!(app.world.submitted().len(), published);
}

#[tokio::test]
async fn a_good_password_sets_it_registers_the_user_and_says_so() {
    let (app, id) = app_with_invite().await;
    let r = app.form(PAGE, &[("password", "babbage 1842!"), ("password_confirmation", "babbage 1842!")]).await;
    assert_page(&r, 200, "done");
    assert!(r.text.contains("Your password is set") && r.text.contains("ada@example.com"), "{}", r.text);
    let envelope = app.world.submitted().last().cloned().unwrap();
    let Command::AcceptInvite(a) = &envelope.command else { panic!("{:?}", envelope.command) };
    assert!(a.password_hash.starts_with("$argon2id$"), "{a:?}");
    assert!(!String::from_utf8(envelope.to_bytes().expect("encodes")).unwrap().contains("babbage"));
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(true));

    // The same link afterwards, to look at or to post to again.
    let again = app.send("GET", PAGE, &[], "").await;
    assert_page(&again, 410, "invite-used");
    assert!(again.text.contains("already been used"), "{}", again.text);
    let published = app.world.submitted().len();
    let again = app.form(PAGE, &[("password", "another1one"), ("password_confirmation", "another1one")]).await;
    assert_page(&again, 410, "invite-used");
    assert_eq!(app.world.submitted().len(), published);
}

#[tokio::test]
async fn a_replaced_link_gets_a_410_page_to_look_at_or_to_post_to_even_with_a_weak_password() {
    let (app, id) = app_with_invite().await;
    let r = app.json("POST", &format!("/v1/contacts/{id}/invites"), &json!({}), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let published = app.world.submitted().len();

    let r = app.send("GET", PAGE, &[], "").await;
    assert_page(&r, 410, "invite-superseded");
    assert!(r.text.contains("This link has been replaced"), "{}", r.text);
    assert!(!r.text.contains("<form"), "no form for a replaced link: {}", r.text);
    for password in ["short", "babbage1842"] {
        let r = app.form(PAGE, &[("password", password), ("password_confirmation", password)]).await;
        assert_page(&r, 410, "invite-superseded");
    }
    assert_eq!(app.world.submitted().len(), published);
    assert_eq!(app.get(&format!("/v1/contacts/{id}")).await.body["registered"], json!(false));
}

#[tokio::test]
async fn an_unknown_link_gets_a_404_page_saying_it_is_not_valid() {
    let app = spawn_app();
    let r = app.send("GET", "/invite/nope", &[], "").await;
    assert_page(&r, 404, "invite-not-found");
    assert!(r.text.contains("This link is not valid"), "{}", r.text);
    let r = app.form("/invite/nope", &[("password", "babbage1842"), ("password_confirmation", "babbage1842")]).await;
    assert_page(&r, 404, "invite-not-found");
    assert!(app.world.submitted().is_empty());
}

#[tokio::test]
async fn an_expired_link_gets_a_410_page_saying_it_expired() {
    let app = spawn_app();
    let (_, invite) = app.invited_user(an_invited_user("late@example.com"), "fresh").await;
    let mut view = app.world.invite_view(app.tenant, invite);
    view.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.world.add_invite_token(TOKEN, view);
    let r = app.send("GET", PAGE, &[], "").await;
    assert_page(&r, 410, "invite-expired");
    assert!(r.text.contains("This link has expired"), "{}", r.text);
}

#[tokio::test]
async fn a_read_model_that_is_down_gets_a_503_page_to_retry() {
    let (app, _) = app_with_invite().await;
    app.take_down("invite_by_token_hash");
    let r = app.send("GET", PAGE, &[], "").await;
    assert_page(&r, 503, "invite-error");
    assert!(r.header("retry-after").is_some());
}
