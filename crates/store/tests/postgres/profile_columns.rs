//! The store's one list of profile columns agrees with the migrated
//! `contacts` table and with the domain's `Profile`, and a profile with every
//! field set comes back from the read model as it was projected (so no two
//! columns are swapped).
use std::collections::{BTreeMap, BTreeSet};

use ledger_domain::{ContactId, Event, Profile, contact::PROFILE_FIELDS};
use ledger_ports::Contacts;
use ledger_protocol::{LogRecord, Outcome};
use ledger_store::test_support::profile_columns;
use serde_json::{Value, json};

use crate::support::*;

/// The columns of `contacts` that are not the profile's.
const CONTACT_OWN_COLUMNS: &[&str] = &[
    "tenant_id",
    "contact_id",
    "number",
    "kind",
    "type_id",
    "registered",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
];

#[tokio::test]
async fn the_profile_columns_match_the_contacts_table_and_the_domain_profile() {
    let db = TestDb::new().await;
    let table: BTreeMap<String, String> = sqlx::query_as(
        "SELECT column_name::text, udt_name::text::regtype::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'contacts'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    let columns = profile_columns();

    let names: BTreeSet<&str> = columns.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), columns.len(), "a profile column is listed twice");
    for c in &columns {
        assert_eq!(table.get(c.name).map(String::as_str), Some(c.column_type), "column {} in the table", c.name);
    }
    // Every column of the table is the contact's own or listed once.
    let listed: BTreeSet<&str> = names.iter().copied().chain(CONTACT_OWN_COLUMNS.iter().copied()).collect();
    let in_table: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    assert_eq!(in_table, listed, "the table's columns are the contact's own and the listed profile columns");

    // The fields are exactly the domain's profile fields; the rest is derived.
    let fields: BTreeSet<&str> = columns.iter().filter(|c| c.is_field).map(|c| c.name).collect();
    assert_eq!(fields, PROFILE_FIELDS.iter().copied().collect::<BTreeSet<_>>());
    let derived: Vec<&str> = columns.iter().filter(|c| !c.is_field).map(|c| c.name).collect();
    assert_eq!(derived, ["email_normalized"]);
}

/// The profile a decision's ContactCreated or ContactUpdated carries.
fn profile_of(at: &At) -> Profile {
    let LogRecord::Decision(d) = &at.1 else { panic!("not a decision") };
    let Outcome::Accepted { events, .. } = &d.outcome else { panic!("rejected: {d:?}") };
    events
        .iter()
        .find_map(|e| match e {
            Event::ContactCreated(c) => Some(c.profile.clone()),
            Event::ContactUpdated(u) => Some(u.profile.clone()),
            _ => None,
        })
        .expect("a profile event")
}

fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(m) => m.values().for_each(|v| strings(v, out)),
        other => panic!("a profile value that is not a string: {other}"),
    }
}

/// Every field and every address field is set, and no two values are equal,
/// so a column read into the wrong field cannot compare equal.
fn assert_every_field_distinct(p: &Profile) {
    let Value::Object(fields) = serde_json::to_value(p).unwrap() else { panic!("a profile is an object") };
    for f in PROFILE_FIELDS {
        let set = fields.get(*f).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty()));
        assert!(set, "{f} is set in {p:?}");
    }
    assert!(!p.metadata.is_empty(), "metadata is set");
    let address = serde_json::to_value(p.address.as_ref().unwrap()).unwrap();
    let address = address.as_object().unwrap();
    assert_eq!(address.len(), 11, "every address field is set: {address:?}");
    assert!(address.values().all(|v| !v.is_null()), "every address field is set: {address:?}");
    let mut values = vec![];
    strings(&Value::Object(fields), &mut values);
    let distinct: BTreeSet<&String> = values.iter().collect();
    assert_eq!(distinct.len(), values.len(), "the values are distinct: {values:?}");
}

async fn email_normalized(db: &TestDb, id: ContactId) -> Option<String> {
    sqlx::query_scalar("SELECT email_normalized FROM contacts WHERE contact_id = $1")
        .bind(id.to_string())
        .fetch_one(db.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_profile_with_every_field_set_reads_back_as_it_was_created_and_updated() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    let created = log.decide(
        t,
        "CreateContact",
        json!({
            "kind": "guest", "type_id": 6,
            "external_id": "ext-1", "email": "Ann.Lee@Example.COM", "first_name": "Ann", "last_name": "Lee",
            "name": "Ann Lee", "company": "Acme", "title": "CTO", "department": "R&D", "phone": "+44 1",
            "mobile": "+44 2", "avatar_url": "https://example.com/a.png", "purchase_order_number": "PO-1",
            "address": {
                "line1": "1 Main St", "line2": "Floor 2", "line3": "Unit 3", "city": "Leeds", "region": "Yorks",
                "zip": "LS1", "country_code": "GB", "first_name": "Addr First", "last_name": "Addr Last",
                "company": "Addr Co"
            },
            "tags": ["tag-a", "tag-b"], "metadata": {"plan": "gold", "nested": {"seats": "three"}}
        }),
    );
    let id = contact_id(&created);
    let profile = profile_of(&created);
    assert_every_field_distinct(&profile);
    records.push(created);
    project(&db.store, &records).await;
    let contact = db.store.contact(t, id).await.unwrap().expect("the contact");
    assert_eq!(contact.profile, profile);
    assert_eq!(email_normalized(&db, id).await.as_deref(), Some("ann.lee@example.com"));

    // Every field changed to a new value, again all distinct.
    let updated = log.decide(
        t,
        "PatchContact",
        json!({"contact_id": id.to_string(), "patch": {
            "external_id": "ext-2", "email": "Bo.Ray@Example.ORG", "first_name": "Bo", "last_name": "Ray",
            "name": "Bo Ray", "company": "Beta", "title": "CEO", "department": "Ops", "phone": "+44 3",
            "mobile": "+44 4", "avatar_url": "https://example.com/b.png", "purchase_order_number": "PO-2",
            "address": {
                "line1": "2 High St", "line2": "Floor 5", "line3": "Unit 6", "city": "York", "region": "North",
                "zip": "YO1", "country_code": "FR", "first_name": "New First", "last_name": "New Last",
                "company": "New Co"
            },
            "tags": ["tag-c"], "metadata": {"plan": null, "nested": null, "tier": "silver"}
        }}),
    );
    let changed = profile_of(&updated);
    assert_every_field_distinct(&changed);
    assert_ne!(changed.address, profile.address, "the update changes the address");
    project(&db.store, &[updated]).await;
    let contact = db.store.contact(t, id).await.unwrap().expect("the contact");
    assert_eq!(contact.version, 2);
    assert_eq!(contact.profile, changed);
    assert_eq!(email_normalized(&db, id).await.as_deref(), Some("bo.ray@example.org"));
}
