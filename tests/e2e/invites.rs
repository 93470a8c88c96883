//! The invite flow through the whole service: a real SMTP server receives
//! the mail, the link leads to the page, the page sets the password.
use std::{process::Command, time::Duration};

use contact_ledger::{app::Roles, config::SmtpSecurity};
use contact_ledger_tests::{
    TestApp, ends, eventually, free_port, fresh_common, raw_topic,
    smtp::{SmtpServer, invite_link},
    spawn_app_from,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "Invite7Marker99";

async fn app_with_smtp(smtp: &SmtpServer, invite_ttl_secs: i64) -> TestApp {
    let (mut common, db) = fresh_common(1).await;
    let port = free_port();
    common.invite_ttl_secs = invite_ttl_secs;
    common.mail.smtp_host = Some("127.0.0.1".into());
    common.mail.smtp_port = Some(smtp.port);
    common.mail.smtp_security = SmtpSecurity::None;
    common.mail.mail_retry_ms = 50;
    common.mail.public_base_url = format!("http://127.0.0.1:{port}");
    spawn_app_from(common, db, Roles::ALL, &format!("127.0.0.1:{port}")).await
}

fn header<'m>(mail: &'m str, name: &str) -> Option<&'m str> {
    mail.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")))
}

async fn form(app: &TestApp, link: &str, password: &str, confirmation: &str) -> (StatusCode, String) {
    let r = app
        .client
        .post(link)
        .form(&[("password", password), ("password_confirmation", confirmation)])
        .send()
        .await
        .expect("form post");
    (r.status(), r.text().await.expect("page"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_user_gets_a_mail_sets_a_password_on_the_page_and_their_verification_grant_activates() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(&smtp, 7 * 24 * 3600).await;
    let r = app
        .post(
            "/v1/access-roles",
            &json!({"reference": "newsletter", "name": "Newsletter", "grant_rule": "email_verification"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let user = app
        .create_contact(json!({"kind": "user", "first_name": "Bob", "last_name": "Bobsworth", "email": "bob@email.com",
            "company": "Acme", "invite": true, "access_roles": ["newsletter"],
            "address": {"line1": "2 Sorrel Horse Mews", "city": "Ipswich", "zip": "IP4 1LN", "country_code": "GB"}}))
        .await;
    let id = user["id"].as_str().expect("id").to_owned();
    assert_eq!(user["registered"], false);

    let mail = smtp.wait_for(1, Duration::from_secs(30)).await.remove(0);
    assert!(header(&mail, "To").is_some_and(|to| to.contains("bob@email.com")), "{mail}");
    let events: Value = app.get(&format!("/v1/contacts/{id}/events")).await.json().await.expect("json");
    let invite_id = events["data"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["type"] == "InviteRequested"))
        .and_then(|e| e["data"]["invite_id"].as_str())
        .expect("an InviteRequested event")
        .to_owned();
    assert!(
        header(&mail, "Message-ID").is_some_and(|m| m.contains(&invite_id)),
        "Message-ID derives from the invite id: {mail}"
    );
    let link = invite_link(&mail).expect("a link in the mail");
    assert!(link.starts_with(&app.base), "{link}");
    let token = link.rsplit('/').next().expect("token").to_owned();

    let page = app.client.get(&link).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("html");
    for shown in ["Bob", "Bobsworth", "bob@email.com", "Acme", "2 Sorrel Horse Mews", "at least 8 characters"] {
        assert!(html.contains(shown), "{shown} not on the page");
    }

    let (status, html) = form(&app, &link, "short", "short").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error\"") && html.contains("at least 8 characters"), "{html}");
    let (status, html) = form(&app, &link, PASSWORD, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"done\""), "{html}");

    let contact: Value = app.get(&format!("/v1/contacts/{id}")).await.json().await.expect("json");
    assert_eq!(contact["registered"], true);
    let roles: Value = app.get(&format!("/v1/contacts/{id}/roles")).await.json().await.expect("json");
    assert_eq!(roles["data"][0]["reference"], "newsletter");
    assert_eq!(roles["data"][0]["effective"], "active", "{roles}");

    let (status, html) = form(&app, &link, PASSWORD, PASSWORD).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("already been used"), "{html}");
    let again = app
        .client
        .post(app.url("/v1/invites/accept"))
        .json(&json!({"token": token, "password": PASSWORD}))
        .send()
        .await
        .expect("accept");
    assert_eq!(again.status(), StatusCode::GONE);
    let unknown = app.client.get(app.url("/invite/0000")).send().await.expect("page");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // The mailer's report lands in the log.
    let sent = eventually(Duration::from_secs(20), || async {
        let events: Value = app.get(&format!("/v1/contacts/{id}/events")).await.json().await.ok()?;
        events.to_string().contains("InviteSent").then_some(())
    })
    .await;
    assert!(sent.is_some(), "InviteSent never reached the contact's history");

    // A replay of the whole log sends no mail: once the mailer has read to
    // the end of the log (its stored positions reach the topic's ends), the
    // SMTP server still has the one mail.
    contact_ledger::replay::replay(app.store(), &app.kafka(), false).await.expect("replay");
    let cfg = app.kafka();
    let end = ends(&cfg).await;
    let caught_up = eventually(Duration::from_secs(20), || async {
        let at = app.store().mailer_positions(&cfg.events_topic).await.ok()?;
        end.iter().all(|(p, end)| at.get(p).map_or(0, |a| a.next_offset) >= *end).then_some(())
    })
    .await;
    assert!(caught_up.is_some(), "the mailer never read to the end of the log {end:?}");
    assert_eq!(smtp.messages().len(), 1, "a replay must not send mail");

    // Neither the token nor the password is in the log or the database.
    for topic in [&cfg.commands_topic, &cfg.events_topic] {
        for record in raw_topic(&app.common.kafka_brokers, topic, cfg.partitions).await {
            let text = String::from_utf8_lossy(&record);
            assert!(!text.contains(&token) && !text.contains(PASSWORD), "a secret in {topic}");
        }
    }
    let dump =
        Command::new("/usr/lib/postgresql/15/bin/pg_dump").arg(&app.common.database_url).output().expect("pg_dump");
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("bob@email.com"));
    assert!(!dump.contains(&token) && !dump.contains(PASSWORD), "a secret in PostgreSQL");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_invite_link_says_so_with_410() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(&smtp, 4).await;
    app.create_contact(
        json!({"kind": "user", "first_name": "E", "last_name": "X", "email": "late@email.com", "invite": true}),
    )
    .await;
    let mail = smtp.wait_for(1, Duration::from_secs(30)).await.remove(0);
    let link = invite_link(&mail).expect("link");
    // The invite lives 4 s: its page answers 410 once that has passed.
    let page = eventually(Duration::from_secs(15), || async {
        let page = app.client.get(&link).send().await.ok()?;
        (page.status() == StatusCode::GONE).then_some(page)
    })
    .await
    .expect("the invite page answers 410 Gone once the invite has expired");
    assert!(page.text().await.expect("html").contains("expired"));
    let token = link.rsplit('/').next().expect("token");
    let r = app
        .client
        .post(app.url("/v1/invites/accept"))
        .json(&json!({"token": token, "password": PASSWORD}))
        .send()
        .await
        .expect("accept");
    assert_eq!(r.status(), StatusCode::GONE);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "invite_expired");
    app.stop().await;
}
