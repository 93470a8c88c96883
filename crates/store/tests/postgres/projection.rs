//! The projection: what is applied, what is ignored, and exactly once.
use std::time::{Duration, Instant};

use ledger_ports::{Commands, Contacts, Cursor};
use ledger_protocol::LogRecord;
use ledger_store::Applied;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_created_then_updated_contact_is_projected_at_its_latest_version() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let claim = log.claim(1);
    let tenant = create_tenant(&mut log, t);
    let created = log.decide(
        t,
        "CreateContact",
        json!({
            "kind": "guest", "email": " Ann@Example.com ", "first_name": "Ann", "last_name": "Lee",
            "tags": ["vip"], "metadata": {"plan": "gold"},
            "address": {"line1": "1 Main St", "city": "Leeds", "country_code": "gb"}
        }),
    );
    let id = contact_id(&created);
    let updated = log.decide(
        t,
        "PatchContact",
        json!({"contact_id": id.to_string(), "patch": {"title": "CTO", "tags": ["vip", "beta"], "metadata": {"seats": 3}}}),
    );

    project(&db.store, &[claim, tenant, created, updated]).await;

    let contact = db.store.contact(t, id).await.unwrap().expect("the contact is projected");
    assert_eq!(contact.version, 2);
    assert_eq!(contact.profile.title.as_deref(), Some("CTO"));
    assert_eq!(contact.profile.metadata, json!({"plan": "gold", "seats": 3}).as_object().cloned().unwrap());
    assert_eq!(contact.profile.address.as_ref().and_then(|a| a.first_name.as_deref()), Some("Ann"));
    assert_eq!(contact.created_at + chrono::Duration::seconds(1), contact.updated_at);
    // The read model says exactly what the handler's own state says.
    assert_eq!(contact, log.state.tenants[&t].contact(id).expect("in the state"));
}

#[tokio::test]
async fn reapplying_the_same_offsets_changes_nothing() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    let created = log.decide(t, "CreateContact", json!({"kind": "recipient", "email": "r@example.com"}));
    let id = contact_id(&created);
    records.push(created);
    records.push(log.decide(t, "PatchContact", json!({"contact_id": id.to_string(), "patch": {"name": "R"}})));
    project(&db.store, &records).await;
    let before = db.store.dump_read_models().await.unwrap();

    let mut again = db.store.begin_projection(TOPIC).await.unwrap();
    assert_eq!(again.positions()[&0], 4);
    for (offset, record) in &records {
        assert_eq!(again.apply(0, *offset, Some(record)).await.unwrap(), Applied::AlreadyApplied);
    }
    again.commit().await.unwrap();

    assert_eq!(db.store.dump_read_models().await.unwrap(), before);
}

