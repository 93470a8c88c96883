//! The invite mailer's step (`Mailer::process_next`) against the real broker
//! and PostgreSQL (`CL_TEST_KAFKA_BROKERS`, `CL_TEST_DATABASE_URL`; started
//! by `scripts/test`), with the real handler and projector running and a
//! recording `Sender` in place of SMTP: what is mailed, what is recorded,
//! and that re-reading the log or a crash mid-send never mails twice.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contact_ledger::{
    app::{self, Roles, Running},
    config::Common,
    mailer::{Mailer, Retry, outcome_command_id},
    tenant,
};
use ledger_domain::{CommandId, ContactId, InviteId, TenantId};
use ledger_kafka::{EventReader, KafkaBus};
use ledger_mail::{InviteMail, MailConfig, SendError, Sender, message_id};
use ledger_ports::{CommandStatus, CommandView, Commands, InviteState, Invites};
use ledger_protocol::CommandEnvelope;
use ledger_store::{InviteTicket, Store, TokenState, invite_token_hash, test_support::TestDatabase};
use serde_json::{Value, json};
use tokio::sync::watch;
use ulid::Ulid;

const BASE_URL: &str = "http://ledger.test";
const WAIT: Duration = Duration::from_secs(30);

/// Records every mail; the first `failures` sends fail (transiently).
#[derive(Default)]
struct Recording {
    mails: Mutex<Vec<InviteMail>>,
    calls: Mutex<u32>,
    failures: u32,
}

impl Recording {
    fn mails(&self) -> Vec<InviteMail> {
        self.mails.lock().unwrap().clone()
    }
}

#[async_trait]
impl Sender for Recording {
    async fn send(&self, mail: &InviteMail) -> Result<String, SendError> {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        if call <= self.failures {
            return Err(SendError::Smtp { message: "451 try again later".into(), permanent: false });
        }
        self.mails.lock().unwrap().push(mail.clone());
        Ok(mail.message_id())
    }
}

struct Setup {
    running: Running,
    bus: KafkaBus,
    tenant: TenantId,
    _stop: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    /// Last, so the database is dropped after everything that uses it.
    _db: TestDatabase,
}

impl Setup {
    /// A fresh database and topics, with the handler and projector running and one tenant.
    async fn new() -> Setup {
        let id = Ulid::new().to_string().to_lowercase();
        let db = TestDatabase::create(&format!("cl_mailer_test_{id}")).await;
        let common = Common {
            db_pool: 10,
            ..Common::with_defaults(
                db.url(),
                &std::env::var("CL_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19093".into()),
                &format!("m-{id}."),
                1,
            )
        };
        let roles = Roles { handler: true, projector: true, ..Roles::NONE };
        let running = app::start(&common, roles, "127.0.0.1:0".parse().unwrap()).await.expect("start");
        running.ready(Duration::from_secs(60)).await.expect("handler ready");
        let bus = KafkaBus::new(running.kafka.clone()).expect("bus");
        let created = tenant::create(&bus, &running.store, "Acme & Co", WAIT).await.expect("tenant");
        let tenant = created["tenant_id"].as_str().unwrap().parse().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        Setup { running, bus, tenant, _stop: stop, stop_rx, _db: db }
    }

    fn store(&self) -> &Store {
        &self.running.store
    }

    fn mailer(&self, sender: Arc<Recording>, attempts: u32) -> Mailer {
        let mail = MailConfig {
            smtp: None,
            from: "Ledger <no-reply@example.com>".into(),
            public_base_url: BASE_URL.into(),
            outbox: std::env::temp_dir().join("unused"),
            log_links: false,
        };
        let retry = Retry { attempts, base: Duration::from_millis(1) };
        let bus = Arc::new(KafkaBus::new(self.running.kafka.clone()).unwrap());
        let topic = self.running.kafka.events_topic.clone();
        Mailer::new(self.store().clone(), bus, sender, mail, retry, &topic, self.stop_rx.clone())
    }

    async fn reader(&self, mailer: &Mailer) -> EventReader {
        mailer.reader(&self.running.kafka).await.expect("reader")
    }

    async fn decide(&self, command_id: CommandId, ty: &str, payload: Value) -> CommandView {
        let command = ledger_domain::wire::parse(ty, &payload).expect("a valid command");
        let envelope = CommandEnvelope { command_id, tenant_id: self.tenant, issued_at: Utc::now(), command };
        ledger_ports::CommandBus::submit(&self.bus, &envelope).await.expect("submit");
        self.store().wait_for_command(self.tenant, command_id, WAIT).await.expect("read").expect("decided in time")
    }

