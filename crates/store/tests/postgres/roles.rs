//! Access roles: the catalogue, grants through their life (grant, approve,
//! revoke), exactly once, repeated decisions, and a rebuild.
use chrono::{DateTime, TimeZone, Utc};
use ledger_domain::{
    Contact, ContactId, TenantId,
    roles::{GrantChange, GrantRule, GrantStatus, grant_as_of},
};
use ledger_ports::{AccessRoles, Commands, Contacts, GrantView};
use ledger_protocol::{Decision, LogRecord, Outcome};
use ledger_store::{Applied, Store};
use serde_json::{Value, json};

use crate::support::*;

const EXPIRES: &str = "2030-01-01T00:00:00Z";

fn expires() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap()
}

fn issued_at(at: &At) -> DateTime<Utc> {
    match &at.1 {
        LogRecord::Decision(d) => d.issued_at,
        other => panic!("only a decision is issued: {other:?}"),
    }
}

/// The tenant's catalogue: automatic, manual approval, and one to grant with an expiry.
fn define_roles(log: &mut Log, t: TenantId) -> Vec<At> {
    vec![
        log.decide(
            t,
            "DefineAccessRole",
            json!({"reference": "trade-account", "name": "Trade", "grant_rule": "manual_approval"}),
        ),
        log.decide(
            t,
            "DefineAccessRole",
            json!({"reference": "customer", "name": "Customer", "grant_rule": "automatic"}),
        ),
        log.decide(
            t,
            "DefineAccessRole",
            json!({"reference": "seasonal", "name": "Seasonal", "grant_rule": "automatic"}),
        ),
    ]
}

fn create_user(log: &mut Log, t: TenantId, email: &str) -> At {
    log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": email, "first_name": "U", "last_name": "V", "invite": true,
               "access_roles": ["customer", "trade-account", {"reference": "seasonal", "expires": EXPIRES}]}),
    )
}

fn role_command(log: &mut Log, t: TenantId, command: &str, id: ContactId, reference: &str) -> At {
    log.decide(t, command, json!({"contact_id": id.to_string(), "reference": reference}))
}

/// `(reference, status, expires)` of the grants the read model shows.
async fn shown(store: &Store, t: TenantId, id: ContactId) -> Vec<(String, GrantStatus, Option<DateTime<Utc>>)> {
    let grants = store.contact_grants(t, id).await.unwrap();
    grants.into_iter().map(|g| (g.reference, g.status, g.expires)).collect()
}

/// The contact as the handler's own state has it, but for `updated_at`: the
/// handler folds events without their decision's time, so only the read
/// model moves `updated_at` on a grant change; `at` is what it must say.
fn held_contact(log: &Log, t: TenantId, id: ContactId, at: DateTime<Utc>) -> Contact {
    Contact { updated_at: at, ..log.state.tenants[&t].contact(id).expect("in the state") }
}

/// The same, as the handler's own state has them.
fn held(log: &Log, t: TenantId, id: ContactId) -> Vec<(String, GrantStatus, Option<DateTime<Utc>>)> {
    let grants = log.state.tenants[&t].grants.get(&id).cloned().unwrap_or_default();
    grants.into_values().map(|g| (g.reference, g.status, g.expires)).collect()
}

