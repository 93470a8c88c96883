//! A replay: reset the read models and apply the whole log again.
use chrono::Utc;
use ledger_domain::CommandId;
use ledger_ports::{Commands, Idempotency, IdempotencyKeys};
use ledger_protocol::LogRecord;
use serde_json::json;
use ulid::Ulid;

use crate::support::*;

/// A log with a bit of everything, including fenced-off and undecodable records.
fn busy_log() -> (Vec<At>, Vec<i64>) {
    let mut log = Log::default();
    let (t, u) = (new_tenant(), new_tenant());
    let mut records = vec![log.claim(1), create_tenant(&mut log, t), create_tenant(&mut log, u)];
    let user = log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": "a@example.com", "first_name": "A", "last_name": "B",
               "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "tags": ["x"]}),
    );
    let user_id = contact_id(&user);
    records.push(user);
    records.push(log.decide(t, "CreateContact", json!({"kind": "guest", "email": "g@example.com", "first_name": "G"})));
    records.push(log.decide(t, "PatchContact", json!({"contact_id": user_id.to_string(), "patch": {"company": "Co"}})));
    let stale = log.decision(u, "CreateContact", json!({"kind": "recipient", "email": "stale@example.com"}));
    records.push(log.claim(2));
    records.push(log.push(LogRecord::Decision(stale)));
    records.push(log.decide(u, "UpsertContact", json!({"email": "up@example.com", "metadata": {"a": 1}})));
    records.push(log.decide(u, "UpsertContact", json!({"email": "up@example.com", "metadata": {"b": 2}})));
    records.push(log.decide(t, "ConfigureTenant", json!({"contact_capture": false})));
    records.push(log.decide(
        t,
        "CreateContact",
        json!({"kind": "branch", "email": "br@example.com", "company": "Br", "invite": true}),
    ));
    records.push(log.decide(t, "CreateContact", json!({"kind": "branch", "email": "br@example.com", "company": "Br"})));
    let undecodable = vec![
        log.push(LogRecord::Claim(ledger_protocol::Claim {
            epoch: 0,
            writer_id: String::new(),
            claimed_at: Utc::now(),
        }))
        .0,
    ];
    (records, undecodable)
}

async fn apply_all(store: &ledger_store::Store, records: &[At], undecodable: &[i64], reset: bool) {
    let mut projection = store.begin_projection(TOPIC).await.unwrap();
    if reset {
        projection.reset().await.unwrap();
        assert!(projection.positions().is_empty());
    }
    for (offset, record) in records {
        projection.apply(0, *offset, Some(record)).await.unwrap();
    }
    for offset in undecodable {
        projection.apply(0, *offset, None).await.unwrap();
    }
    projection.commit().await.unwrap();
}

#[tokio::test]
async fn a_reset_and_replay_rebuilds_identical_read_models_and_keeps_the_apis_records() {
    let db = TestDb::new().await;
    let (records, undecodable) = busy_log();
    // Live: a few records per transaction, as the projector would.
    for chunk in records.chunks(3) {
        apply_all(&db.store, chunk, &[], false).await;
    }
    apply_all(&db.store, &[], &undecodable, false).await;
    let live = db.store.dump_read_models().await.unwrap();
    assert_eq!(live["tenants"].as_array().unwrap().len(), 2);
    // The user, the upserted contact and the second branch; the rest was rejected or fenced off.
    assert_eq!(live["contacts"].as_array().unwrap().len(), 3);
    assert_eq!(live["command_outcomes"].as_array().unwrap().len(), 10);

    let t = ledger_domain::TenantId(Ulid::new());
    let command = CommandId(Ulid::new());
    db.store.record_submitted(t, command).await.unwrap();
    db.store.idempotency_begin(t, "key", "hash", command, Utc::now()).await.unwrap();

    apply_all(&db.store, &records, &undecodable, true).await;

    assert_eq!(db.store.dump_read_models().await.unwrap(), live);
    assert!(db.store.was_submitted(t, command).await.unwrap());
    let again = db.store.idempotency_begin(t, "key", "hash", CommandId(Ulid::new()), Utc::now()).await.unwrap();
    assert!(matches!(again, Idempotency::InFlight { command_id, .. } if command_id == command));
}

#[tokio::test]
async fn a_reset_that_is_rolled_back_loses_nothing() {
    let db = TestDb::new().await;
    let (records, undecodable) = busy_log();
    apply_all(&db.store, &records, &undecodable, false).await;
    let live = db.store.dump_read_models().await.unwrap();
    {
        let mut projection = db.store.begin_projection(TOPIC).await.unwrap();
        projection.reset().await.unwrap();
    }
    assert_eq!(db.store.dump_read_models().await.unwrap(), live);
    let positions = db.store.begin_projection(TOPIC).await.unwrap().positions();
    assert_eq!(positions[&0], undecodable[0] + 1);
}