    /// Creates an invited user; returns its id and the `InviteRequested` data.
    async fn invited_user(&self, email: &str) -> (ContactId, InviteId, DateTime<Utc>) {
        let payload =
            json!({"kind": "user", "first_name": "Bob", "last_name": "<Bobsworth>", "email": email, "invite": true});
        let view = self.decide(CommandId(Ulid::new()), "CreateContact", payload).await;
        assert_eq!(view.status, CommandStatus::Accepted, "{view:?}");
        let requested = view.events.iter().find(|e| e.event_type == "InviteRequested").expect("an invite");
        let invite = requested.data["invite_id"].as_str().unwrap().parse().unwrap();
        let expires = requested.data["expires_at"].as_str().unwrap().parse().unwrap();
        (view.contact_id.expect("contact"), invite, expires)
    }

    async fn outcome(&self, invite: InviteId, outcome: &str) -> CommandView {
        let id = outcome_command_id(invite, outcome);
        self.store().wait_for_command(self.tenant, id, WAIT).await.unwrap().expect("the outcome is decided")
    }

    /// Stops the roles; the database goes with `self`.
    async fn stop(self) {
        self.running.stop().await;
    }
}

/// Runs the mailer's step until `done` holds.
async fn drive_until(mailer: &Mailer, reader: &EventReader, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "the mailer did not get there in time");
        mailer.process_next(reader).await.expect("process_next");
    }
}

/// Runs the mailer's step until it has read the whole log and it stays quiet.
async fn drive_to_the_end(mailer: &Mailer, reader: &EventReader) {
    let (mut read, mut quiet) = (0, 0);
    let deadline = tokio::time::Instant::now() + WAIT;
    while read == 0 || quiet < 10 {
        assert!(tokio::time::Instant::now() < deadline, "the mailer never caught up");
        let n = mailer.process_next(reader).await.expect("process_next");
        read += n;
        quiet = if n == 0 { quiet + 1 } else { 0 };
    }
}

fn token_of(mail: &InviteMail) -> String {
    let token = mail.link.strip_prefix(&format!("{BASE_URL}/invite/")).expect("the link points to the invite page");
    assert_eq!(token.len(), 64, "256 bits, hex");
    token.to_owned()
}

