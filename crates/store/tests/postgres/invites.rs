//! Invites: the `contact_invites` read model through an invite's life, and
//! the mailer's own tables (tokens, positions), which a replay never touches.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger_domain::{ContactId, Event, InviteId, TenantId};
use ledger_ports::{Contacts, InviteState, Invites, Tenants};
use ledger_protocol::{LogRecord, Outcome};
use ledger_store::{InviteTicket, MailerPosition, Store, TokenState, invite_token_hash};
use serde_json::{Value, json};

use crate::support::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

/// A tenant and an invited user: the claim, the tenant and the user's records.
fn invited_user(log: &mut Log, t: TenantId) -> (Vec<At>, ContactId, InviteId, DateTime<Utc>) {
    let records = vec![
        log.claim(1),
        create_tenant(log, t),
        log.decide(
            t,
            "CreateContact",
            json!({"kind": "user", "email": "bob@example.com", "first_name": "Bob", "last_name": "B", "invite": true}),
        ),
    ];
    let ((invite, expires), contact) = (requested(&records[2]), contact_id(&records[2]));
    (records, contact, invite, expires)
}

fn requested(at: &At) -> (InviteId, DateTime<Utc>) {
    match &at.1 {
        LogRecord::Decision(d) => match &d.outcome {
            Outcome::Accepted { events, .. } => events
                .iter()
                .find_map(|e| match e {
                    Event::InviteRequested(i) => Some((i.invite_id, i.expires_at)),
                    _ => None,
                })
                .expect("an InviteRequested"),
            Outcome::Rejected { rejection } => panic!("rejected: {rejection:?}"),
        },
        other => panic!("not a decision: {other:?}"),
    }
}

fn sent(log: &mut Log, t: TenantId, invite: InviteId) -> At {
    log.decide(t, "RecordInviteSent", json!({"invite_id": invite.to_string(), "message_id": "<m@x>"}))
}

fn failed(log: &mut Log, t: TenantId, invite: InviteId) -> At {
    log.decide(
        t,
        "RecordInviteDeliveryFailed",
        json!({"invite_id": invite.to_string(), "reason": "451", "attempts": 3}),
    )
}

fn accepted(log: &mut Log, t: TenantId, invite: InviteId) -> At {
    log.decide(t, "AcceptInvite", json!({"invite_id": invite.to_string(), "password_hash": HASH}))
}

async fn invites(store: &Store) -> Value {
    store.dump_read_models().await.unwrap()["contact_invites"].clone()
}

