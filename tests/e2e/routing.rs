//! Commands published by a client that does not hash keys as the Java client
//! does (librdkafka's default CRC32 partitioner, as Python, Go, .NET and kcat
//! use) land on a partition that does not own their tenant. That partition's
//! handler forwards them, in arrival order, to the owner, where they are
//! decided once; nothing is rejected for being misrouted.
use std::{collections::HashMap, time::Duration};

use contact_ledger::app::Roles;
use contact_ledger_tests::{TestApp, eventually, raw_topic, spawn_app_with};
use ledger_domain::{ContactId, Event};
use ledger_protocol::{Admit, LogRecord, Outcome, routing};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PARTITIONS: i32 = 4;

/// librdkafka's `consistent_random` partition for a key: CRC32 (IEEE) % count.
fn crc32_partition(key: &[u8]) -> i32 {
    let mut crc: u32 = 0xffff_ffff;
    for b in key {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    ((!crc) % PARTITIONS as u32) as i32
}

/// Publishes a command envelope with Python's confluent-kafka at its default
/// settings; returns the partition it landed on.
fn publish_with_default_client(app: &TestApp, key: &str, envelope: &Value) -> i32 {
    let file = std::env::temp_dir().join(format!("cl-envelope-{}.json", ulid::Ulid::new()));
    std::fs::write(&file, serde_json::to_vec(envelope).expect("json")).expect("write envelope");
    let python = std::env::var("CL_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/harness/produce_default.py");
    let out = std::process::Command::new(python)
        .args([script, &app.common.kafka_brokers, &app.kafka().commands_topic, key])
        .arg(&file)
        .output()
        .expect("run the Python producer (scripts/test installs confluent-kafka)");
    let _ = std::fs::remove_file(file);
    assert!(out.status.success(), "python producer failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a partition number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_from_a_default_librdkafka_client_are_forwarded_to_their_tenant_and_decided_once_in_order() {
    let mut app = spawn_app_with(PARTITIONS, Roles::ALL).await;
    // A tenant whose CRC32 partition is not the one that owns it.
    for _ in 0..20 {
        let tenant_id: ledger_domain::TenantId = app.tenant_id.parse().expect("tenant id");
        if crc32_partition(app.tenant_id.as_bytes()) != routing::owner(&tenant_id, PARTITIONS) {
            break;
        }
        let (tenant, key) = app.create_tenant("another").await;
        (app.tenant_id, app.key) = (tenant, key);
    }
    let tenant_id: ledger_domain::TenantId = app.tenant_id.parse().expect("tenant id");
    let owner = routing::owner(&tenant_id, PARTITIONS);
    let expected_landing = crc32_partition(app.tenant_id.as_bytes());
    assert_ne!(expected_landing, owner, "no misrouted tenant in 20 tries");

    // A create and then a patch of the same contact, in that order.
    let contact_id = ContactId(ulid::Ulid::new()).to_string();
    let (create_id, patch_id) = (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
    let create = json!({
        "command_id": create_id, "tenant_id": app.tenant_id, "type": "CreateContact", "issued_at": chrono::Utc::now(),
        "payload": {"contact_id": contact_id, "kind": "contact", "email": "routed@example.com", "external_id": "routed-1"}
    });
    let patch = json!({
        "command_id": patch_id, "tenant_id": app.tenant_id, "type": "PatchContact", "issued_at": chrono::Utc::now(),
        "payload": {"contact_id": contact_id, "patch": {"title": "Dr"}}
    });
    let landed = publish_with_default_client(&app, &app.tenant_id, &create);
    assert_eq!(landed, expected_landing, "the default client hashes with CRC32");
    assert_eq!(publish_with_default_client(&app, &app.tenant_id, &patch), landed);

    let contact = eventually(Duration::from_secs(30), || async {
        let r = app.get("/v1/contacts/routed-1").await;
        if r.status() != StatusCode::OK {
            return None;
        }
        let c: Value = r.json().await.ok()?;
        (c["version"] == 2).then_some(c)
    })
    .await
    .expect("both commands decided");
    assert_eq!(contact["title"], "Dr", "the patch was decided after the create");
    for id in [&create_id, &patch_id] {
        let status: Value = app.get(&format!("/v1/commands/{id}")).await.json().await.expect("json");
        assert_eq!(status["status"], "accepted", "{status}");
    }

    // The log: a forward on the landing partition, one decision each on the owner's.
    let log = app.log().await;
    let mut decisions: HashMap<String, Vec<i32>> = HashMap::new();
    let mut forwards: HashMap<String, Vec<(i32, i32)>> = HashMap::new();
    let mut created = 0;
    for (p, _, record, admit) in &log {
        if *admit != Admit::Valid {
            continue;
        }
        match record {
            LogRecord::Decision(d) => {
                decisions.entry(d.command_id.to_string()).or_default().push(*p);
                if let Outcome::Accepted { events, .. } = &d.outcome {
                    created += events.iter().filter(|e| matches!(e, Event::ContactCreated(_))).count();
                }
            }
            LogRecord::Forward(f) => forwards.entry(f.command_id.to_string()).or_default().push((*p, f.to_partition)),
            LogRecord::Claim(_) => {}
        }
    }
    for id in [&create_id, &patch_id] {
        assert_eq!(decisions.get(id.as_str()), Some(&vec![owner]), "decided once, by the owner");
        assert_eq!(forwards.get(id.as_str()), Some(&vec![(landed, owner)]), "forwarded once, to the owner");
    }
    assert_eq!(created, 1, "one ContactCreated in the whole log");

    // The forwarded copies on the owner's commands partition say where they came from.
    let cfg = app.kafka();
    let commands = raw_topic(&app.common.kafka_brokers, &cfg.commands_topic, PARTITIONS).await;
    let provenance = format!("cl-forwarded-from-partition{landed}");
    let forwarded = commands
        .iter()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .filter(|text| text.contains(&provenance) && text.contains(&cfg.commands_topic))
        .count();
    assert_eq!(forwarded, 2, "both forwarded copies carry their provenance");
    app.stop().await;
}
