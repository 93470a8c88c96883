//! A tenant's API key rotation, as given / when / then.
use chrono::{Duration, TimeZone, Utc};
use ledger_domain::{CommandId, Context, Event, Rejection, TenantState, decide, evolve};
use serde_json::{Value, json};
use ulid::Ulid;

const KEY_2: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const KEY_3: &str = "fd61a03af4f77d870fc21e05e7e80678095c92d808cfb3b5c279ee04c74aca13";

fn decide_at(state: &mut TenantState, n: u64, ty: &str, payload: Value) -> Result<Vec<Event>, Rejection> {
    let command = ledger_domain::wire::parse(ty, &payload).map_err(Rejection::invalid)?;
    let ctx = Context::new(CommandId(Ulid::from_parts(n, u128::from(n))), Utc.timestamp_opt(1_700_000_000, 0).unwrap());
    let result = decide(state, &command, &ctx).map(|d| d.events);
    for e in result.iter().flatten() {
        *state = evolve(std::mem::take(state), e);
    }
    result
}

#[test]
fn a_rotation_makes_the_next_key_version_and_ends_the_old_keys_after_the_overlap() {
    let mut state = TenantState::default();
    let rotate = json!({"api_key_hash": KEY_2, "previous_valid_secs": 3600});
    // No tenant yet: nothing to rotate.
    assert!(decide_at(&mut state, 1, "RotateApiKey", rotate.clone()).is_err());
    decide_at(&mut state, 2, "CreateTenant", json!({"name": "acme", "api_key_hash": "h1"})).unwrap();
    assert_eq!(state.info.as_ref().map(|i| i.key_version), Some(1));
    let events = decide_at(&mut state, 3, "RotateApiKey", rotate).unwrap();
    let [Event::ApiKeyRotated(e)] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!((e.api_key_hash.as_str(), e.key_version), (KEY_2, 2));
    assert_eq!(e.previous_valid_until, e.at + Duration::seconds(3600));
    let info = state.info.as_ref().unwrap();
    assert_eq!((info.api_key_hash.as_str(), info.key_version), (KEY_2, 2));
    let third = decide_at(&mut state, 4, "RotateApiKey", json!({"api_key_hash": KEY_3, "previous_valid_secs": 0}));
    assert!(
        matches!(third.unwrap().as_slice(), [Event::ApiKeyRotated(e)] if e.key_version == 3 && e.previous_valid_until == e.at)
    );
}

#[test]
fn a_rotation_needs_a_new_sha256_and_an_overlap_of_at_most_30_days() {
    let mut state = TenantState::default();
    decide_at(&mut state, 1, "CreateTenant", json!({"name": "acme", "api_key_hash": KEY_2})).unwrap();
    let fields = |r: Result<Vec<Event>, Rejection>| -> Vec<(String, String)> {
        match r {
            Err(Rejection::Validation { errors }) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("{other:?}"),
        }
    };
    let bad =
        decide_at(&mut state, 2, "RotateApiKey", json!({"api_key_hash": "NOT-HEX", "previous_valid_secs": 2_592_001}));
    assert_eq!(
        fields(bad),
        [("api_key_hash".into(), "invalid_format".into()), ("previous_valid_secs".into(), "out_of_range".into())]
    );
    let same = decide_at(&mut state, 3, "RotateApiKey", json!({"api_key_hash": KEY_2, "previous_valid_secs": 60}));
    assert_eq!(fields(same), [("api_key_hash".into(), "key_in_force".into())]);
}
