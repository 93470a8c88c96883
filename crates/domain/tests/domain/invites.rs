//! Invites, as given / when / then.
use chrono::{Duration, TimeZone, Utc};
use ledger_domain::{
    Command, CommandId, ContactId, Context, Event, InviteId, Rejection, TenantState, decide, evolve,
    roles::{Effective, GrantStatus},
};
use serde_json::{Value, json};
use ulid::Ulid;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

struct Given {
    state: TenantState,
    n: i64,
}

impl Given {
    fn new() -> Given {
        let mut g = Given { state: TenantState::default(), n: 0 };
        g.ok("CreateTenant", json!({"name": "acme", "api_key_hash": "h"}));
        g.ok("DefineAccessRole", json!({"reference": "newsletter", "name": "N", "grant_rule": "email_verification"}));
        g.ok("DefineAccessRole", json!({"reference": "trade", "name": "T", "grant_rule": "manual_approval"}));
        g
    }

    /// Decides at `days` after the start (time matters for expiry).
    fn at(&mut self, days: i64, ty: &str, payload: Value) -> Result<Vec<Event>, Rejection> {
        let command = ledger_domain::wire::parse(ty, &payload).map_err(Rejection::invalid)?;
        self.n += 1;
        let ctx = Context::new(
            CommandId(Ulid::from_parts(1_700_000_000_000 + self.n as u64, self.n as u128)),
            Utc.timestamp_opt(1_700_000_000 + self.n, 0).unwrap() + Duration::days(days),
        );
        let result = decide(&self.state, &command, &ctx).map(|d| d.events);
        for e in result.iter().flatten() {
            self.state = evolve(std::mem::take(&mut self.state), e);
        }
        result
    }

    fn ok(&mut self, ty: &str, payload: Value) -> Vec<Event> {
        self.at(0, ty, payload.clone()).unwrap_or_else(|r| panic!("{ty} {payload}: {r:?}"))
    }

    fn invited_user(&mut self) -> (ContactId, InviteId) {
        let events = self.ok(
            "CreateContact",
            json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "b@x.io", "invite": true, "access_roles": ["newsletter", "trade"]}),
        );
        let contact = events.iter().find_map(|e| e.contact_id()).unwrap();
        let invite = events
            .iter()
            .find_map(|e| match e {
                Event::InviteRequested(i) => Some(i.invite_id),
                _ => None,
            })
            .unwrap();
        (contact, invite)
    }
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::event_type).collect()
}

fn gone(r: Result<Vec<Event>, Rejection>) -> String {
    match r {
        Err(Rejection::Gone { code, .. }) => code.as_str().to_owned(),
        other => panic!("expected gone, got {other:?}"),
    }
}

#[test]
fn accepting_an_invite_sets_the_password_registers_and_activates_verification_grants() {
    let mut g = Given::new();
    let (contact, invite) = g.invited_user();
    assert!(!g.state.contact(contact).unwrap().registered);
    let events = g.ok("AcceptInvite", json!({"invite_id": invite.to_string(), "password_hash": HASH}));
    assert_eq!(types(&events), vec!["PasswordSet", "InviteAccepted", "RoleActivated"]);
    assert!(g.state.contact(contact).unwrap().registered);
    let grants = &g.state.grants[&contact];
    assert_eq!(grants["newsletter"].status, GrantStatus::Active);
    assert_eq!(grants["trade"].status, GrantStatus::Pending, "manual approval is not email verification");
    assert_eq!(grants["newsletter"].effective(Utc::now()), Effective::Active);
}

#[test]
fn an_invite_is_single_use_and_expires() {
    let mut g = Given::new();
    let (_, invite) = g.invited_user();
    g.ok("AcceptInvite", json!({"invite_id": invite.to_string(), "password_hash": HASH}));
    assert_eq!(
        gone(g.at(0, "AcceptInvite", json!({"invite_id": invite.to_string(), "password_hash": HASH}))),
        "invite_used"
    );
    let (_, later) = {
        let events = g.ok(
            "CreateContact",
            json!({"kind": "user", "first_name": "D", "last_name": "E", "email": "d@x.io", "invite": true}),
        );
        let i = events.iter().find_map(|e| match e {
            Event::InviteRequested(i) => Some(i.invite_id),
            _ => None,
        });
        ((), i.unwrap())
    };
    assert_eq!(
        gone(g.at(8, "AcceptInvite", json!({"invite_id": later.to_string(), "password_hash": HASH}))),
        "invite_expired"
    );
    match g.at(0, "AcceptInvite", json!({"invite_id": InviteId(Ulid::nil()).to_string(), "password_hash": HASH})) {
        Err(Rejection::NotFound { code, .. }) => assert_eq!(code.as_str(), "invite_not_found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn delivery_outcomes_are_recorded_once_and_a_late_failure_does_not_undo_a_send() {
    let mut g = Given::new();
    let (_, invite) = g.invited_user();
    let sent = g.ok("RecordInviteSent", json!({"invite_id": invite.to_string(), "message_id": "<x@y>"}));
    assert_eq!(types(&sent), vec!["InviteSent"]);
    assert!(g.ok("RecordInviteSent", json!({"invite_id": invite.to_string(), "message_id": "<x@y>"})).is_empty());
    assert!(
        g.ok("RecordInviteDeliveryFailed", json!({"invite_id": invite.to_string(), "reason": "x", "attempts": 5}))
            .is_empty()
    );
}

#[test]
fn only_users_can_be_invited_again() {
    let mut g = Given::new();
    let (contact, _) = g.invited_user();
    let again = g.ok("RequestInvite", json!({"contact_id": contact.to_string()}));
    assert_eq!(types(&again), vec!["InviteRequested"]);
    let guest = g.ok("CreateContact", json!({"kind": "guest", "first_name": "G", "last_name": "H", "email": "g@x.io"}));
    let guest_id = guest[0].contact_id().unwrap();
    assert!(matches!(
        g.at(0, "RequestInvite", json!({"contact_id": guest_id.to_string()})),
        Err(Rejection::Validation { .. })
    ));
}

#[test]
fn a_newer_invite_supersedes_an_older_one() {
    let mut g = Given::new();
    let (contact, first) = g.invited_user();
    let second = g.ok("RequestInvite", json!({"contact_id": contact.to_string()}));
    let Event::InviteRequested(second) = &second[0] else { panic!() };
    assert_eq!(
        gone(g.at(0, "AcceptInvite", json!({"invite_id": first.to_string(), "password_hash": HASH}))),
        "invite_superseded"
    );
    g.ok("AcceptInvite", json!({"invite_id": second.invite_id.to_string(), "password_hash": HASH}));
}

#[test]
fn delivery_attempts_a_u32_cannot_hold_are_a_field_error_not_clamped() {
    let invite = "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV";
    for attempts in [json!(-1), json!(4_294_967_296_u64)] {
        let errors = ledger_domain::wire::parse(
            "RecordInviteDeliveryFailed",
            &json!({"invite_id": invite, "reason": "x", "attempts": attempts}),
        )
        .expect_err("out of range");
        assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["attempts"], "{attempts}");
    }
    let max = ledger_domain::wire::parse(
        "RecordInviteDeliveryFailed",
        &json!({"invite_id": invite, "reason": "x", "attempts": u32::MAX}),
    )
    .expect("u32::MAX fits");
    assert!(matches!(max, Command::RecordInviteDeliveryFailed(f) if f.attempts == u32::MAX));
}
