//! Every rule of the contact model, as given / when / then.
use chrono::{TimeZone, Utc};
use ledger_domain::{CommandId, Context, Event, Rejection, TenantState, decide, evolve};
use serde_json::{Value, json};
use ulid::Ulid;

struct Given {
    state: TenantState,
    n: u64,
}

fn given_a_tenant() -> Given {
    let mut g = Given { state: TenantState::default(), n: 0 };
    g.accept("CreateTenant", json!({"name": "acme", "api_key_hash": "h"}));
    g
}

fn hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
}

impl Given {
    fn ctx(&mut self) -> Context {
        self.n += 1;
        Context::new(
            CommandId(Ulid::from_parts(1_700_000_000_000 + self.n, u128::from(self.n))),
            Utc.timestamp_opt(1_700_000_000 + self.n as i64, 0).unwrap(),
        )
    }

    fn when(&mut self, ty: &str, payload: Value) -> Result<Vec<Event>, Rejection> {
        let command = ledger_domain::wire::parse(ty, &payload).map_err(Rejection::invalid)?;
        let ctx = self.ctx();
        let result = decide(&self.state, &command, &ctx).map(|d| d.events);
        if let Ok(events) = &result {
            for e in events {
                self.state = evolve(std::mem::take(&mut self.state), e);
            }
        }
        result
    }

    fn accept(&mut self, ty: &str, payload: Value) -> Vec<Event> {
        self.when(ty, payload.clone()).unwrap_or_else(|r| panic!("{ty} {payload} rejected: {r:?}"))
    }

    fn create(&mut self, payload: Value) -> Result<Vec<Event>, Rejection> {
        self.when("CreateContact", payload)
    }
}

fn fields(r: &Rejection) -> Vec<String> {
    match r {
        Rejection::Validation { errors } => errors.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected a validation rejection, got {other:?}"),
    }
}

fn conflict_code(r: Result<Vec<Event>, Rejection>) -> String {
    match r {
        Err(Rejection::Conflict { code, .. }) => code.as_str().to_owned(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn created(events: &[Event]) -> &ledger_domain::event::ContactCreated {
    match &events[0] {
        Event::ContactCreated(c) => c,
        other => panic!("expected ContactCreated, got {other:?}"),
    }
}

#[test]
fn a_user_needs_names_email_and_a_password_unless_invited() {
    let mut g = given_a_tenant();
    let r = g.create(json!({"kind": "user"})).unwrap_err();
    assert_eq!(fields(&r), vec!["first_name", "last_name", "email", "password"]);
    let events = g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "b@x.io", "password_hash": hash()}),
    );
    assert_eq!(events.iter().map(Event::event_type).collect::<Vec<_>>(), vec!["ContactCreated", "PasswordSet"]);
    let invited = g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "D", "last_name": "E", "email": "d@x.io", "invite": true}),
    );
    assert_eq!(invited.iter().map(Event::event_type).collect::<Vec<_>>(), vec!["ContactCreated", "InviteRequested"]);
    match &invited[1] {
        Event::InviteRequested(i) => assert_eq!(i.expires_at - created(&invited).at, chrono::Duration::days(7)),
        _ => unreachable!(),
    }
}

#[test]
fn a_user_email_is_unique_among_users_compared_trimmed_and_lowercased() {
    let mut g = given_a_tenant();
    let first = g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "Bob@Email.com", "password_hash": hash()}),
    );
    assert_eq!(created(&first).profile.email.as_deref(), Some("Bob@Email.com"), "the address as given is kept");
    let again = g.create(json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "  bob@email.COM ", "password_hash": hash()}));
    assert_eq!(conflict_code(again), "email_taken");
    // A guest with the same email is fine: guests may repeat.
    g.accept("CreateContact", json!({"kind": "guest", "first_name": "B", "last_name": "C", "email": "bob@email.com"}));
    g.accept("CreateContact", json!({"kind": "guest", "first_name": "B", "last_name": "C", "email": "bob@email.com"}));
}

