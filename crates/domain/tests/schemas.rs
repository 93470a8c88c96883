//! `schemas/` is the wire contract. These tests fail when the committed JSON
//! Schemas differ from what the Rust types produce (regenerate with
//! `UPDATE_SCHEMAS=1 cargo test -p ledger-domain --test schemas`), and when a
//! golden fixture of an old event version stops being readable.
use std::{fs, path::PathBuf};

use ledger_domain::{Event, command::*, event::*};
use schemars::{JsonSchema, schema_for};

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
    check::<CreateContact>("commands", "CreateContact", &mut failures);
    check::<UpsertContact>("commands", "UpsertContact", &mut failures);
    check::<PatchContact>("commands", "PatchContact", &mut failures);
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
    assert!(failures.is_empty(), "schemas out of date (run with UPDATE_SCHEMAS=1): {failures:?}");
}

#[test]
fn golden_event_fixtures_of_every_version_stay_readable() {
    let dir = root().join("fixtures");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        let text = fs::read_to_string(&path).expect("fixture");
        let v: serde_json::Value = serde_json::from_str(&text).expect("fixture json");
        let ty = v["type"].as_str().expect("type");
        let version = v["eventversion"].as_u64().expect("eventversion") as u32;
        let event = Event::from_parts(ty, version, v["data"].clone())
            .unwrap_or_else(|e| panic!("{} no longer reads: {e}", path.display()));
        assert_eq!(event.event_type(), ty);
        seen += 1;
    }
    assert!(seen >= 4, "expected golden fixtures in {}", dir.display());
}
