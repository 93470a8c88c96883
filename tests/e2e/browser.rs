//! The set-password page driven in headless Chromium, as an invited user
//! would: open the link from the mail, try a weak password, then a good one.
use std::time::Duration;

use contact_ledger::{app::Roles, config::SmtpSecurity};
use contact_ledger_tests::{
    browser::Browser,
    free_port, fresh_common,
    smtp::{SmtpServer, invite_link},
    spawn_app_from,
};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_user_sets_their_password_in_a_real_browser() {
    let smtp = SmtpServer::start().await;
    let (mut common, db) = fresh_common(1).await;
    let port = free_port();
    common.mail.smtp_host = Some("127.0.0.1".into());
    common.mail.smtp_port = Some(smtp.port);
    common.mail.smtp_security = SmtpSecurity::None;
    common.mail.public_base_url = format!("http://127.0.0.1:{port}");
    let app = spawn_app_from(common, db, Roles::ALL, &format!("127.0.0.1:{port}")).await;
    let role = json!({"reference": "newsletter", "name": "Newsletter", "grant_rule": "email_verification"});
    assert_eq!(app.post("/v1/access-roles", &role).await.status(), StatusCode::CREATED);
    let user = app
        .create_contact(
            json!({"kind": "user", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
            "company": "Analytical Engines", "invite": true, "access_roles": ["newsletter"],
            "address": {"line1": "12 St James's Square", "city": "London", "country_code": "GB"}}),
        )
        .await;
    let id = user["id"].as_str().expect("id").to_owned();
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await.remove(0);
    let link = invite_link(&mail).expect("the link in the mail");

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&link).await.expect("open the link");
    let email = c.find(Locator::Id("contact-email")).await.expect("email shown").text().await.expect("text");
    assert_eq!(email, "ada@example.com");
    let company = c.find(Locator::Id("contact-company")).await.expect("company shown").text().await.expect("text");
    assert!(company.contains("Analytical Engines"));
    let rule = c.find(Locator::Id("password-rule")).await.expect("rule shown").text().await.expect("text");
    assert!(rule.contains("8 characters"), "{rule}");

    // A password that breaks the rule is refused on the page, with the rule.
    c.find(Locator::Id("password")).await.expect("field").send_keys("abc").await.expect("type");
    c.find(Locator::Id("password_confirmation")).await.expect("field").send_keys("abc").await.expect("type");
    c.find(Locator::Id("set-password")).await.expect("button").click().await.expect("submit");
    let error =
        c.wait().for_element(Locator::Id("error")).await.expect("an error on the page").text().await.expect("text");
    assert!(error.contains("8 characters"), "{error}");

    c.find(Locator::Id("password")).await.expect("field").send_keys("Babbage1842engine").await.expect("type");
    c.find(Locator::Id("password_confirmation"))
        .await
        .expect("field")
        .send_keys("Babbage1842engine")
        .await
        .expect("type");
    c.find(Locator::Id("set-password")).await.expect("button").click().await.expect("submit");
    let done = c.wait().for_element(Locator::Id("done")).await.expect("the done page").text().await.expect("text");
    assert!(done.to_lowercase().contains("password is set"), "{done}");
    browser.close().await;

    let contact: Value = app.get(&format!("/v1/contacts/{id}")).await.json().await.expect("json");
    assert_eq!(contact["registered"], true);
    let roles: Value = app.get(&format!("/v1/contacts/{id}/roles")).await.json().await.expect("json");
    assert_eq!(roles["data"][0]["effective"], "active", "{roles}");
    app.stop().await;
}
