//! `schemas/` is the wire contract. These tests fail when the committed JSON
//! Schemas differ from what the Rust types produce (regenerate with
//! `UPDATE_SCHEMAS=1 cargo test -p ledger-domain --test domain schemas`), when a
//! golden fixture (`fixtures/events`, every event type and version; `fixtures/commands`,
//! every command) stops matching its schema or reading through the real decoder, and when a
//! command schema and the parser (`wire::parse`) disagree: every schema's
//! examples must parse, and payloads the parser refuses for their shape must
//! fail the schema too.
use std::{fs, path::PathBuf};

use ledger_domain::{Event, command::*, event::*};
use schemars::{JsonSchema, schema_for};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn check<T: JsonSchema>(dir: &str, name: &str, failures: &mut Vec<String>) {
    let path = root().join(dir).join(format!("{name}.v1.json"));
    let generated = serde_json::to_string_pretty(&schema_for!(T)).expect("schema") + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        fs::write(&path, &generated).expect("write schema");
        return;
    }
    match fs::read_to_string(&path) {
        Ok(committed) if committed == generated => {}
        _ => failures.push(path.display().to_string()),
    }
}

#[test]
fn committed_schemas_match_the_rust_types() {
    let mut failures = Vec::new();
    check::<CreateTenant>("commands", "CreateTenant", &mut failures);
    check::<ConfigureTenant>("commands", "ConfigureTenant", &mut failures);
    check::<RotateApiKey>("commands", "RotateApiKey", &mut failures);
    check::<CreateContact>("commands", "CreateContact", &mut failures);
    check::<UpsertContact>("commands", "UpsertContact", &mut failures);
    check::<PatchContact>("commands", "PatchContact", &mut failures);
    check::<DeleteContact>("commands", "DeleteContact", &mut failures);
    check::<DefineAccessRole>("commands", "DefineAccessRole", &mut failures);
    check::<GrantRoles>("commands", "GrantRoles", &mut failures);
    check::<RoleRef>("commands", "ApproveRole", &mut failures);
    check::<RoleRef>("commands", "RevokeRole", &mut failures);
    check::<RequestInvite>("commands", "RequestInvite", &mut failures);
    check::<RecordInviteSent>("commands", "RecordInviteSent", &mut failures);
    check::<RecordInviteDeliveryFailed>("commands", "RecordInviteDeliveryFailed", &mut failures);
    check::<AcceptInvite>("commands", "AcceptInvite", &mut failures);
    check::<TenantCreated>("events", "TenantCreated", &mut failures);
    check::<TenantConfigured>("events", "TenantConfigured", &mut failures);
    check::<ApiKeyRotated>("events", "ApiKeyRotated", &mut failures);
    check::<ContactCreated>("events", "ContactCreated", &mut failures);
    check::<ContactUpdated>("events", "ContactUpdated", &mut failures);
    check::<PasswordSet>("events", "PasswordSet", &mut failures);
    check::<InviteRequested>("events", "InviteRequested", &mut failures);
    check::<InviteSent>("events", "InviteSent", &mut failures);
    check::<InviteDeliveryFailed>("events", "InviteDeliveryFailed", &mut failures);
    check::<InviteAccepted>("events", "InviteAccepted", &mut failures);
    check::<AccessRoleDefined>("events", "AccessRoleDefined", &mut failures);
    check::<RoleGranted>("events", "RoleGranted", &mut failures);
    check::<RoleActivated>("events", "RoleActivated", &mut failures);
    check::<RoleRevoked>("events", "RoleRevoked", &mut failures);
    check::<ContactDeleted>("events", "ContactDeleted", &mut failures);
    assert!(failures.is_empty(), "schemas out of date (run with UPDATE_SCHEMAS=1): {failures:?}");
}