#[tokio::test]
async fn a_users_grants_are_projected_through_grant_approval_and_revocation() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    let defined = define_roles(&mut log, t);
    records.extend(defined.iter().cloned());
    let created = create_user(&mut log, t, "u@example.com");
    let id = contact_id(&created);
    records.push(created.clone());
    project(&db.store, &records).await;

    // The catalogue, ordered by reference, created when its decision was issued.
    let catalogue = db.store.access_roles(t).await.unwrap();
    let listed: Vec<(&str, &str, GrantRule)> =
        catalogue.iter().map(|r| (r.reference.as_str(), r.name.as_str(), r.grant_rule)).collect();
    assert_eq!(
        listed,
        [
            ("customer", "Customer", GrantRule::Automatic),
            ("seasonal", "Seasonal", GrantRule::Automatic),
            ("trade-account", "Trade", GrantRule::ManualApproval)
        ]
    );
    assert_eq!(catalogue[0].created_at, issued_at(&defined[1]));
    assert_eq!(catalogue[2].created_at, issued_at(&defined[0]));

    // Automatic -> active, manual approval -> pending, the expiry kept.
    let granted_at = issued_at(&created);
    assert_eq!(
        db.store.contact_grants(t, id).await.unwrap(),
        vec![
            GrantView { reference: "customer".into(), status: GrantStatus::Active, expires: None, granted_at },
            GrantView {
                reference: "seasonal".into(),
                status: GrantStatus::Active,
                expires: Some(expires()),
                granted_at
            },
            GrantView { reference: "trade-account".into(), status: GrantStatus::Pending, expires: None, granted_at },
        ]
    );
    assert_eq!(shown(&db.store, t, id).await, held(&log, t, id));
    assert_eq!(db.store.contact(t, id).await.unwrap().unwrap().version, 1);

    // Approve: active, granted again at the approval, and the contact moves on.
    let approved = role_command(&mut log, t, "ApproveRole", id, "trade-account");
    project(&db.store, std::slice::from_ref(&approved)).await;
    let trade = db.store.contact_grants(t, id).await.unwrap().pop().unwrap();
    assert_eq!((trade.status, trade.granted_at), (GrantStatus::Active, issued_at(&approved)));
    assert_eq!(shown(&db.store, t, id).await, held(&log, t, id));
    let contact = db.store.contact(t, id).await.unwrap().unwrap();
    assert_eq!(contact.version, 2);
    assert_eq!(contact, held_contact(&log, t, id, issued_at(&approved)));
    let view = db.store.command(t, command_id(&approved)).await.unwrap().unwrap();
    assert_eq!(view.contact_id, Some(id));
    assert_eq!((view.events[0].event_type.as_str(), view.events[0].version), ("RoleActivated", 2));

    // Revoke: gone.
    let revoked = role_command(&mut log, t, "RevokeRole", id, "customer");
    project(&db.store, std::slice::from_ref(&revoked)).await;
    let references: Vec<String> = shown(&db.store, t, id).await.into_iter().map(|g| g.0).collect();
    assert_eq!(references, ["seasonal", "trade-account"]);
    assert_eq!(shown(&db.store, t, id).await, held(&log, t, id));
    let contact = db.store.contact(t, id).await.unwrap().unwrap();
    assert_eq!(contact.version, 3);
    assert_eq!(contact, held_contact(&log, t, id, issued_at(&revoked)));

    // The role events are in the contact's history, in order.
    let history = db.store.contact_events(t, id).await.unwrap();
    let seen: Vec<(&str, u64)> = history.iter().map(|e| (e.event_type.as_str(), e.version)).collect();
    assert_eq!(
        seen,
        [
            ("ContactCreated", 1),
            ("RoleGranted", 1),
            ("RoleGranted", 1),
            ("RoleGranted", 1),
            ("InviteRequested", 1),
            ("RoleActivated", 2),
            ("RoleRevoked", 3)
        ]
    );
    assert_eq!(history[3].data["reference"], "seasonal");
    assert_eq!(history[3].data["expires"], json!(expires()));
    assert_eq!(history[6].command_id, command_id(&revoked));
    assert_eq!(history[6].data, json!({"contact_id": id, "reference": "customer", "version": 3}));

    // Another tenant sees none of it.
    assert_eq!(db.store.access_roles(new_tenant()).await.unwrap(), vec![]);
    assert_eq!(db.store.contact_grants(new_tenant(), id).await.unwrap(), vec![]);
}