#[tokio::test]
async fn the_same_decision_at_a_new_offset_duplicates_nothing() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    let created = log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": "u@example.com", "first_name": "U", "last_name": "V", "invite": true}),
    );
    let id = contact_id(&created);
    records.push(created);
    records.push(log.decide(t, "PatchContact", json!({"contact_id": id.to_string(), "patch": {"phone": "123"}})));
    project(&db.store, &records).await;
    let before = db.store.dump_read_models().await.unwrap();

    // Every decision appended once more (as a writer that retried would).
    let repeated: Vec<At> = records[1..].iter().map(|(_, r)| log.push(r.clone())).collect();
    project(&db.store, &repeated).await;

    assert_eq!(db.store.dump_read_models().await.unwrap(), before);
    assert_eq!(db.store.contact(t, id).await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn a_superseded_writers_decision_after_a_newer_claim_is_ignored() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let first = vec![log.claim(1), create_tenant(&mut log, t)];
    let stale = log.decision(t, "CreateContact", json!({"kind": "recipient", "email": "late@example.com"}));
    let newer_claim = log.claim(2);
    let stale_at = log.push(LogRecord::Decision(stale.clone()));
    let valid = log.decide(t, "CreateContact", json!({"kind": "recipient", "email": "ok@example.com"}));

    let mut projection = db.store.begin_projection(TOPIC).await.unwrap();
    for (offset, record) in &first {
        projection.apply(0, *offset, Some(record)).await.unwrap();
    }
    assert_eq!(
        projection.apply(0, newer_claim.0, Some(&newer_claim.1)).await.unwrap(),
        Applied::Claim { epoch: 2, won: true }
    );
    assert_eq!(projection.apply(0, stale_at.0, Some(&stale_at.1)).await.unwrap(), Applied::Superseded);
    assert_eq!(projection.apply(0, valid.0, Some(&valid.1)).await.unwrap(), Applied::Valid);
    projection.commit().await.unwrap();

    assert_eq!(db.store.command(t, stale.command_id).await.unwrap(), None);
    assert_eq!(db.store.contact(t, contact_id(&(0, LogRecord::Decision(stale.clone())))).await.unwrap(), None);
    assert!(db.store.contact(t, contact_id(&valid)).await.unwrap().is_some());

    // The fence survives the commit: the old writer stays fenced off later on,
    // and a claim that is not above the current epoch loses.
    let late = log.push(LogRecord::Decision(stale.clone()));
    let lost_claim = log.push(LogRecord::Claim(ledger_protocol::Claim {
        epoch: 2,
        writer_id: "racer".into(),
        claimed_at: chrono::Utc::now(),
    }));
    let mut projection = db.store.begin_projection(TOPIC).await.unwrap();
    assert_eq!(projection.apply(0, late.0, Some(&late.1)).await.unwrap(), Applied::Superseded);
    assert_eq!(
        projection.apply(0, lost_claim.0, Some(&lost_claim.1)).await.unwrap(),
        Applied::Claim { epoch: 2, won: false }
    );
    projection.commit().await.unwrap();
    assert_eq!(db.store.command(t, stale.command_id).await.unwrap(), None);
}

#[tokio::test]
async fn undecodable_records_are_skipped_but_move_the_offset() {
    let db = TestDb::new().await;
    let mut projection = db.store.begin_projection(TOPIC).await.unwrap();
    assert!(projection.positions().is_empty());
    assert_eq!(projection.apply(3, 41, None).await.unwrap(), Applied::Skipped);
    assert_eq!(projection.positions()[&3], 42);
    projection.commit().await.unwrap();

    let projection = db.store.begin_projection(TOPIC).await.unwrap();
    assert_eq!(projection.positions().get(&3), Some(&42));
}

#[tokio::test]
async fn a_projection_dropped_without_commit_leaves_no_trace() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let records = [log.claim(1), create_tenant(&mut log, t)];
    let empty = db.store.dump_read_models().await.unwrap();
    {
        let mut projection = db.store.begin_projection(TOPIC).await.unwrap();
        for (offset, record) in &records {
            projection.apply(0, *offset, Some(record)).await.unwrap();
        }
    }
    assert_eq!(db.store.dump_read_models().await.unwrap(), empty);
    assert!(db.store.begin_projection(TOPIC).await.unwrap().positions().is_empty());
}

#[tokio::test]
async fn only_one_projection_writes_at_a_time() {
    let db = TestDb::new().await;
    let first = db.store.begin_projection(TOPIC).await.unwrap();
    let store = db.store.clone();
    let second = tokio::spawn(async move {
        let mut p = store.begin_projection(TOPIC).await.unwrap();
        p.apply(0, 0, None).await.unwrap();
        p.commit().await.unwrap();
    });
    assert!(a_session_waits_on_a_lock(&db).await, "the second projection waits for the lock");
    assert!(!second.is_finished());
    first.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), second).await.expect("runs once the lock is free").unwrap();
}

