//! `ContactDeleted`: the contact leaves every read, its grants go with it,
//! its history stays, and nothing re-delivered brings it back.
use ledger_ports::{AccessRoles, ContactFilter, Contacts, Cursor};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_deleted_contact_leaves_every_read_keeps_its_history_and_stays_deleted() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut first = vec![log.claim(1), create_tenant(&mut log, t)];
    first.push(log.decide(t, "DefineAccessRole", json!({"reference": "c", "name": "C", "grant_rule": "automatic"})));
    let created = log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": "u@example.com", "first_name": "U", "last_name": "V", "external_id": "x-1",
               "invite": true, "access_roles": ["c"]}),
    );
    let id = contact_id(&created);
    first.push(created.clone());
    project(&db.store, &first).await;
    assert_eq!(db.store.contact_grants(t, id).await.unwrap().len(), 1);

    let deleted = log.decide(t, "DeleteContact", json!({"contact_id": id.to_string()}));
    // The create delivered again after the deletion (at-least-once delivery,
    // or a duplicate in the log) must not bring the contact back.
    let again = log.push(created.1.clone());
    project(&db.store, &[deleted, again]).await;

    assert_eq!(db.store.contact(t, id).await.unwrap(), None);
    assert_eq!(db.store.contact_by_external_id(t, "x-1").await.unwrap(), None);
    let filter = ContactFilter { email: Some("u@example.com".into()), ..ContactFilter::default() };
    assert!(db.store.contacts(t, &filter, Cursor::Start, 50).await.unwrap().is_empty());
    assert!(db.store.contacts(t, &ContactFilter::default(), Cursor::Start, 50).await.unwrap().is_empty());
    assert!(db.store.contact_grants(t, id).await.unwrap().is_empty(), "the grants went with the contact");
    let history: Vec<String> =
        db.store.contact_events(t, id).await.unwrap().into_iter().map(|e| e.event_type).collect();
    assert_eq!(history.first().map(String::as_str), Some("ContactCreated"));
    assert_eq!(history.last().map(String::as_str), Some("ContactDeleted"), "{history:?}");
}

#[tokio::test]
async fn a_create_and_its_deletion_in_one_batch_give_the_tables_of_two_batches() {
    let (one, two) = (TestDb::new().await, TestDb::new().await);
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    let created = log.decide(t, "CreateContact", json!({"kind": "contact", "email": "c@example.com"}));
    let id = contact_id(&created);
    records.push(created);
    records.push(log.decide(t, "PatchContact", json!({"contact_id": id.to_string(), "patch": {"name": "N"}})));
    records.push(log.decide(t, "DeleteContact", json!({"contact_id": id.to_string()})));
    project(&one.store, &records).await;
    project(&two.store, &records[..3]).await;
    project(&two.store, &records[3..]).await;
    assert_eq!(one.store.dump_read_models().await.unwrap(), two.store.dump_read_models().await.unwrap());
    assert_eq!(one.store.contact(t, id).await.unwrap(), None);
}