#[tokio::test]
async fn grants_given_to_a_guest_or_repeated_unchanged_write_nothing() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    records.extend(define_roles(&mut log, t));
    let guest = log.decide(
        t,
        "CreateContact",
        json!({"kind": "guest", "email": "g@example.com", "first_name": "G", "last_name": "H", "access_roles": ["customer"]}),
    );
    let user = create_user(&mut log, t, "u@example.com");
    let (guest_id, user_id) = (contact_id(&guest), contact_id(&user));
    records.extend([guest, user]);
    records.push(log.decide(
        t,
        "GrantRoles",
        json!({"contact_id": guest_id.to_string(), "access_roles": ["customer"]}),
    ));
    records.push(log.decide(t, "GrantRoles", json!({"contact_id": user_id.to_string(), "access_roles": ["customer"]})));
    project(&db.store, &records).await;

    assert_eq!(db.store.contact_grants(t, guest_id).await.unwrap(), vec![]);
    assert_eq!(db.store.contact(t, guest_id).await.unwrap().unwrap().version, 1);
    assert_eq!(db.store.contact(t, user_id).await.unwrap().unwrap().version, 1);
    assert_eq!(shown(&db.store, t, user_id).await, held(&log, t, user_id));
}

/// A log that grants, changes, approves and revokes, for the exactly-once tests.
struct Busy {
    log: Log,
    t: TenantId,
    id: ContactId,
    records: Vec<At>,
}

fn busy() -> Busy {
    let mut log = Log::default();
    let t = new_tenant();
    let mut records = vec![log.claim(1), create_tenant(&mut log, t)];
    records.extend(define_roles(&mut log, t));
    let created = create_user(&mut log, t, "u@example.com");
    let id = contact_id(&created);
    records.push(created);
    // v2: the customer grant replaced by one with an expiry.
    records.push(log.decide(
        t,
        "GrantRoles",
        json!({"contact_id": id.to_string(), "access_roles": [{"reference": "customer", "expires": EXPIRES}]}),
    ));
    records.push(role_command(&mut log, t, "ApproveRole", id, "trade-account")); // v3
    records.push(role_command(&mut log, t, "RevokeRole", id, "seasonal")); // v4
    records.push(log.decide(t, "PatchContact", json!({"contact_id": id.to_string(), "patch": {"title": "Boss"}}))); // v5
    records.push(role_command(&mut log, t, "RevokeRole", id, "trade-account")); // v6
    // v7: granted again, pending again (the rule applies anew).
    records.push(log.decide(t, "GrantRoles", json!({"contact_id": id.to_string(), "access_roles": ["trade-account"]})));
    Busy { log, t, id, records }
}

async fn check_against_state(store: &Store, b: &Busy) {
    assert_eq!(shown(store, b.t, b.id).await, held(&b.log, b.t, b.id));
    assert_eq!(
        shown(store, b.t, b.id).await,
        [
            ("customer".to_owned(), GrantStatus::Active, Some(expires())),
            ("trade-account".to_owned(), GrantStatus::Pending, None)
        ]
    );
    let contact = store.contact(b.t, b.id).await.unwrap().unwrap();
    assert_eq!(contact.version, 7);
    // Version 7 is the last record's decision.
    let last = b.records.iter().rev().find(|(_, r)| matches!(r, LogRecord::Decision(Decision { outcome: Outcome::Accepted { subject, .. }, .. }) if *subject == Some(b.id)));
    assert_eq!(contact, held_contact(&b.log, b.t, b.id, issued_at(last.unwrap())));
}

