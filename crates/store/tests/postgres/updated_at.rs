//! `updated_at` follows `version`: every decision that raises a contact's
//! version (a profile change, a grant change, an invite step, a password)
//! sets it to that decision's `issued_at`, in any batch, and a decision
//! repeated in the log moves neither.
use chrono::{DateTime, Utc};
use ledger_domain::{ContactId, Event, InviteId, TenantId};
use ledger_ports::Contacts;
use ledger_protocol::{LogRecord, Outcome};
use ledger_store::Store;
use serde_json::json;

use crate::support::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

fn issued_at(at: &At) -> DateTime<Utc> {
    match &at.1 {
        LogRecord::Decision(d) => d.issued_at,
        other => panic!("only a decision is issued: {other:?}"),
    }
}

fn invite_of(at: &At) -> InviteId {
    let LogRecord::Decision(d) = &at.1 else { panic!("not a decision") };
    let Outcome::Accepted { events, .. } = &d.outcome else { panic!("rejected: {d:?}") };
    events
        .iter()
        .find_map(|e| match e {
            Event::InviteRequested(i) => Some(i.invite_id),
            _ => None,
        })
        .expect("an InviteRequested")
}

async fn stamp(store: &Store, t: TenantId, id: ContactId) -> (u64, DateTime<Utc>) {
    let c = store.contact(t, id).await.unwrap().expect("the contact");
    (c.version, c.updated_at)
}

/// A tenant with an automatic role and an invited user (v1).
fn invited_user(log: &mut Log, t: TenantId) -> (Vec<At>, ContactId) {
    let mut records = vec![log.claim(1), create_tenant(log, t)];
    records.push(log.decide(
        t,
        "DefineAccessRole",
        json!({"reference": "customer", "name": "Customer", "grant_rule": "automatic"}),
    ));
    let created = log.decide(
        t,
        "CreateContact",
        json!({"kind": "user", "email": "u@example.com", "first_name": "U", "last_name": "V", "invite": true}),
    );
    let id = contact_id(&created);
    records.push(created);
    (records, id)
}

#[tokio::test]
async fn grants_invites_and_a_password_move_updated_at_to_their_decisions_time() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let (records, id) = invited_user(&mut log, t);
    project(&db.store, &records).await;
    let created_at = issued_at(&records[3]);
    assert_eq!(stamp(&db.store, t, id).await, (1, created_at));
    let first_invite = invite_of(&records[3]);

    let contact = id.to_string();
    let grant = log.decide(t, "GrantRoles", json!({"contact_id": contact, "access_roles": ["customer"]}));
    let invite = log.decide(t, "RequestInvite", json!({"contact_id": contact}));
    let invite_id = invite_of(&invite);
    let sent = log.decide(t, "RecordInviteSent", json!({"invite_id": invite_id.to_string(), "message_id": "<m@x>"}));
    let accepted = log.decide(t, "AcceptInvite", json!({"invite_id": invite_id.to_string(), "password_hash": HASH}));
    let revoked = log.decide(t, "RevokeRole", json!({"contact_id": contact, "reference": "customer"}));
    for (version, step) in [(2, &grant), (3, &invite), (4, &sent), (5, &accepted), (6, &revoked)] {
        project(&db.store, std::slice::from_ref(step)).await;
        assert_eq!(stamp(&db.store, t, id).await, (version, issued_at(step)), "after version {version}");
    }
    let shown = db.store.contact(t, id).await.unwrap().unwrap();
    assert_eq!(shown.created_at, created_at, "created_at never moves");

    // Repeated older decisions (alone, and a report of the superseded first
    // invite that changes nothing) move neither version nor updated_at.
    project(&db.store, &[log.push(grant.1.clone()), log.push(accepted.1.clone())]).await;
    let late = log.decide(t, "RecordInviteSent", json!({"invite_id": first_invite.to_string(), "message_id": "<o@x>"}));
    project(&db.store, &[late]).await;
    assert_eq!(stamp(&db.store, t, id).await, (6, issued_at(&revoked)));
}

#[tokio::test]
async fn in_one_batch_the_highest_version_sets_updated_at_whether_a_profile_change_or_a_mark() {
    let mut log = Log::default();
    let t = new_tenant();
    let (mut records, id) = invited_user(&mut log, t);
    let contact = id.to_string();
    // A mark above a profile change, then a profile change above a mark,
    // then a repeat of an older decision last.
    records.push(log.decide(t, "PatchContact", json!({"contact_id": contact, "patch": {"title": "A"}}))); // v2
    records.push(log.decide(t, "GrantRoles", json!({"contact_id": contact, "access_roles": ["customer"]}))); // v3
    let (one_batch, live) = (TestDb::new().await, TestDb::new().await);
    project(&one_batch.store, &records).await;
    assert_eq!(stamp(&one_batch.store, t, id).await, (3, issued_at(&records[5])));

    let mut more = vec![log.decide(t, "RequestInvite", json!({"contact_id": contact}))]; // v4
    more.push(log.decide(t, "PatchContact", json!({"contact_id": contact, "patch": {"title": "B"}}))); // v5
    let repeat = records[5].1.clone();
    more.push(log.push(repeat));
    project(&one_batch.store, &more).await;
    assert_eq!(stamp(&one_batch.store, t, id).await, (5, issued_at(&more[1])));

    // The same log a record per transaction gives the same tables.
    for record in records.iter().chain(&more) {
        project(&live.store, std::slice::from_ref(record)).await;
    }
    assert_eq!(live.store.dump_read_models().await.unwrap(), one_batch.store.dump_read_models().await.unwrap());
}
