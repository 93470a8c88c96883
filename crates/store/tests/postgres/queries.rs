//! The read ports' queries: commands, tenants, contacts, filters and pages.
use ledger_domain::{ContactId, ContactKind};
use ledger_ports::{CommandStatus, Commands, ContactFilter, Contacts, Cursor, Readiness, Tenants};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_rejected_command_is_visible_with_its_reason_and_creates_no_contact() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let claim = log.claim(1);
    let tenant = create_tenant(&mut log, t);
    let rejected =
        log.decide(t, "CreateContact", json!({"kind": "guest", "email": "x@example.com", "first_name": "X"}));
    project(&db.store, &[claim, tenant, rejected.clone()]).await;

    let view = db.store.command(t, command_id(&rejected)).await.unwrap().expect("the outcome is recorded");
    assert_eq!(view.status, CommandStatus::Rejected);
    assert_eq!(view.command_type, "CreateContact");
    assert_eq!(view.contact_id, None);
    assert!(view.events.is_empty());
    let rejection = serde_json::to_value(view.rejection.expect("a reason")).expect("json");
    assert_eq!(rejection["kind"], "validation");
    assert_eq!(rejection["errors"][0]["field"], "last_name");

    let dump = db.store.dump_read_models().await.unwrap();
    assert_eq!(dump["contacts"], json!([]));
    assert_eq!(dump["contact_events"], json!([]));
}

#[tokio::test]
async fn an_accepted_command_shows_its_contact_and_events_to_its_tenant_only() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let claim = log.claim(1);
    let tenant = create_tenant(&mut log, t);
    let created = log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": "i@example.com", "first_name": "I", "last_name": "J", "invite": true}),
    );
    project(&db.store, &[claim, tenant, created.clone()]).await;

    let view = db.store.command(t, command_id(&created)).await.unwrap().unwrap();
    assert_eq!(view.status, CommandStatus::Accepted);
    assert_eq!(view.contact_id, Some(contact_id(&created)));
    assert_eq!(view.rejection, None);
    let types: Vec<&str> = view.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ContactCreated", "InviteRequested"]);
    assert!(view.events.iter().all(|e| e.version == 1 && e.command_id == command_id(&created)));
    assert_eq!(db.store.command(new_tenant(), command_id(&created)).await.unwrap(), None);
    assert_eq!(db.store.contact(new_tenant(), contact_id(&created)).await.unwrap(), None);
}

#[tokio::test]
async fn a_tenant_is_found_by_its_key_hash_with_its_current_configuration() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let claim = log.claim(1);
    let tenant = create_tenant(&mut log, t);
    project(&db.store, &[claim, tenant]).await;
    let key = format!("key-of-{t}");
    assert!(db.store.tenant_by_key_hash(&key).await.unwrap().unwrap().contact_capture);

    let off = log.decide(t, "ConfigureTenant", json!({"contact_capture": false}));
    project(&db.store, &[off]).await;

    let found = db.store.tenant_by_key_hash(&key).await.unwrap().unwrap();
    assert_eq!((found.tenant_id, found.name.as_str(), found.contact_capture), (t, "Acme", false));
    assert_eq!(db.store.tenant_by_key_hash("no-such-key").await.unwrap(), None);
}

/// A tenant with contacts of every kind, plus one contact of another tenant.
async fn directory(db: &TestDb) -> (ledger_domain::TenantId, Log, Vec<ContactId>) {
    let mut log = Log::default();
    let (t, other) = (new_tenant(), new_tenant());
    let mut records = vec![log.claim(1), create_tenant(&mut log, t), create_tenant(&mut log, other)];
    let payloads = [
        json!({"kind": "guest", "email": "ann@example.com", "first_name": "Ann", "last_name": "A", "tags": ["vip"]}),
        json!({"kind": "guest", "email": " ANN@example.COM", "first_name": "Ann", "last_name": "B"}),
        json!({"kind": "user", "email": "bob@example.com", "first_name": "Bob", "last_name": "C", "invite": true, "tags": ["vip", "staff"]}),
        json!({"kind": "branch", "email": "north@example.com", "company": "North"}),
        json!({"kind": "contact", "external_id": "ext-1", "tags": ["vip"]}),
        json!({"kind": "recipient", "email": "rita@example.com"}),
    ];
    let mut ids = vec![];
    for payload in payloads {
        let record = log.decide(t, "CreateContact", payload);
        ids.push(contact_id(&record));
        records.push(record);
    }
    records.push(log.decide(
        other,
        "CreateContact",
        json!({"kind": "contact", "external_id": "ext-1", "tags": ["vip"]}),
    ));
    project(&db.store, &records).await;
    (t, log, ids)
}