#[test]
fn a_guest_needs_names_and_email() {
    let mut g = given_a_tenant();
    let r = g.create(json!({"kind": "guest", "email": "g@x.io"})).unwrap_err();
    assert_eq!(fields(&r), vec!["first_name", "last_name"]);
}

#[test]
fn a_branch_needs_company_and_a_unique_email_and_ignores_names_and_password() {
    let mut g = given_a_tenant();
    let r = g.create(json!({"kind": "branch", "first_name": "X"})).unwrap_err();
    assert_eq!(fields(&r), vec!["company", "email"]);
    let events = g.accept("CreateContact", json!({"kind": "branch", "company": "Acme", "email": "b@acme.io", "first_name": "X", "last_name": "Y", "password_hash": hash()}));
    assert_eq!(events.len(), 1, "no PasswordSet for a branch");
    assert_eq!(created(&events).profile.first_name, None);
    assert_eq!(
        conflict_code(g.create(json!({"kind": "branch", "company": "Other", "email": "B@acme.io"}))),
        "email_taken"
    );
    // A branch may share a user's email (discouraged, allowed).
    g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "b@acme.io", "password_hash": hash()}),
    );
}

#[test]
fn a_recipient_needs_only_an_email_unique_among_recipients_and_not_a_users() {
    let mut g = given_a_tenant();
    assert_eq!(fields(&g.create(json!({"kind": "recipient"})).unwrap_err()), vec!["email"]);
    g.accept("CreateContact", json!({"kind": "recipient", "email": "r@x.io"}));
    assert_eq!(conflict_code(g.create(json!({"kind": "recipient", "email": "R@x.io"}))), "email_taken");
    g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "U", "last_name": "V", "email": "u@x.io", "password_hash": hash()}),
    );
    assert_eq!(conflict_code(g.create(json!({"kind": "recipient", "email": "u@x.io"}))), "email_belongs_to_user");
}

#[test]
fn a_contact_needs_an_email_or_an_external_id_and_its_email_is_unique_among_contacts() {
    let mut g = given_a_tenant();
    assert_eq!(fields(&g.create(json!({"kind": "contact", "name": "N"})).unwrap_err()), vec!["email"]);
    g.accept("CreateContact", json!({"kind": "contact", "external_id": "user_12345"}));
    g.accept("CreateContact", json!({"kind": "contact", "email": "c@x.io"}));
    assert_eq!(conflict_code(g.create(json!({"kind": "contact", "email": "C@X.IO"}))), "email_taken");
}

#[test]
fn external_ids_are_one_to_120_characters_and_unique_per_tenant_across_kinds() {
    let mut g = given_a_tenant();
    assert_eq!(fields(&g.create(json!({"kind": "contact", "external_id": ""})).unwrap_err()), vec!["external_id"]);
    let long = "x".repeat(121);
    assert_eq!(fields(&g.create(json!({"kind": "contact", "external_id": long})).unwrap_err()), vec!["external_id"]);
    g.accept("CreateContact", json!({"kind": "contact", "external_id": "x".repeat(120)}));
    g.accept("CreateContact", json!({"kind": "recipient", "email": "e@x.io", "external_id": "ext-1"}));
    assert_eq!(conflict_code(g.create(json!({"kind": "contact", "external_id": "ext-1"}))), "external_id_taken");
}

