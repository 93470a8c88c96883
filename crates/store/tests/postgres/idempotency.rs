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

#[tokio::test]
async fn pruning_deletes_the_keys_older_than_the_retention_and_their_answers() {
    let db = TestDb::new().await;
    let t = new_tenant();
    for key in ["old-1", "old-2", "new"] {
        db.store.idempotency_begin(t, key, "hash", CommandId(Ulid::new()), Utc::now()).await.unwrap();
        let response = StoredResponse { status: 201, headers: vec![], body: json!({"email": "a@b.io"}) };
        db.store.idempotency_finish(t, key, &response).await.unwrap();
    }
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '2 hours' WHERE key LIKE 'old-%'")
        .execute(db.store.pool())
        .await
        .unwrap();
    let pruned = db.store.prune_idempotency_keys(std::time::Duration::from_secs(3600)).await.unwrap();
    assert_eq!(pruned, 2);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT key FROM idempotency_keys").fetch_all(db.store.pool()).await.unwrap();
    assert_eq!(left, ["new"]);
    // A pruned key is a new key again.
    assert_eq!(
        db.store.idempotency_begin(t, "old-1", "hash-b", CommandId(Ulid::new()), Utc::now()).await.unwrap(),
        Idempotency::Fresh
    );
}

#[tokio::test]
async fn two_tenants_may_submit_commands_with_one_id() {
    let db = TestDb::new().await;
    let (a, b) = (new_tenant(), new_tenant());
    let id = CommandId(Ulid::new());
    db.store.record_submitted(a, id).await.unwrap();
    db.store.record_submitted(b, id).await.unwrap();
    assert!(db.store.was_submitted(a, id).await.unwrap());
    assert!(db.store.was_submitted(b, id).await.unwrap(), "b's command is its own, not a's");
}
