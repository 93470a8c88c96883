//! Access roles, as given / when / then.
use chrono::{DateTime, TimeZone, Utc};
use ledger_domain::{
    CommandId, ContactId, Context, Event, Rejection, TenantState, decide, evolve,
    roles::{Effective, GrantChange, GrantStatus, grant_as_of},
};
use serde_json::{Value, json};
use ulid::Ulid;

struct Given {
    state: TenantState,
    n: u64,
}

impl Given {
    fn tenant_with_roles() -> Given {
        let mut g = Given { state: TenantState::default(), n: 0 };
        g.ok("CreateTenant", json!({"name": "acme", "api_key_hash": "h"}));
        g.ok("DefineAccessRole", json!({"reference": "customer", "name": "Customer", "grant_rule": "automatic"}));
        g.ok(
            "DefineAccessRole",
            json!({"reference": "trade-account", "name": "Trade", "grant_rule": "manual_approval"}),
        );
        g.ok(
            "DefineAccessRole",
            json!({"reference": "newsletter", "name": "News", "grant_rule": "email_verification"}),
        );
        g
    }

    fn when(&mut self, ty: &str, payload: Value) -> Result<Vec<Event>, Rejection> {
        let command = ledger_domain::wire::parse(ty, &payload).map_err(Rejection::invalid)?;
        self.n += 1;
        let ctx = Context::new(
            CommandId(Ulid::from_parts(1_700_000_000_000 + self.n, u128::from(self.n))),
            Utc.timestamp_opt(1_700_000_000 + self.n as i64, 0).unwrap(),
        );
        let result = decide(&self.state, &command, &ctx).map(|d| d.events);
        for e in result.iter().flatten() {
            self.state = evolve(std::mem::take(&mut self.state), e);
        }
        result
    }

    fn ok(&mut self, ty: &str, payload: Value) -> Vec<Event> {
        self.when(ty, payload.clone()).unwrap_or_else(|r| panic!("{ty} {payload} rejected: {r:?}"))
    }

    fn user(&mut self, email: &str, roles: Value) -> (ContactId, Vec<Event>) {
        let events = self.ok(
            "CreateContact",
            json!({"kind": "user", "first_name": "B", "last_name": "C", "email": email, "invite": true, "access_roles": roles}),
        );
        let Event::ContactCreated(c) = &events[0] else { panic!("{events:?}") };
        (c.contact_id, events)
    }

    /// The `issued_at` of the last command decided.
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + self.n as i64, 0).unwrap()
    }

    fn status(&self, contact: ContactId, reference: &str, at: DateTime<Utc>) -> Option<Effective> {
        self.state.grants.get(&contact)?.get(reference).map(|g| g.effective(at))
    }
}