#[tokio::test]
async fn an_invite_is_projected_through_sent_and_accepted_and_each_step_raises_the_contacts_version() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let (records, contact, invite, expires) = invited_user(&mut log, t);
    project(&db.store, &records).await;
    let rows = invites(&db.store).await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let row = &rows[0];
    assert_eq!((row["state"].as_str(), row["invite_id"].as_str()), (Some("requested"), Some(&*invite.to_string())));
    assert_eq!(row["tenant_id"], t.to_string());
    assert_eq!(row["contact_id"], contact.to_string());
    assert_eq!(row["expires_at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), expires);
    assert!(row["sent_at"].is_null() && row["message_id"].is_null() && row["accepted_at"].is_null());

    let send = sent(&mut log, t, invite);
    project(&db.store, std::slice::from_ref(&send)).await;
    let row = &invites(&db.store).await[0];
    assert_eq!((row["state"].as_str(), row["message_id"].as_str()), (Some("sent"), Some("<m@x>")));
    assert!(!row["sent_at"].is_null());
    assert_eq!(db.store.contact(t, contact).await.unwrap().unwrap().version, 2);

    project(&db.store, &[accepted(&mut log, t, invite)]).await;
    let row = &invites(&db.store).await[0];
    assert_eq!(row["state"], "accepted");
    assert!(!row["accepted_at"].is_null() && !row["sent_at"].is_null(), "the send is still on record");
    let shown = db.store.contact(t, contact).await.unwrap().unwrap();
    assert_eq!((shown.version, shown.registered), (3, true));
    let history: Vec<String> =
        db.store.contact_events(t, contact).await.unwrap().into_iter().map(|e| e.event_type).collect();
    assert_eq!(history, ["ContactCreated", "InviteRequested", "InviteSent", "PasswordSet", "InviteAccepted"]);

    // A repeated older decision does not take the invite back.
    project(&db.store, &[log.push(send.1)]).await;
    assert_eq!(invites(&db.store).await[0]["state"], "accepted");
}

#[tokio::test]
async fn one_batch_gives_the_same_invites_as_one_record_per_transaction() {
    let mut log = Log::default();
    let t = new_tenant();
    let (mut records, _, first, _) = invited_user(&mut log, t);
    records.push(failed(&mut log, t, first));
    records.push(sent(&mut log, t, first)); // a later send after a failure
    let again = log.decide(t, "RequestInvite", json!({"contact_id": contact_id(&records[2]).to_string()}));
    let (second, _) = requested(&again);
    records.push(again);
    records.push(failed(&mut log, t, second));
    records.push(accepted(&mut log, t, second));

    let (one_by_one, batched) = (TestDb::new().await, TestDb::new().await);
    for record in &records {
        project(&one_by_one.store, std::slice::from_ref(record)).await;
    }
    project(&batched.store, &records).await;
    let dump = one_by_one.store.dump_read_models().await.unwrap();
    assert_eq!(batched.store.dump_read_models().await.unwrap(), dump);
    let states: Vec<(&str, &str)> = dump["contact_invites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["invite_id"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    let mut expected = [(first.to_string(), "superseded"), (second.to_string(), "accepted")];
    expected.sort();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(i, s)| (i.as_str(), *s)).collect();
    assert_eq!(states, expected);
}

fn request_again(log: &mut Log, t: TenantId, contact: ContactId) -> At {
    log.decide(t, "RequestInvite", json!({"contact_id": contact.to_string()}))
}

/// `(invite, state)` of every invite row, in invite id order.
async fn states(store: &Store) -> Vec<(String, String)> {
    let rows = invites(store).await;
    let field = |r: &Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
    rows.as_array().unwrap().iter().map(|r| (field(r, "invite_id"), field(r, "state"))).collect()
}

#[tokio::test]
async fn a_newer_invite_supersedes_the_older_ones_and_their_links_say_so() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let (mut records, contact, first, expires) = invited_user(&mut log, t);
    let first_sent = sent(&mut log, t, first);
    records.push(first_sent.clone());
    project(&db.store, &records).await;
    let ticket = InviteTicket { tenant_id: t, invite_id: first, contact_id: contact, expires_at: expires };
    let token = db.store.begin_invite(&ticket).await.unwrap().expect("a token");

    let again = request_again(&mut log, t, contact);
    let (second, _) = requested(&again);
    project(&db.store, &[again]).await;
    let view = db.store.invite_by_token_hash(&token.hash()).await.unwrap().expect("still known");
    assert_eq!((view.invite_id, view.state), (first, InviteState::Superseded));
    let expected = vec![(first.to_string(), "superseded".to_owned()), (second.to_string(), "requested".to_owned())];
    assert_eq!(states(&db.store).await, expected);

    // A repeated report about the older invite does not bring it back, and
    // the newer one moves on as usual.
    project(&db.store, &[log.push(first_sent.1), sent(&mut log, t, second)]).await;
    let expected = vec![(first.to_string(), "superseded".to_owned()), (second.to_string(), "sent".to_owned())];
    assert_eq!(states(&db.store).await, expected);
}

#[tokio::test]
async fn of_several_requests_in_one_batch_only_the_last_stays_live_and_an_accepted_invite_is_never_superseded() {
    let mut log = Log::default();
    let t = new_tenant();
    let (mut records, contact, first, _) = invited_user(&mut log, t);
    records.push(accepted(&mut log, t, first));
    let requests: Vec<At> = (0..3).map(|_| request_again(&mut log, t, contact)).collect();
    let ids: Vec<InviteId> = requests.iter().map(|r| requested(r).0).collect();
    records.extend(requests.iter().cloned());
    // A repeat of an older request later in the log changes nothing.
    let repeat = log.push(requests[0].1.clone());

    let (one_by_one, batched) = (TestDb::new().await, TestDb::new().await);
    for record in &records {
        project(&one_by_one.store, std::slice::from_ref(record)).await;
    }
    project(&one_by_one.store, std::slice::from_ref(&repeat)).await;
    records.push(repeat);
    project(&batched.store, &records).await;
    assert_eq!(batched.store.dump_read_models().await.unwrap(), one_by_one.store.dump_read_models().await.unwrap());

    let mut expected = vec![
        (first.to_string(), "accepted".to_owned()),
        (ids[0].to_string(), "superseded".to_owned()),
        (ids[1].to_string(), "superseded".to_owned()),
        (ids[2].to_string(), "requested".to_owned()),
    ];
    expected.sort();
    assert_eq!(states(&batched.store).await, expected);
}