#[tokio::test]
async fn the_grant_history_holds_each_change_once_with_its_decisions_time_up_to_a_moment() {
    let db = TestDb::new().await;
    let mut b = busy();
    project(&db.store, &b.records).await;
    // Decisions repeated later in the log add nothing to the history.
    let repeated: Vec<At> = b.records[5..].iter().map(|(_, r)| b.log.push(r.clone())).collect();
    project(&db.store, &repeated).await;

    let granted = |status, expires| GrantChange::Granted { status, expires };
    let far = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single().unwrap();
    let history = db.store.grant_history(b.t, b.id, far).await.unwrap();
    let seen: Vec<(&str, u64, GrantChange)> =
        history.iter().map(|c| (c.reference.as_str(), c.version, c.change.clone())).collect();
    assert_eq!(
        seen,
        [
            ("customer", 1, granted(GrantStatus::Active, None)),
            ("trade-account", 1, granted(GrantStatus::Pending, None)),
            ("seasonal", 1, granted(GrantStatus::Active, Some(expires()))),
            ("customer", 2, granted(GrantStatus::Active, Some(expires()))),
            ("trade-account", 3, GrantChange::Activated),
            ("seasonal", 4, GrantChange::Revoked),
            ("trade-account", 6, GrantChange::Revoked),
            ("trade-account", 7, granted(GrantStatus::Pending, None)),
        ]
    );
    // Each change at its decision's `issued_at` (records 5.. are versions 1..7).
    for change in &history {
        let record = &b.records[4 + usize::try_from(change.version).unwrap()];
        assert_eq!(change.at, issued_at(record), "version {}", change.version);
    }

    // Up to the approval (v3): nothing later, and folded it is the grants as
    // the handler held them then.
    let approved_at = issued_at(&b.records[7]);
    let until = db.store.grant_history(b.t, b.id, approved_at).await.unwrap();
    assert_eq!(until.iter().map(|c| c.version).max(), Some(3));
    let trade: Vec<_> = until.iter().filter(|c| c.reference == "trade-account").map(|c| (c.at, &c.change)).collect();
    let past = grant_as_of("trade-account", trade).unwrap();
    assert_eq!((past.grant.status, past.granted_at, past.revoked_at), (GrantStatus::Active, approved_at, None));
    let before = issued_at(&b.records[5]) - chrono::Duration::seconds(1);
    assert_eq!(db.store.grant_history(b.t, b.id, before).await.unwrap(), vec![]);
    assert_eq!(db.store.grant_history(new_tenant(), b.id, far).await.unwrap(), vec![]);
}

#[tokio::test]
async fn reapplying_the_same_offsets_changes_no_role() {
    let db = TestDb::new().await;
    let b = busy();
    project(&db.store, &b.records).await;
    check_against_state(&db.store, &b).await;
    let before = db.store.dump_read_models().await.unwrap();
    assert_eq!(before["access_roles"].as_array().unwrap().len(), 3);
    assert_eq!(before["contact_roles"].as_array().unwrap().len(), 2);

    let mut again = db.store.begin_projection(TOPIC).await.unwrap();
    for (offset, record) in &b.records {
        assert_eq!(again.apply(0, *offset, Some(record)).await.unwrap(), Applied::AlreadyApplied);
    }
    again.commit().await.unwrap();
    assert_eq!(db.store.dump_read_models().await.unwrap(), before);
}

#[tokio::test]
async fn repeated_decisions_never_bring_back_an_older_grant() {
    let db = TestDb::new().await;
    let mut b = busy();
    project(&db.store, &b.records).await;
    let before = db.store.dump_read_models().await.unwrap();

    // Every decision appended once more, all in one later batch (as a writer
    // that retried would): each is older than the stored contact version.
    let repeated: Vec<At> = b.records[1..].iter().map(|(_, r)| b.log.push(r.clone())).collect();
    project(&db.store, &repeated).await;
    assert_eq!(db.store.dump_read_models().await.unwrap(), before);

    // Each decision once more on its own (the whole history in order would
    // end where it started anyway): none may move anything, even for a while.
    for record in &b.records[1..] {
        let at = b.log.push(record.1.clone());
        project(&db.store, std::slice::from_ref(&at)).await;
        assert_eq!(db.store.dump_read_models().await.unwrap(), before, "after repeating offset {}", record.0);
    }
    check_against_state(&db.store, &b).await;
}