/// A validator for a published schema (`dir`/`name`.v`version`.json), formats checked.
fn validator(dir: &str, name: &str, version: u64) -> jsonschema::Validator {
    let path = root().join(dir).join(format!("{name}.v{version}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema json");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{} does not compile: {e}", path.display()))
}

/// Every golden fixture in `fixtures/<dir>`, as (file name, JSON).
fn fixtures(dir: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = fs::read_dir(root().join("fixtures").join(dir))
        .expect("fixtures dir")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let text = fs::read_to_string(&path).expect("fixture");
            (path.file_name().expect("name").to_string_lossy().into_owned(), serde_json::from_str(&text).expect("json"))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_event_type_has_a_golden_fixture_per_version_that_its_schema_and_the_decoder_accept() {
    let found = fixtures("events");
    for ty in ledger_domain::upcast::EVENT_TYPES {
        let current = ledger_domain::upcast::current_version(ty).expect("a current version");
        for version in 1..=current {
            let name = format!("{ty}.v{version}.json");
            assert!(found.iter().any(|(n, _)| *n == name), "no golden fixture {name}");
        }
    }
    for (name, v) in &found {
        let ty = v["type"].as_str().expect("type");
        let version = v["eventversion"].as_u64().expect("eventversion");
        assert_eq!(*name, format!("{ty}.v{version}.json"), "fixture named after its type and version");
        let errors: Vec<String> =
            validator("events", ty, version).iter_errors(&v["data"]).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name} does not match its schema: {errors:?}");
        let event = Event::from_parts(ty, u32::try_from(version).expect("version"), v["data"].clone())
            .unwrap_or_else(|e| panic!("{name} no longer reads: {e}"));
        assert_eq!(event.event_type(), ty);
        if u32::try_from(version).ok() == ledger_domain::upcast::current_version(ty) {
            assert_eq!(event.data().expect("data"), v["data"], "{name} does not round-trip");
        }
    }
}

#[test]
fn every_command_type_has_a_golden_fixture_that_its_schema_and_the_parser_accept() {
    let found = fixtures("commands");
    for ty in ledger_domain::Command::TYPES {
        assert!(found.iter().any(|(n, _)| *n == format!("{ty}.v1.json")), "no golden fixture for {ty}");
    }
    for (name, v) in &found {
        let ty = v["type"].as_str().expect("type");
        let errors: Vec<String> =
            validator("commands", ty, 1).iter_errors(&v["payload"]).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name} does not match its schema: {errors:?}");
        ledger_domain::wire::parse(ty, &v["payload"]).unwrap_or_else(|e| panic!("{name} is refused: {e:?}"));
    }
}

#[test]
fn an_event_newer_than_this_build_is_refused_not_misread() {
    let (_, v) = fixtures("events").into_iter().find(|(n, _)| n == "RoleRevoked.v1.json").expect("fixture");
    let err = Event::from_parts("RoleRevoked", 2, v["data"].clone()).expect_err("v2 is unknown here");
    assert!(err.to_string().contains("newer than this build"), "{err}");
}

/// The published schema of a command type, and a validator for it that
/// checks formats too (JSON Schema 2020-12 treats them as annotations).
fn command_schema(command_type: &str) -> (Value, jsonschema::Validator) {
    let path = root().join("commands").join(format!("{command_type}.v1.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).expect("schema json");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{command_type} schema does not compile: {e}"));
    (schema, validator)
}

#[test]
fn every_command_schema_has_examples_and_the_parser_accepts_each() {
    for command_type in Command::TYPES {
        let (schema, validator) = command_schema(command_type);
        let examples = schema["examples"].as_array().cloned().unwrap_or_default();
        assert!(!examples.is_empty(), "{command_type}: the schema has no example");
        for example in &examples {
            let errors: Vec<String> = validator.iter_errors(example).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{command_type}: its own schema refuses its example {example}: {errors:?}");
            if let Err(errors) = ledger_domain::wire::parse(command_type, example) {
                panic!("{command_type}: the parser refuses the example {example}: {errors:?}");
            }
        }
    }
}

