//! No password hash and no API key hash ever reaches a view.
use ledger_ports::{Commands, Contacts, Tenants};
use serde_json::json;

use crate::support::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$TOPSECRETHASHVALUE";

#[tokio::test]
async fn a_password_hash_is_never_stored_in_any_read_model() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let claim = log.claim(1);
    let tenant = create_tenant(&mut log, t);
    let created = log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": "pw@example.com", "first_name": "P", "last_name": "W", "password_hash": HASH}),
    );
    let id = contact_id(&created);
    let command = command_id(&created);
    project(&db.store, &[claim, tenant, created]).await;

    let dump = db.store.dump_read_models().await.unwrap().to_string();
    assert!(!dump.contains("TOPSECRETHASHVALUE"), "the dump holds the password hash: {dump}");
    assert!(!dump.contains("$argon2id$"));

    let contact = db.store.contact(t, id).await.unwrap().unwrap();
    assert!(contact.registered);
    assert_eq!(contact.version, 1);

    let history = db.store.contact_events(t, id).await.unwrap();
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ContactCreated", "PasswordSet"]);
    assert_eq!(history[1].data, json!({"contact_id": id.to_string(), "version": 1}));

    let view = db.store.command(t, command).await.unwrap().unwrap();
    assert!(!serde_json::to_string(&view).unwrap().contains("TOPSECRETHASHVALUE"));
}

#[tokio::test]
async fn a_tenants_api_key_hash_stays_out_of_its_command_view() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let records = [log.claim(1), create_tenant(&mut log, t)];
    project(&db.store, &records).await;

    let view = db.store.command(t, command_id(&records[1])).await.unwrap().unwrap();
    assert_eq!(view.events.len(), 1);
    assert_eq!(view.events[0].event_type, "TenantCreated");
    assert!(view.events[0].data.get("api_key_hash").is_none());
    assert!(!serde_json::to_string(&view).unwrap().contains(&format!("key-of-{t}")));
    // It is still there for authentication.
    let found = db.store.tenant_by_key_hash(&format!("key-of-{t}")).await.unwrap().unwrap();
    assert_eq!(found.tenant_id, t);
}
