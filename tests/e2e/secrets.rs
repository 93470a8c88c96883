use std::process::Command;

use contact_ledger_tests::{raw_topic, spawn_app};
use serde_json::{Value, json};

const MARKER: &str = "Marker7Password42";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_password_reaches_the_topics_or_the_database() {
    let app = spawn_app().await;
    let created = app
        .create_contact(
            json!({"kind": "user", "first_name": "M", "last_name": "K", "email": "m@example.com", "password": MARKER}),
        )
        .await;
    assert_eq!(created["registered"], true);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    let events: Value = app
        .get(&format!("/v1/contacts/{}/events", created["id"].as_str().expect("id")))
        .await
        .json()
        .await
        .expect("json");
    assert!(!events.to_string().contains("argon2"), "{events}");
    let cfg = app.kafka();
    for topic in [&cfg.commands_topic, &cfg.events_topic] {
        for record in raw_topic(&app.common.kafka_brokers, topic, cfg.partitions).await {
            assert!(!String::from_utf8_lossy(&record).contains(MARKER), "plaintext password in {topic}");
        }
    }
    let dump =
        Command::new("/usr/lib/postgresql/15/bin/pg_dump").arg(&app.common.database_url).output().expect("pg_dump");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("m@example.com"), "the dump must hold the data it is scanned for");
    assert!(!dump.contains(MARKER), "plaintext password in PostgreSQL");
    app.stop().await;
}

/// The same through the vendor routes that take a password (Evance) or a
/// token (emnify): no plaintext in the topics or the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_password_or_token_from_the_vendor_routes_reaches_the_topics_or_the_database() {
    let app = spawn_app().await;
    let evance = json!({"contact": {"type": "user", "firstname": "E", "lastname": "V", "email": "ev@example.com", "password": MARKER}});
    let r = app.post("/api/contacts.json", &evance).await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let r = app.client.post(app.url("/api/v1/authenticate")).json(&json!({"application_token": app.key})).send();
    let tokens: Value = r.await.expect("authenticate").json().await.expect("json");
    let token = tokens["auth_token"].as_str().expect("token").to_owned();
    let cfg = app.kafka();
    for topic in [&cfg.commands_topic, &cfg.events_topic] {
        for record in raw_topic(&app.common.kafka_brokers, topic, cfg.partitions).await {
            let text = String::from_utf8_lossy(&record);
            assert!(!text.contains(MARKER), "plaintext password in {topic}");
            assert!(!text.contains(&token) && !text.contains(&app.key), "a token or key in {topic}");
        }
    }
    let dump =
        Command::new("/usr/lib/postgresql/15/bin/pg_dump").arg(&app.common.database_url).output().expect("pg_dump");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("ev@example.com"), "the dump must hold the data it is scanned for");
    assert!(!dump.contains(MARKER), "plaintext password in PostgreSQL");
    assert!(!dump.contains(&token) && !dump.contains(&app.key), "a token or key in PostgreSQL");
    app.stop().await;
}