/// Payloads the parser refuses for their shape, which the schema must
/// refuse too. Not in this table, because the schema cannot say them:
/// - rules the domain decides against the state: email uniqueness, unknown
///   role references, an invite for a non-user, expiry, superseded invites;
/// - rules that need more than a shape: password strength (checked on the
///   plaintext at the edge), email syntax, the ULID inside an id
///   (`contact_<ULID>`), the fields each kind requires, `purchase_order_number`
///   only with `type_id` 6, metadata size;
/// - unknown fields: the payloads flatten the profile into the command, so
///   the schemas leave `additionalProperties` open.
///
/// The schema is stricter in places, on purpose: it does not trim strings or
/// default `kind`/`match_on` as the parser does for vendors.
#[test]
fn payloads_the_parser_refuses_for_their_shape_the_schema_refuses_too() {
    let contact_id = "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let user = |extra: Value| {
        let mut base =
            json!({"kind": "user", "email": "a@example.com", "first_name": "A", "last_name": "B", "invite": true});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        base
    };
    let grants = |access_roles: Value| json!({"contact_id": contact_id, "access_roles": access_roles});
    let cases: Vec<(&str, &str, Value)> = vec![
        ("not an object", "CreateContact", json!("user")),
        (
            "a pending status (only active bypasses)",
            "GrantRoles",
            grants(json!([{"reference": "c", "status": "pending"}])),
        ),
        ("an unknown status", "GrantRoles", grants(json!([{"reference": "c", "status": "approved"}]))),
        ("a grant without a reference", "GrantRoles", grants(json!([{"expires": "2030-01-01T00:00:00Z"}]))),
        ("a grant that is neither text nor object", "GrantRoles", grants(json!([7]))),
        ("an expiry that is not a date-time", "GrantRoles", grants(json!([{"reference": "c", "expires": "soon"}]))),
        ("access_roles not a list", "GrantRoles", grants(json!("customer"))),
        ("no access_roles", "GrantRoles", json!({"contact_id": contact_id})),
        ("kind hq", "CreateContact", user(json!({"kind": "hq"}))),
        ("an unknown kind", "CreateContact", user(json!({"kind": "robot"}))),
        ("no kind", "CreateContact", json!({"email": "a@example.com"})),
        ("external_id longer than 120", "CreateContact", user(json!({"external_id": "x".repeat(121)}))),
        ("an empty external_id", "CreateContact", user(json!({"external_id": ""}))),
        ("type_id as text", "CreateContact", user(json!({"type_id": "6"}))),
        ("a tag that is not text", "CreateContact", user(json!({"tags": [1]}))),
        ("invite not a boolean", "CreateContact", user(json!({"invite": "yes"}))),
        ("a plaintext password_hash", "CreateContact", user(json!({"password_hash": "s3cretpassw0rd"}))),
        (
            "an unknown match_on",
            "UpsertContact",
            json!({"match_on": "phone", "kind": "contact", "email": "a@example.com"}),
        ),
        ("contact_capture as text", "ConfigureTenant", json!({"contact_capture": "yes"})),
        ("no api_key_hash", "CreateTenant", json!({"name": "Acme"})),
        (
            "a reference that is not a slug",
            "DefineAccessRole",
            json!({"reference": "Not A Slug", "name": "N", "grant_rule": "automatic"}),
        ),
        (
            "an unknown grant_rule",
            "DefineAccessRole",
            json!({"reference": "vip", "name": "V", "grant_rule": "sometimes"}),
        ),
        ("a patch that is not an object", "PatchContact", json!({"contact_id": contact_id, "patch": "title=CTO"})),
        (
            "a negative expected_version",
            "PatchContact",
            json!({"contact_id": contact_id, "expected_version": -1, "patch": {}}),
        ),
        ("a contact id that is not text", "RequestInvite", json!({"contact_id": 5})),
        ("no reference", "ApproveRole", json!({"contact_id": contact_id})),
        (
            "attempts as text",
            "RecordInviteDeliveryFailed",
            json!({"invite_id": "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV", "reason": "x", "attempts": "3"}),
        ),
        (
            "negative attempts",
            "RecordInviteDeliveryFailed",
            json!({"invite_id": "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV", "reason": "x", "attempts": -1}),
        ),
        (
            "a password_hash that is not argon2id",
            "AcceptInvite",
            json!({"invite_id": "invite_01ARZ3NDEKTSV4RRFFQ69G5FAV", "password_hash": "md5:abc"}),
        ),
    ];
    let mut failures = Vec::new();
    for (why, command_type, payload) in &cases {
        // What the edge refuses before publishing: the wire's shape and the
        // domain's state-free rules.
        let refused = ledger_domain::wire::parse(command_type, payload)
            .map(|c| ledger_domain::admit(&c))
            .map_or(true, |rules| !rules.is_empty());
        assert!(refused, "{command_type} ({why}): the wire and the state-free rules accept {payload}");
        if command_schema(command_type).1.is_valid(payload) {
            failures.push(format!("{command_type}: {why}"));
        }
    }
    assert!(failures.is_empty(), "the schema accepts what the parser refuses: {failures:#?}");
}