#[tokio::test]
async fn contacts_are_filtered_by_email_kind_tag_and_external_id() {
    let db = TestDb::new().await;
    let (t, _, ids) = directory(&db).await;
    let list = |filter: ContactFilter| {
        let store = db.store.clone();
        async move {
            let found = store.contacts(t, &filter, Cursor::Start, 50).await.unwrap();
            found.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    let sorted = |mut v: Vec<ContactId>| {
        v.sort();
        v
    };

    assert_eq!(list(ContactFilter::default()).await, sorted(ids.clone()));
    let by_email = ContactFilter { email: Some("  Ann@Example.com ".into()), ..Default::default() };
    assert_eq!(list(by_email).await, sorted(vec![ids[0], ids[1]]));
    let users = ContactFilter { kind: Some(ContactKind::User), ..Default::default() };
    assert_eq!(list(users).await, vec![ids[2]]);
    let vip = ContactFilter { tag: Some("vip".into()), ..Default::default() };
    assert_eq!(list(vip).await, sorted(vec![ids[0], ids[2], ids[4]]));
    let external = ContactFilter { external_id: Some("ext-1".into()), ..Default::default() };
    assert_eq!(list(external).await, vec![ids[4]]);
    let vip_guests = ContactFilter { kind: Some(ContactKind::Guest), tag: Some("vip".into()), ..Default::default() };
    assert_eq!(list(vip_guests).await, vec![ids[0]]);
    let nobody = ContactFilter { tag: Some("VIP".into()), ..Default::default() };
    assert_eq!(list(nobody).await, vec![]);
}

#[tokio::test]
async fn contacts_are_paged_in_id_order_after_a_cursor() {
    let db = TestDb::new().await;
    let (t, _, ids) = directory(&db).await;
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = db.store.contacts(t, &ContactFilter::default(), Cursor::from(after), 4).await.unwrap();
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|c| c.id));
    }
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(db.store.contacts(t, &ContactFilter::default(), Cursor::Start, 0).await.unwrap(), vec![]);
}

#[tokio::test]
async fn contacts_are_paged_backwards_before_a_cursor_and_by_offset_and_counted() {
    let db = TestDb::new().await;
    let (t, _, mut ids) = directory(&db).await;
    ids.sort();
    let all = ContactFilter::default();
    let ids_of = |page: Vec<ledger_domain::Contact>| page.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let n = ids.len();
    let before_last = db.store.contacts(t, &all, Cursor::Before(ids[n - 1]), 2).await.unwrap();
    assert_eq!(ids_of(before_last), ids[n - 3..n - 1].to_vec(), "the two right before, in id order");
    let before_second = db.store.contacts(t, &all, Cursor::Before(ids[1]), 5).await.unwrap();
    assert_eq!(ids_of(before_second), vec![ids[0]]);
    let second_page = db.store.contacts(t, &all, Cursor::Offset(2), 2).await.unwrap();
    assert_eq!(ids_of(second_page), ids[2..4].to_vec());
    assert_eq!(db.store.count_contacts(t, &all).await.unwrap(), n as u64);
    let guests = ContactFilter { kind: Some(ContactKind::Guest), ..Default::default() };
    let guest_count = db.store.contacts(t, &guests, Cursor::Start, 100).await.unwrap().len();
    assert_eq!(db.store.count_contacts(t, &guests).await.unwrap(), guest_count as u64);
}

#[tokio::test]
async fn a_contact_is_found_by_external_id_within_its_tenant() {
    let db = TestDb::new().await;
    let (t, log, ids) = directory(&db).await;
    let found = db.store.contact_by_external_id(t, "ext-1").await.unwrap().unwrap();
    assert_eq!(found, log.state.tenants[&t].contact(ids[4]).expect("in the state"));
    assert_eq!(db.store.contact_by_external_id(t, "ext-2").await.unwrap(), None);
    assert_eq!(db.store.contact_by_external_id(new_tenant(), "ext-1").await.unwrap(), None);
}

#[tokio::test]
async fn a_contacts_history_lists_its_events_in_order() {
    let db = TestDb::new().await;
    let (t, mut log, ids) = directory(&db).await;
    let patch = log.decide(t, "PatchContact", json!({"contact_id": ids[2].to_string(), "patch": {"title": "Boss"}}));
    project(&db.store, std::slice::from_ref(&patch)).await;

    let history = db.store.contact_events(t, ids[2]).await.unwrap();
    let seen: Vec<(&str, u64)> = history.iter().map(|e| (e.event_type.as_str(), e.version)).collect();
    assert_eq!(seen, [("ContactCreated", 1), ("InviteRequested", 1), ("ContactUpdated", 2)]);
    assert_eq!(history[2].command_id, command_id(&patch));
    assert_eq!(history[2].data["changed"], json!(["title"]));
    assert!(history[0].time < history[2].time);
    assert_eq!(db.store.contact_events(new_tenant(), ids[2]).await.unwrap(), vec![]);
}

#[tokio::test]
async fn the_database_is_ready_until_its_pool_closes() {
    let db = TestDb::new().await;
    assert!(db.store.database_ready().await);
    db.store.pool().close().await;
    assert!(!db.store.database_ready().await);
}