#[tokio::test]
async fn repeats_inside_a_batch_are_judged_against_the_stored_and_the_batchs_versions() {
    let clean = TestDb::new().await;
    let mut b = busy();
    project(&clean.store, &b.records).await;
    let expected = clean.store.dump_read_models().await.unwrap();

    // Stored up to v2 (the customer grant with its expiry); then one batch in
    // which older decisions come back before and after newer ones: a repeat
    // of the create (v1) before the approval must not reset the customer
    // grant's expiry, and a repeat of the approval (v3) after the revocation
    // (v6) must not touch the new pending grant (v7).
    let db = TestDb::new().await;
    let (stored, rest) = b.records.split_at(7);
    project(&db.store, stored).await;
    let (create, approve) = (b.records[5].1.clone(), b.records[7].1.clone());
    let mut batch = vec![b.log.push(create.clone())];
    for (_, record) in rest {
        batch.push(b.log.push(record.clone()));
        batch.push(b.log.push(create.clone()));
    }
    batch.push(b.log.push(approve));
    project(&db.store, &batch).await;

    assert_eq!(db.store.dump_read_models().await.unwrap(), expected);
    check_against_state(&db.store, &b).await;
}

#[tokio::test]
async fn grant_changes_on_both_sides_of_a_mid_batch_flush_are_kept_in_order() {
    let db = TestDb::new().await;
    let mut b = busy();
    // The projection flushes every 1000 decisions: 1000 fillers after the
    // regrant (v2) put the approval and the rest in a later flush, and 1000
    // more put the repeats of the create (v1) and the approval (v3) in a
    // flush of their own, where only the stored version can tell they are old.
    let filler = |log: &mut Log, from: usize| -> Vec<At> {
        (from..from + 1000)
            .map(|i| {
                log.decide(
                    b.t,
                    "DefineAccessRole",
                    json!({"reference": format!("bulk-{i:04}"), "name": "Bulk", "grant_rule": "automatic"}),
                )
            })
            .collect()
    };
    let (head, tail) = b.records.split_at(7);
    let tail: Vec<LogRecord> = tail.iter().map(|(_, r)| r.clone()).collect();
    let mut records = head.to_vec();
    records.extend(filler(&mut b.log, 0));
    records.extend(tail.into_iter().map(|r| b.log.push(r)));
    records.extend(filler(&mut b.log, 1000));
    let (create, approve) = (b.records[5].1.clone(), b.records[7].1.clone());
    records.push(b.log.push(create));
    records.push(b.log.push(approve));
    project(&db.store, &records).await;

    check_against_state(&db.store, &b).await;
    assert_eq!(db.store.access_roles(b.t).await.unwrap().len(), 2003);
}

#[tokio::test]
async fn a_reset_and_replay_rebuilds_the_same_roles_and_grants() {
    let db = TestDb::new().await;
    let mut b = busy();
    // A second user and tenant, so the tables hold more than one key.
    let other = new_tenant();
    b.records.push(create_tenant(&mut b.log, other));
    b.records.extend(define_roles(&mut b.log, other));
    b.records.push(create_user(&mut b.log, other, "o@example.com"));
    b.records.push(create_user(&mut b.log, b.t, "second@example.com"));

    // Live: a few records per transaction, as the projector would.
    for chunk in b.records.chunks(3) {
        project(&db.store, chunk).await;
    }
    let live = db.store.dump_read_models().await.unwrap();
    assert_eq!(live["access_roles"].as_array().unwrap().len(), 6);
    assert_eq!(live["contact_roles"].as_array().unwrap().len(), 2 + 3 + 3);
    let first = &live["contact_roles"][0];
    assert_eq!(first["status"], Value::from("active"));

    let mut replay = db.store.begin_projection(TOPIC).await.unwrap();
    replay.reset().await.unwrap();
    for (offset, record) in &b.records {
        replay.apply(0, *offset, Some(record)).await.unwrap();
    }
    replay.commit().await.unwrap();
    assert_eq!(db.store.dump_read_models().await.unwrap(), live);
    check_against_state(&db.store, &b).await;

    // A reset alone empties the role tables too.
    let mut reset = db.store.begin_projection(TOPIC).await.unwrap();
    reset.reset().await.unwrap();
    reset.commit().await.unwrap();
    let empty = db.store.dump_read_models().await.unwrap();
    assert_eq!((empty["access_roles"].clone(), empty["contact_roles"].clone()), (json!([]), json!([])));
}