#[tokio::test]
async fn an_invite_is_mailed_once_recorded_as_sent_and_a_re_read_from_offset_zero_mails_nothing() {
    let s = Setup::new().await;
    let (contact, invite, expires) = s.invited_user("bob@example.com").await;
    let sender = Arc::new(Recording::default());
    let mailer = s.mailer(sender.clone(), 3);
    let reader = s.reader(&mailer).await;
    drive_until(&mailer, &reader, || !sender.mails().is_empty()).await;

    let mail = &sender.mails()[0];
    assert_eq!((mail.to.as_str(), mail.contact_name.as_str()), ("bob@example.com", "Bob <Bobsworth>"));
    assert_eq!((mail.tenant_name.as_str(), mail.invite_id, mail.expires_at), ("Acme & Co", invite, expires));
    let outcome = s.outcome(invite, "sent").await;
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].event_type, "InviteSent");
    assert_eq!(outcome.events[0].data["message_id"], message_id(s.tenant, invite));

    // Only the token's hash is stored, and it leads to the invite.
    let hash = invite_token_hash(&token_of(mail));
    let view = s.store().invite_by_token_hash(&hash).await.unwrap().expect("the token is known");
    assert_eq!((view.tenant_id, view.invite_id, view.contact_id), (s.tenant, invite, contact));
    assert_eq!(view.state, InviteState::Sent);
    assert_eq!(s.store().invite_token_state(s.tenant, invite).await.unwrap(), Some(TokenState::Sent));
    let dump = s.store().dump_read_models().await.unwrap().to_string();
    assert!(!dump.contains(&token_of(mail)), "the token is in no read model");

    // Forget the mailer's positions: it reads the whole log again and mails nobody.
    sqlx::query("DELETE FROM mailer_positions").execute(s.store().pool()).await.unwrap();
    let again = s.mailer(sender.clone(), 3);
    let reader = s.reader(&again).await;
    drive_to_the_end(&again, &reader).await;
    assert_eq!(sender.mails().len(), 1, "nothing is mailed twice");
    assert_eq!(*sender.calls.lock().unwrap(), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_crash_after_the_smtp_accept_re_sends_once_with_the_same_message_id_and_both_links_work() {
    let s = Setup::new().await;
    let (contact, invite, expires) = s.invited_user("carol@example.com").await;
    // A mailer made a token and handed the mail to SMTP, then died before
    // recording it: the row is pending, the first link may be in an inbox.
    let ticket = InviteTicket { tenant_id: s.tenant, invite_id: invite, contact_id: contact, expires_at: expires };
    let first = s.store().begin_invite(&ticket).await.unwrap().expect("a fresh invite");

    let sender = Arc::new(Recording::default());
    let mailer = s.mailer(sender.clone(), 3);
    let reader = s.reader(&mailer).await;
    drive_until(&mailer, &reader, || !sender.mails().is_empty()).await;
    let resent = &sender.mails()[0];
    assert_eq!(resent.message_id(), message_id(s.tenant, invite), "a receiver can drop it as a repeat");
    assert_ne!(token_of(resent), first.expose());
    for token in [first.expose().to_owned(), token_of(resent)] {
        let view = s.store().invite_by_token_hash(&invite_token_hash(&token)).await.unwrap();
        assert_eq!(view.map(|v| v.invite_id), Some(invite));
    }
    s.outcome(invite, "sent").await;
    // Sent now: a new token is never made again.
    assert!(s.store().begin_invite(&ticket).await.unwrap().is_none());
    drive_to_the_end(&mailer, &reader).await;
    assert_eq!(sender.mails().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_mail_that_keeps_failing_is_retried_then_recorded_as_failed() {
    let s = Setup::new().await;
    let (_, invite, _) = s.invited_user("dave@example.com").await;
    let sender = Arc::new(Recording { failures: u32::MAX, ..Recording::default() });
    let mailer = s.mailer(sender.clone(), 3);
    let reader = s.reader(&mailer).await;
    drive_until(&mailer, &reader, || *sender.calls.lock().unwrap() >= 3).await;
    let outcome = s.outcome(invite, "failed").await;
    assert_eq!(outcome.events[0].event_type, "InviteDeliveryFailed");
    assert_eq!(outcome.events[0].data["attempts"], 3);
    assert_eq!(outcome.events[0].data["reason"], "SMTP: 451 try again later");
    drive_to_the_end(&mailer, &reader).await;
    assert_eq!(*sender.calls.lock().unwrap(), 3, "no attempt after the last");
    // Not sent: a later re-read may try once more (and would record a send).
    assert_eq!(s.store().invite_token_state(s.tenant, invite).await.unwrap(), Some(TokenState::Pending));
    s.stop().await;
}

#[tokio::test]
async fn a_retry_that_succeeds_records_only_the_send() {
    let s = Setup::new().await;
    let (_, invite, _) = s.invited_user("erin@example.com").await;
    let sender = Arc::new(Recording { failures: 2, ..Recording::default() });
    let mailer = s.mailer(sender.clone(), 3);
    let reader = s.reader(&mailer).await;
    drive_until(&mailer, &reader, || !sender.mails().is_empty()).await;
    assert_eq!(s.outcome(invite, "sent").await.events[0].event_type, "InviteSent");
    let failed = outcome_command_id(invite, "failed");
    assert!(s.store().command(s.tenant, failed).await.unwrap().is_none());
    s.stop().await;
}

#[tokio::test]
async fn an_invite_replaced_before_it_was_mailed_is_not_sent_only_the_newer_one() {
    let s = Setup::new().await;
    let (contact, first, _) = s.invited_user("bob@example.com").await;
    let again = s.decide(CommandId(Ulid::new()), "RequestInvite", json!({"contact_id": contact.to_string()})).await;
    assert_eq!(again.status, CommandStatus::Accepted, "{again:?}");
    let newer: InviteId =
        again.events.iter().find(|e| e.event_type == "InviteRequested").expect("an invite").data["invite_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let sender = Arc::new(Recording::default());
    let mailer = s.mailer(sender.clone(), 3);
    let reader = s.reader(&mailer).await;
    drive_to_the_end(&mailer, &reader).await;
    let mailed: Vec<InviteId> = sender.mails().iter().map(|m| m.invite_id).collect();
    assert_eq!(mailed, vec![newer], "only the newer invite is mailed, not {first}");
    assert_eq!(
        s.store().invite_token_state(s.tenant, first).await.unwrap(),
        None,
        "no token was made for the replaced invite"
    );
    s.stop().await;
}