#[test]
fn hq_and_unknown_kinds_are_refused_with_a_clear_code() {
    let mut g = given_a_tenant();
    match g.create(json!({"kind": "hq", "email": "h@x.io"})) {
        Err(Rejection::Validation { errors }) => assert_eq!(errors[0].code, "kind_not_allowed"),
        other => panic!("{other:?}"),
    }
    match g.create(json!({"kind": "alien", "email": "h@x.io"})) {
        Err(Rejection::Validation { errors }) => assert_eq!(errors[0].code, "invalid_value"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn numbers_are_a_per_tenant_sequence() {
    let mut g = given_a_tenant();
    let a = g.accept("CreateContact", json!({"kind": "contact", "email": "a@x.io"}));
    let _ = g.create(json!({"kind": "contact", "email": "a@x.io"})); // a rejection takes no number
    let b = g.accept("CreateContact", json!({"kind": "contact", "email": "b@x.io"}));
    assert_eq!((created(&a).number, created(&b).number), (1, 2));
}

#[test]
fn a_purchase_order_number_is_only_for_invoice_contacts_and_at_most_50_characters() {
    let mut g = given_a_tenant();
    assert_eq!(
        fields(&g.create(json!({"kind": "contact", "email": "a@x.io", "purchase_order_number": "PO"})).unwrap_err()),
        vec!["purchase_order_number"]
    );
    let long = "9".repeat(51);
    assert_eq!(
        fields(
            &g.create(json!({"kind": "contact", "email": "a@x.io", "type_id": 6, "purchase_order_number": long}))
                .unwrap_err()
        ),
        vec!["purchase_order_number"]
    );
    g.accept(
        "CreateContact",
        json!({"kind": "contact", "email": "a@x.io", "type_id": 6, "purchase_order_number": "PO-1"}),
    );
}

#[test]
fn an_address_inherits_names_and_company_and_a_supplied_id_is_replaced() {
    let mut g = given_a_tenant();
    let events = g.accept("CreateContact", json!({"kind": "user", "first_name": "Bob", "last_name": "Bobsworth", "email": "bob@email.com",
        "company": "Acme", "invite": true,
        "address": {"id": 42, "line1": "2 Sorrel Horse Mews", "line3": "", "city": "Ipswich", "country_code": "gb", "last_name": "Other"}}));
    let a = created(&events).profile.address.clone().expect("address");
    assert_eq!(
        (a.first_name.as_deref(), a.last_name.as_deref(), a.company.as_deref()),
        (Some("Bob"), Some("Other"), Some("Acme"))
    );
    assert_eq!(a.country_code.as_deref(), Some("GB"));
    assert_eq!(a.line3, None);
    assert!(a.id.is_some_and(|id| id.to_string().starts_with("address_")));
    assert_eq!(
        fields(
            &g.create(json!({"kind": "contact", "email": "z@x.io", "address": {"country_code": "XX"}})).unwrap_err()
        ),
        vec!["address.country_code"]
    );
}

#[test]
fn tags_are_a_set_and_metadata_is_bounded() {
    let mut g = given_a_tenant();
    let events =
        g.accept("CreateContact", json!({"kind": "contact", "email": "t@x.io", "tags": ["QA", "Engineers", "QA"]}));
    assert_eq!(created(&events).profile.tags.iter().cloned().collect::<Vec<_>>(), vec!["Engineers", "QA"]);
    let big = "x".repeat(17 * 1024);
    assert_eq!(
        fields(&g.create(json!({"kind": "contact", "email": "u@x.io", "metadata": {"k": big}})).unwrap_err()),
        vec!["metadata"]
    );
}

#[test]
fn invalid_input_lists_every_failing_field_at_once() {
    let mut g = given_a_tenant();
    let r =
        g.create(json!({"kind": "user", "email": "nope", "avatar_url": "ftp://x", "tags": "a", "zzz": 1})).unwrap_err();
    let f = fields(&r);
    for expected in ["email", "avatar_url", "tags", "zzz"] {
        assert!(f.contains(&expected.to_owned()), "{expected} not in {f:?}");
    }
}

#[test]
fn kind_and_type_id_are_fixed_and_a_patch_that_changes_nothing_appends_nothing() {
    let mut g = given_a_tenant();
    let events = g.accept("CreateContact", json!({"kind": "contact", "email": "p@x.io", "type_id": 2, "name": "P"}));
    let id = created(&events).contact_id.to_string();
    assert_eq!(
        fields(
            &g.when("PatchContact", json!({"contact_id": id, "patch": {"kind": "user", "type_id": 3}})).unwrap_err()
        ),
        vec!["kind", "type_id"]
    );
    assert!(g.accept("PatchContact", json!({"contact_id": id, "patch": {"name": "P", "type_id": 2}})).is_empty());
    let changed = g.accept("PatchContact", json!({"contact_id": id, "patch": {"name": null, "metadata": {"a": 1}}}));
    match &changed[0] {
        Event::ContactUpdated(u) => {
            assert_eq!(u.changed, vec!["name", "metadata"]);
            assert_eq!(u.version, 2);
        }
        other => panic!("{other:?}"),
    }
    match g.when("PatchContact", json!({"contact_id": id, "expected_version": 1, "patch": {"name": "Q"}})) {
        Err(Rejection::VersionMismatch { expected: 1, actual: 2 }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_patch_keeps_uniqueness_and_required_fields() {
    let mut g = given_a_tenant();
    g.accept("CreateContact", json!({"kind": "contact", "email": "one@x.io"}));
    let events = g.accept("CreateContact", json!({"kind": "contact", "email": "two@x.io"}));
    let id = created(&events).contact_id.to_string();
    assert_eq!(
        conflict_code(g.when("PatchContact", json!({"contact_id": id, "patch": {"email": "ONE@x.io"}}))),
        "email_taken"
    );
    assert_eq!(
        fields(&g.when("PatchContact", json!({"contact_id": id, "patch": {"email": null}})).unwrap_err()),
        vec!["email"]
    );
}

#[test]
fn upsert_creates_updates_and_refuses_a_registered_user_or_disabled_capture() {
    let mut g = given_a_tenant();
    let created_events =
        g.accept("UpsertContact", json!({"email": "joe.blow@company.com", "metadata": {"property1": "a"}}));
    assert_eq!(created_events[0].event_type(), "ContactCreated");
    let updated = g.accept("UpsertContact", json!({"email": "Joe.Blow@company.com", "metadata": {"property2": "b"}}));
    match &updated[0] {
        Event::ContactUpdated(u) => assert_eq!(u.profile.metadata.len(), 2),
        other => panic!("{other:?}"),
    }
    g.accept("CreateContact", json!({"kind": "user", "first_name": "R", "last_name": "U", "email": "reg@company.com", "password_hash": hash()}));
    assert_eq!(conflict_code(g.when("UpsertContact", json!({"email": "reg@company.com"}))), "registered_user");
    g.accept("ConfigureTenant", json!({"contact_capture": false}));
    match g.when("UpsertContact", json!({"email": "new@company.com"})) {
        Err(Rejection::Forbidden { code, .. }) => assert_eq!(code.as_str(), "contact_capture_disabled"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn upsert_by_external_id_matches_across_emails() {
    let mut g = given_a_tenant();
    g.accept("UpsertContact", json!({"match_on": "external_id", "external_id": "user_1", "email": "a@x.io"}));
    let events =
        g.accept("UpsertContact", json!({"match_on": "external_id", "external_id": "user_1", "email": "b@x.io"}));
    match &events[0] {
        Event::ContactUpdated(u) => assert_eq!(u.profile.email.as_deref(), Some("b@x.io")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_for_an_unknown_tenant_are_rejected() {
    let mut g = Given { state: TenantState::default(), n: 0 };
    match g.create(json!({"kind": "contact", "email": "a@x.io"})) {
        Err(Rejection::NotFound { code, .. }) => assert_eq!(code.as_str(), "tenant_not_found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deciding_the_same_command_twice_gives_the_same_events() {
    let mut g = given_a_tenant();
    let command = ledger_domain::wire::parse("CreateContact", &json!({"kind": "user", "first_name": "B", "last_name": "C", "email": "b@x.io", "invite": true, "address": {"line1": "x"}})).unwrap();
    let ctx = g.ctx();
    assert_eq!(decide(&g.state, &command, &ctx), decide(&g.state, &command, &ctx));
}

/// `decide` says what it did: the contact, whether it made it, and warnings.
fn decided(g: &mut Given, ty: &str, payload: Value) -> ledger_domain::Decided {
    let command = ledger_domain::wire::parse(ty, &payload).unwrap_or_else(|e| panic!("{ty}: {e:?}"));
    let ctx = g.ctx();
    let d = decide(&g.state, &command, &ctx).unwrap_or_else(|r| panic!("{ty} rejected: {r:?}"));
    for e in &d.events {
        g.state = evolve(std::mem::take(&mut g.state), e);
    }
    d
}

#[test]
fn a_decision_names_its_contact_and_says_whether_it_created_it() {
    let mut g = given_a_tenant();
    let created = decided(&mut g, "UpsertContact", json!({"email": "u@x.io"}));
    assert!(created.created);
    let id = created.subject.expect("a subject");
    let updated = decided(&mut g, "UpsertContact", json!({"email": "u@x.io", "title": "Dr"}));
    assert_eq!((updated.subject, updated.created), (Some(id), false));
    let unchanged = decided(&mut g, "PatchContact", json!({"contact_id": id.to_string(), "patch": {"title": "Dr"}}));
    assert_eq!((unchanged.events.len(), unchanged.subject, unchanged.created), (0, Some(id), false));
    let tenant = decided(&mut g, "ConfigureTenant", json!({"contact_capture": false}));
    assert_eq!((tenant.subject, tenant.created), (None, false));
}

#[test]
fn roles_asked_for_a_contact_that_is_not_a_user_are_ignored_with_a_warning() {
    let mut g = given_a_tenant();
    g.accept("DefineAccessRole", json!({"reference": "customer", "name": "Customer", "grant_rule": "automatic"}));
    let guest = decided(
        &mut g,
        "CreateContact",
        json!({"kind": "guest", "first_name": "G", "last_name": "H", "email": "g@x.io", "access_roles": ["customer"]}),
    );
    assert_eq!(guest.warnings.iter().map(|w| w.code.as_str()).collect::<Vec<_>>(), ["ignored_for_kind"]);
    assert!(guest.events.iter().all(|e| !matches!(e, Event::RoleGranted(_))));
    let id = guest.subject.expect("subject").to_string();
    let again = decided(&mut g, "GrantRoles", json!({"contact_id": id, "access_roles": ["customer"]}));
    assert_eq!((again.events.len(), again.warnings.len()), (0, 1));
    let user = decided(
        &mut g,
        "CreateContact",
        json!({"kind": "user", "first_name": "U", "last_name": "V", "email": "v@x.io", "password_hash": hash(), "access_roles": ["customer"]}),
    );
    assert!(user.warnings.is_empty());
}

fn contact_id_of(events: &[Event]) -> String {
    match &events[0] {
        Event::ContactCreated(c) => c.contact_id.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_deleted_contact_is_gone_and_frees_its_email_and_external_id_but_not_its_id() {
    let mut g = given_a_tenant();
    let created = g.accept("CreateContact", json!({"kind": "contact", "email": "d@x.io", "external_id": "crm-1"}));
    let id = contact_id_of(&created);
    match g.when("DeleteContact", json!({"contact_id": id, "expected_version": 7})) {
        Err(Rejection::VersionMismatch { expected: 7, actual: 1 }) => {}
        other => panic!("a stale version is refused: {other:?}"),
    }
    let deleted = g.accept("DeleteContact", json!({"contact_id": id, "expected_version": 1}));
    assert!(matches!(&deleted[..], [Event::ContactDeleted(d)] if d.contact_id.to_string() == id && d.version == 2));
    for (ty, payload) in [
        ("DeleteContact", json!({"contact_id": id})),
        ("PatchContact", json!({"contact_id": id, "patch": {"name": "x"}})),
        ("RequestInvite", json!({"contact_id": id})),
    ] {
        match g.when(ty, payload) {
            Err(Rejection::NotFound { code, .. }) => assert_eq!(code.as_str(), "contact_not_found", "{ty}"),
            other => panic!("{ty} on a deleted contact: {other:?}"),
        }
    }
    let again = g.accept("CreateContact", json!({"kind": "contact", "email": "D@x.io", "external_id": "crm-1"}));
    assert_ne!(contact_id_of(&again), id, "a new contact with the freed email and external id");
    assert_eq!(
        conflict_code(g.create(json!({"kind": "contact", "email": "e@x.io", "contact_id": id}))),
        "contact_id_taken",
        "a deleted contact's id is never given out again"
    );
}

#[test]
fn deleting_a_user_drops_their_grants_and_invites() {
    let mut g = given_a_tenant();
    g.accept("DefineAccessRole", json!({"reference": "customer", "name": "Customer", "grant_rule": "automatic"}));
    let created = g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "u@x.io", "invite": true, "access_roles": ["customer"]}),
    );
    let invite_id = created
        .iter()
        .find_map(|e| match e {
            Event::InviteRequested(i) => Some(i.invite_id.to_string()),
            _ => None,
        })
        .expect("an invite");
    let id = contact_id_of(&created);
    g.accept("DeleteContact", json!({"contact_id": id}));
    match g.when("AcceptInvite", json!({"invite_id": invite_id, "password_hash": hash()})) {
        Err(Rejection::NotFound { code, .. }) => assert_eq!(code.as_str(), "invite_not_found"),
        other => panic!("an invite of a deleted user: {other:?}"),
    }
    let again = g.accept(
        "CreateContact",
        json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "u@x.io", "password_hash": hash()}),
    );
    let new_id = contact_id_of(&again);
    assert!(
        !again.iter().any(|e| matches!(e, Event::RoleGranted(_))),
        "the new user holds no grant of the deleted one"
    );
    match g.when("RevokeRole", json!({"contact_id": new_id, "reference": "customer"})) {
        Err(Rejection::NotFound { code, .. }) => assert_eq!(code.as_str(), "grant_not_found"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_organisation_contact_needs_only_its_type_like_emnify() {
    let mut g = given_a_tenant();
    let created = g.accept("CreateContact", json!({"kind": "contact", "type_id": 2}));
    assert!(matches!(&created[..], [Event::ContactCreated(c)] if c.type_id == Some(2)));
    let refused = g.create(json!({"kind": "contact"})).unwrap_err();
    assert_eq!(fields(&refused), vec!["email"], "without a type a contact still needs an email or external id");
    let po = g.create(json!({"kind": "contact", "type_id": 2, "purchase_order_number": "PO-1"})).unwrap_err();
    assert_eq!(fields(&po), vec!["purchase_order_number"], "a purchase order number only on type 6");
    g.accept("CreateContact", json!({"kind": "contact", "type_id": 6, "purchase_order_number": "PO-1"}));
}

#[test]
fn organisation_contacts_are_not_found_by_email_so_they_may_share_one_and_an_upsert_never_lands_on_them() {
    let mut g = given_a_tenant();
    g.accept("CreateContact", json!({"kind": "contact", "type_id": 6, "email": "billing@x.io"}));
    g.accept("CreateContact", json!({"kind": "contact", "type_id": 2, "email": "billing@x.io"}));
    let upserted = g.accept("UpsertContact", json!({"email": "billing@x.io", "metadata": {"a": "1"}}));
    assert!(
        matches!(&upserted[..], [Event::ContactCreated(c)] if c.type_id.is_none()),
        "the upsert creates a contact of its own: {upserted:?}"
    );
    assert_eq!(conflict_code(g.create(json!({"kind": "contact", "email": "billing@x.io"}))), "email_taken");
}