fn granted(events: &[Event]) -> Vec<(String, GrantStatus)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::RoleGranted(g) => Some((g.reference.clone(), g.status)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_string_grant_follows_the_roles_rule_and_an_active_object_bypasses_it() {
    let mut g = Given::tenant_with_roles();
    let (_, events) = g.user("a@x.io", json!(["customer", "trade-account", "newsletter"]));
    assert_eq!(
        granted(&events),
        vec![
            ("customer".into(), GrantStatus::Active),
            ("trade-account".into(), GrantStatus::Pending),
            ("newsletter".into(), GrantStatus::Pending)
        ]
    );
    let (_, events) = g.user(
        "b@x.io",
        json!([{"reference": "trade-account", "expires": "2018-01-01T00:00:00+00:00", "status": "active"}]),
    );
    assert_eq!(granted(&events), vec![("trade-account".into(), GrantStatus::Active)]);
}

#[test]
fn an_unknown_reference_is_refused_and_roles_cannot_be_created_by_a_grant() {
    let mut g = Given::tenant_with_roles();
    let r = g.when(
        "CreateContact",
        json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "a@x.io", "invite": true, "access_roles": ["customer", "vip"]}),
    );
    match r {
        Err(Rejection::Validation { errors }) => {
            assert_eq!(errors.len(), 1);
            assert_eq!((errors[0].field.as_str(), errors[0].code.as_str()), ("access_roles[1]", "unknown_role"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!g.state.roles.contains_key("vip"));
}

#[test]
fn grants_for_guests_branches_and_recipients_are_ignored() {
    let mut g = Given::tenant_with_roles();
    let events = g.ok("CreateContact", json!({"kind": "guest", "first_name": "G", "last_name": "H", "email": "g@x.io", "access_roles": ["customer", "nope"]}));
    assert_eq!(events.len(), 1);
    let Event::ContactCreated(c) = &events[0] else { panic!() };
    assert!(
        g.ok("GrantRoles", json!({"contact_id": c.contact_id.to_string(), "access_roles": ["customer"]})).is_empty()
    );
}

#[test]
fn a_manual_grant_waits_for_approval_and_can_be_revoked() {
    let mut g = Given::tenant_with_roles();
    let (id, _) = g.user("a@x.io", json!(["trade-account"]));
    let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    assert_eq!(g.status(id, "trade-account", now), Some(Effective::Pending));
    let approved = g.ok("ApproveRole", json!({"contact_id": id.to_string(), "reference": "trade-account"}));
    assert!(matches!(&approved[0], Event::RoleActivated(a) if a.version == 2));
    assert_eq!(g.status(id, "trade-account", now), Some(Effective::Active));
    assert!(g.ok("ApproveRole", json!({"contact_id": id.to_string(), "reference": "trade-account"})).is_empty());
    g.ok("RevokeRole", json!({"contact_id": id.to_string(), "reference": "trade-account"}));
    assert_eq!(g.status(id, "trade-account", now), None);
    match g.when("RevokeRole", json!({"contact_id": id.to_string(), "reference": "trade-account"})) {
        Err(Rejection::NotFound { code, .. }) => assert_eq!(code.as_str(), "grant_not_found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_grant_past_its_expiry_is_not_effective() {
    let mut g = Given::tenant_with_roles();
    let (id, _) = g.user("a@x.io", json!([{"reference": "customer", "expires": "2030-01-01T00:00:00Z"}]));
    let before = Utc.timestamp_opt(1_800_000_000, 0).unwrap(); // 2027
    let after = Utc.timestamp_opt(1_900_000_000, 0).unwrap(); // 2030
    assert_eq!(g.status(id, "customer", before), Some(Effective::Active));
    assert_eq!(g.status(id, "customer", after), Some(Effective::Expired));
}

#[test]
fn a_later_grant_changes_an_existing_one_and_an_equal_grant_appends_nothing() {
    let mut g = Given::tenant_with_roles();
    let (id, _) = g.user("a@x.io", json!(["customer"]));
    let same = g.ok("GrantRoles", json!({"contact_id": id.to_string(), "access_roles": ["customer"]}));
    assert!(same.is_empty());
    let changed = g.ok("GrantRoles", json!({"contact_id": id.to_string(), "access_roles": [{"reference": "customer", "expires": "2031-01-01T00:00:00Z"}]}));
    assert_eq!(changed.len(), 1);
}

#[test]
fn role_definitions_are_unique_slugs_with_a_known_rule() {
    let mut g = Given::tenant_with_roles();
    match g.when("DefineAccessRole", json!({"reference": "customer", "name": "Again", "grant_rule": "automatic"})) {
        Err(Rejection::Conflict { code, .. }) => assert_eq!(code.as_str(), "role_exists"),
        other => panic!("{other:?}"),
    }
    match g.when("DefineAccessRole", json!({"reference": "Not A Slug", "name": "X", "grant_rule": "sometimes"})) {
        Err(Rejection::Validation { errors }) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, vec!["reference", "grant_rule"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_grant_objects_list_every_problem() {
    let mut g = Given::tenant_with_roles();
    let r = g.when(
        "CreateContact",
        json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "a@x.io", "invite": true,
               "access_roles": [{"expires": "soon", "status": "pending"}, 7]}),
    );
    match r {
        Err(Rejection::Validation { errors }) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(
                fields,
                vec![
                    "access_roles[0].reference",
                    "access_roles[0].expires",
                    "access_roles[0].status",
                    "access_roles[1]"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn re_sending_a_role_keeps_its_approval() {
    let mut g = Given::tenant_with_roles();
    let (id, _) = g.user("a@x.io", json!(["trade-account"]));
    g.ok("ApproveRole", json!({"contact_id": id.to_string(), "reference": "trade-account"}));
    assert!(g.ok("GrantRoles", json!({"contact_id": id.to_string(), "access_roles": ["trade-account"]})).is_empty());
    let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    assert_eq!(g.status(id, "trade-account", now), Some(Effective::Active));
}

#[test]
fn an_upsert_that_updates_a_user_grants_its_roles_too() {
    let mut g = Given::tenant_with_roles();
    let (id, _) = g.user("a@x.io", json!([]));
    let events =
        g.ok("UpsertContact", json!({"kind": "user", "email": "a@x.io", "title": "Dr", "access_roles": ["customer"]}));
    let types: Vec<&str> = events.iter().map(Event::event_type).collect();
    assert_eq!(types, vec!["ContactUpdated", "RoleGranted"]);
    assert!(events.iter().all(|e| e.contact_version() == Some(2)));
    assert_eq!(g.status(id, "customer", Utc.timestamp_opt(1_800_000_000, 0).unwrap()), Some(Effective::Active));
    match g.when("UpsertContact", json!({"kind": "user", "email": "a@x.io", "access_roles": ["nope"]})) {
        Err(Rejection::Validation { errors }) => assert_eq!(errors[0].code, "unknown_role"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_role_definition_needs_its_grant_rule() {
    let mut g = Given::tenant_with_roles();
    match g.when("DefineAccessRole", json!({"reference": "x", "name": "X"})) {
        Err(Rejection::Validation { errors }) => assert_eq!(errors[0].field, "grant_rule"),
        other => panic!("{other:?}"),
    }
}

/// `(status, effective)` of a grant at `at`, folded from the events issued by then.
fn as_of(history: &[(DateTime<Utc>, Event)], reference: &str, at: DateTime<Utc>) -> Option<(GrantStatus, Effective)> {
    let changes: Vec<(DateTime<Utc>, GrantChange)> = history
        .iter()
        .filter(|(issued, _)| *issued <= at)
        .filter_map(|(issued, e)| GrantChange::of(e).filter(|(r, _)| *r == reference).map(|(_, c)| (*issued, c)))
        .collect();
    let past = grant_as_of(reference, changes.iter().map(|(issued, c)| (*issued, c)))?;
    Some((past.grant.status, past.effective(at)))
}

#[test]
fn a_grant_as_of_a_past_moment_is_absent_pending_active_revoked_or_expired_as_it_was_then() {
    let mut g = Given::tenant_with_roles();
    let stamp = |g: &Given, events: Vec<Event>| events.into_iter().map(|e| (g.now(), e)).collect::<Vec<_>>();
    let (id, events) = g.user("a@x.io", json!(["trade-account"]));
    let mut history = stamp(&g, events);
    let granted = g.now();
    let role = json!({"contact_id": id.to_string(), "reference": "trade-account"});
    let events = g.ok("ApproveRole", role.clone());
    history.extend(stamp(&g, events));
    let approved = g.now();
    let events = g.ok("RevokeRole", role);
    history.extend(stamp(&g, events));
    let revoked = g.now();
    let expires = revoked + chrono::Duration::seconds(100);
    let again = json!([{"reference": "trade-account", "expires": expires.to_rfc3339(), "status": "active"}]);
    let events = g.ok("GrantRoles", json!({"contact_id": id.to_string(), "access_roles": again}));
    history.extend(stamp(&g, events));
    let regranted = g.now();

    let second = chrono::Duration::seconds(1);
    assert_eq!(as_of(&history, "trade-account", granted - second), None);
    assert_eq!(as_of(&history, "trade-account", granted), Some((GrantStatus::Pending, Effective::Pending)));
    assert_eq!(as_of(&history, "trade-account", approved), Some((GrantStatus::Active, Effective::Active)));
    assert_eq!(as_of(&history, "trade-account", revoked), Some((GrantStatus::Active, Effective::Revoked)));
    assert_eq!(as_of(&history, "trade-account", regranted), Some((GrantStatus::Active, Effective::Active)));
    assert_eq!(as_of(&history, "trade-account", expires), Some((GrantStatus::Active, Effective::Expired)));
    assert_eq!(as_of(&history, "customer", expires), None);

    // The fold keeps when: the last grant or activation, and the revocation.
    let changes: Vec<(DateTime<Utc>, GrantChange)> = history
        .iter()
        .filter(|(t, _)| *t <= revoked)
        .filter_map(|(t, e)| GrantChange::of(e).map(|c| (*t, c.1)))
        .collect();
    let past = grant_as_of("trade-account", changes.iter().map(|(t, c)| (*t, c))).unwrap();
    assert_eq!((past.granted_at, past.revoked_at), (approved, Some(revoked)));
}