#[tokio::test]
async fn a_batch_larger_than_one_flush_projects_every_record() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    for i in 0..1500 {
        records.push(log.decide(
            t,
            "CreateContact",
            json!({"kind": "guest", "email": format!("g{i}@example.com"), "first_name": "G", "last_name": format!("{i}"), "tags": ["bulk"]}),
        ));
    }
    // Changes after the mid-batch flush still land on rows written before it.
    let first_ids: Vec<_> = records[2..12].iter().map(contact_id).collect();
    for id in &first_ids {
        records.push(log.decide(
            t,
            "PatchContact",
            json!({"contact_id": id.to_string(), "patch": {"title": "Changed"}}),
        ));
    }

    let started = Instant::now();
    project(&db.store, &records).await;
    eprintln!("projected {} records in {:?}", records.len(), started.elapsed());

    let filter = ledger_ports::ContactFilter { tag: Some("bulk".into()), ..Default::default() };
    let all = db.store.contacts(t, &filter, Cursor::Start, 2000).await.unwrap();
    assert_eq!(all.len(), 1500);
    for contact in &all {
        assert_eq!(contact, &log.state.tenants[&t].contact(contact.id).expect("in the state"));
    }
    for id in &first_ids {
        assert_eq!(db.store.contact(t, *id).await.unwrap().unwrap().version, 2);
    }
}

#[tokio::test]
async fn the_raw_projector_write_rate_writes_scratch_copies_only_and_drops_them() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    log.claim(1);
    let mut decisions = vec![log.decision(t, "CreateTenant", json!({"name": "raw", "api_key_hash": "h"}))];
    for i in 0..50 {
        decisions.push(log.decision(
            t,
            "CreateContact",
            json!({"kind": "contact", "email": format!("r{i}@example.com")}),
        ));
    }
    let rate = db.store.raw_projection_write_rate(&decisions).await.expect("measured");
    assert!(rate > 0.0, "{rate}");
    // The read models themselves are untouched, and the scratch schema is gone.
    assert_eq!(db.store.count_contacts(t, &Default::default()).await.unwrap(), 0);
    let schemas: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'bench_raw_projection'")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(schemas, 0);
}

#[tokio::test]
async fn two_tenants_decisions_with_one_command_id_are_both_recorded() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let (a, b) = (new_tenant(), new_tenant());
    let claim = log.claim(1);
    let first = create_tenant(&mut log, a);
    // Tenant b's command happens to carry the id a's did.
    let LogRecord::Decision(mut second) = first.1.clone() else { panic!("a decision") };
    second.tenant_id = b;
    let second = log.push(LogRecord::Decision(second));
    project(&db.store, &[claim, first.clone(), second]).await;
    let id = command_id(&first);
    for tenant in [a, b] {
        let view = db.store.command(tenant, id).await.unwrap().unwrap_or_else(|| panic!("{tenant}'s outcome"));
        assert_eq!(view.tenant_id, tenant);
    }
}

#[tokio::test]
async fn a_rotated_api_key_opens_the_tenant_until_its_overlap_ends_and_a_revoked_one_never() {
    use ledger_ports::Tenants;
    let db = TestDb::new().await;
    let mut log = Log::from_now();
    let t = new_tenant();
    let claim = log.claim(1);
    let created = create_tenant(&mut log, t);
    let (second, third) = ("2".repeat(64), "3".repeat(64));
    let rotated = log.decide(t, "RotateApiKey", json!({"api_key_hash": second, "previous_valid_secs": 3600}));
    project(&db.store, &[claim, created, rotated]).await;
    let first = format!("key-of-{t}");
    for (hash, version) in [(first.as_str(), 1), (second.as_str(), 2)] {
        let view = db.store.tenant_by_key_hash(hash).await.unwrap().unwrap_or_else(|| panic!("key {version} opens it"));
        assert_eq!((view.tenant_id, view.key_version), (t, version));
        assert!(db.store.key_works(t, version).await.unwrap());
    }
    assert_eq!(db.store.tenant(t).await.unwrap().map(|v| v.key_version), Some(2), "the key in force");

    // Revoked at once: only the newest key works.
    let revoked = log.decide(t, "RotateApiKey", json!({"api_key_hash": third, "previous_valid_secs": 0}));
    project(&db.store, &[revoked]).await;
    for (hash, version) in [(first.as_str(), 1), (second.as_str(), 2)] {
        assert_eq!(db.store.tenant_by_key_hash(hash).await.unwrap(), None, "key {version}");
        assert!(!db.store.key_works(t, version).await.unwrap());
    }
    assert_eq!(db.store.tenant_by_key_hash(&third).await.unwrap().map(|v| v.key_version), Some(3));
    assert!(!db.store.key_works(new_tenant(), 1).await.unwrap(), "no such tenant");
}