#[tokio::test]
async fn a_token_is_made_while_the_invite_is_unsent_and_a_replaced_one_stays_valid() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let (records, contact, invite, expires) = invited_user(&mut log, t);
    let ticket = InviteTicket { tenant_id: t, invite_id: invite, contact_id: contact, expires_at: expires };
    assert_eq!(db.store.invite_token_state(t, invite).await.unwrap(), None);

    let first = db.store.begin_invite(&ticket).await.unwrap().expect("a token");
    // Not projected yet: the invite reads as requested.
    let view = db.store.invite_by_token_hash(&first.hash()).await.unwrap().expect("known by its hash");
    assert_eq!((view.tenant_id, view.invite_id, view.contact_id, view.expires_at), (t, invite, contact, expires));
    assert_eq!(view.state, InviteState::Requested);

    // A crash before the send was marked: a fresh token, the first still leads to the invite.
    let second = db.store.begin_invite(&ticket).await.unwrap().expect("a fresh token");
    assert_ne!(first.expose(), second.expose());
    assert_eq!(db.store.invite_token_state(t, invite).await.unwrap(), Some(TokenState::Pending));
    db.store.mark_invite_sent(t, invite).await.unwrap();
    assert_eq!(db.store.invite_token_state(t, invite).await.unwrap(), Some(TokenState::Sent));
    assert!(db.store.begin_invite(&ticket).await.unwrap().is_none(), "a sent invite gets no new token");

    project(&db.store, &records).await;
    project(&db.store, &[sent(&mut log, t, invite)]).await;
    for token in [&first, &second] {
        let view = db.store.invite_by_token_hash(&token.hash()).await.unwrap().expect("valid");
        assert_eq!((view.invite_id, view.state), (invite, InviteState::Sent));
    }
    assert_eq!(db.store.invite_by_token_hash(&invite_token_hash("guess")).await.unwrap(), None);

    // Only hashes are stored.
    let stored: Vec<String> = sqlx::query_scalar("SELECT row_to_json(t)::text FROM invite_tokens t")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    assert!(stored.iter().all(|row| !row.contains(first.expose()) && !row.contains(second.expose())));
}

#[tokio::test]
async fn a_replay_rebuilds_the_invites_and_never_touches_the_mailers_tokens_or_positions() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let (mut records, contact, invite, expires) = invited_user(&mut log, t);
    records.push(sent(&mut log, t, invite));
    project(&db.store, &records).await;
    let ticket = InviteTicket { tenant_id: t, invite_id: invite, contact_id: contact, expires_at: expires };
    let token = db.store.begin_invite(&ticket).await.unwrap().unwrap();
    db.store.mark_invite_sent(t, invite).await.unwrap();
    let positions = BTreeMap::from([(0, MailerPosition { next_offset: 4, epoch: 1 })]);
    db.store.begin_mailer_batch(TOPIC).await.unwrap().commit(&positions).await.unwrap();
    let live = db.store.dump_read_models().await.unwrap();

    let mut projection = db.store.begin_projection(TOPIC).await.unwrap();
    projection.reset().await.unwrap();
    projection.commit().await.unwrap();
    assert_eq!(invites(&db.store).await, json!([]), "the read model is cleared");
    assert_eq!(db.store.invite_token_state(t, invite).await.unwrap(), Some(TokenState::Sent));
    assert_eq!(db.store.mailer_positions(TOPIC).await.unwrap(), positions);
    let view = db.store.invite_by_token_hash(&token.hash()).await.unwrap().unwrap();
    assert_eq!(view.state, InviteState::Requested, "until the rebuild has it again");

    project(&db.store, &records).await;
    assert_eq!(db.store.dump_read_models().await.unwrap(), live);
}

