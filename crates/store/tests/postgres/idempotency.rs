//! Idempotency keys and submitted commands: the API's own records.
use chrono::{TimeZone, Utc};
use ledger_domain::CommandId;
use ledger_ports::{Commands, Idempotency, IdempotencyKeys, StoredResponse};
use serde_json::json;
use ulid::Ulid;

use crate::support::*;

#[tokio::test]
async fn an_idempotency_key_is_fresh_then_in_flight_then_done_and_mismatched_by_another_request() {
    let db = TestDb::new().await;
    let t = new_tenant();
    let (first, second) = (CommandId(Ulid::new()), CommandId(Ulid::new()));
    let issued_at = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap();

    assert_eq!(db.store.idempotency_begin(t, "k1", "hash-a", first, issued_at).await.unwrap(), Idempotency::Fresh);
    assert_eq!(
        db.store.idempotency_begin(t, "k1", "hash-a", second, Utc::now()).await.unwrap(),
        Idempotency::InFlight { command_id: first, issued_at },
    );

    let response = StoredResponse {
        status: 201,
        headers: vec![("location".into(), "/v1/contacts/contact_x".into()), ("x-a".into(), "b".into())],
        body: json!({"id": "contact_x", "nested": {"ok": true}}),
    };
    db.store.idempotency_finish(t, "k1", &response).await.unwrap();
    assert_eq!(
        db.store.idempotency_begin(t, "k1", "hash-a", second, Utc::now()).await.unwrap(),
        Idempotency::Done(response)
    );

    assert_eq!(db.store.idempotency_begin(t, "k1", "hash-b", second, Utc::now()).await.unwrap(), Idempotency::Mismatch);
    // Keys belong to a tenant.
    assert_eq!(
        db.store.idempotency_begin(new_tenant(), "k1", "hash-b", second, Utc::now()).await.unwrap(),
        Idempotency::Fresh
    );
}

#[tokio::test]
async fn a_submitted_command_is_remembered_for_its_tenant() {
    let db = TestDb::new().await;
    let t = new_tenant();
    let id = CommandId(Ulid::new());
    assert!(!db.store.was_submitted(t, id).await.unwrap());
    db.store.record_submitted(t, id).await.unwrap();
    db.store.record_submitted(t, id).await.unwrap();
    assert!(db.store.was_submitted(t, id).await.unwrap());
    assert!(!db.store.was_submitted(new_tenant(), id).await.unwrap());
}
