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