#[tokio::test]
async fn mailer_positions_round_trip_and_one_mailer_batch_runs_at_a_time() {
    let db = TestDb::new().await;
    assert!(db.store.mailer_positions(TOPIC).await.unwrap().is_empty());
    let batch = db.store.begin_mailer_batch(TOPIC).await.unwrap();
    assert!(batch.positions().is_empty());
    // While a batch is open, a second one waits for it.
    let store = db.store.clone();
    let second = tokio::spawn(async move { store.begin_mailer_batch(TOPIC).await.unwrap().positions().clone() });
    assert!(a_session_waits_on_a_lock(&db).await, "the second batch waits for the lock");
    assert!(!second.is_finished());
    let positions = BTreeMap::from([
        (0, MailerPosition { next_offset: 7, epoch: 2 }),
        (3, MailerPosition { next_offset: 1, epoch: 1 }),
    ]);
    batch.commit(&positions).await.unwrap();
    assert_eq!(second.await.unwrap(), positions, "the second batch starts where the first left off");
    assert_eq!(db.store.mailer_positions(TOPIC).await.unwrap(), positions);
    assert!(db.store.mailer_positions("another.events").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_tenant_is_read_by_its_id() {
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    project(&db.store, &[log.claim(1), create_tenant(&mut log, t)]).await;
    let tenant = db.store.tenant(t).await.unwrap().expect("the tenant");
    assert_eq!((tenant.tenant_id, tenant.name.as_str(), tenant.contact_capture), (t, "Acme", true));
    assert_eq!(db.store.tenant(new_tenant()).await.unwrap(), None);
}

#[tokio::test]
async fn two_tenants_invites_with_one_id_get_their_own_tokens_and_states() {
    // A client chooses its command ids, and an invite's id derives from its
    // command's: two tenants can have invites with one id.
    let db = TestDb::new().await;
    let mut log = Log::default();
    let (a, b) = (new_tenant(), new_tenant());
    let (_, contact, invite, expires) = invited_user(&mut log, a);
    let ticket_a = InviteTicket { tenant_id: a, invite_id: invite, contact_id: contact, expires_at: expires };
    let ticket_b = InviteTicket { tenant_id: b, ..ticket_a.clone() };
    let token_a = db.store.begin_invite(&ticket_a).await.unwrap().expect("a's token");
    db.store.mark_invite_sent(a, invite).await.unwrap();

    assert_eq!(db.store.invite_token_state(b, invite).await.unwrap(), None, "b's invite is not a's");
    let token_b = db.store.begin_invite(&ticket_b).await.unwrap().expect("b's invite gets a token of its own");
    assert_ne!(token_a.expose(), token_b.expose());
    assert_eq!(db.store.invite_token_state(a, invite).await.unwrap(), Some(TokenState::Sent));
    assert_eq!(db.store.invite_token_state(b, invite).await.unwrap(), Some(TokenState::Pending));
    for (token, tenant) in [(&token_a, a), (&token_b, b)] {
        let view = db.store.invite_by_token_hash(&token.hash()).await.unwrap();
        assert_eq!(view.map(|v| v.tenant_id), Some(tenant), "each token leads to its own tenant's invite");
    }
}

#[tokio::test]
async fn a_created_contacts_outcome_and_history_fold_back_into_the_contact() {
    use ledger_ports::Commands;
    let db = TestDb::new().await;
    let mut log = Log::default();
    let t = new_tenant();
    let (records, contact, _, _) = invited_user(&mut log, t);
    project(&db.store, &records).await;
    let view = db.store.command(t, command_id(&records[2])).await.unwrap().expect("an outcome");
    // ContactCreated and InviteRequested, each read in its schema version.
    assert_eq!(view.events.len(), 2);
    assert!(view.events.iter().all(|e| e.schema_version == Some(1)), "{:?}", view.events);
    let folded = view.created_contact(contact).expect("the outcome's events fold back");
    let stored = db.store.contact(t, contact).await.unwrap().expect("projected");
    assert_eq!((folded.id, folded.version, &folded.profile), (stored.id, stored.version, &stored.profile));
    let history = db.store.contact_events(t, contact).await.unwrap();
    assert!(history.iter().all(|e| e.schema_version == Some(1)), "{history:?}");
}
