//! The harness: a fresh database per test (dropped again when the test ends,
//! even by panic), and a `Log` that produces the records a real handler would
//! append, by running the protocol's own partition state machine.
use chrono::{DateTime, Duration, SubsecRound, TimeZone, Utc};
use ledger_domain::{CommandId, ContactId, TenantId};
use ledger_protocol::{
    Claim, CommandEnvelope, CommandPosition, Decision, EnvelopeError, LogRecord, PartitionState, Step,
};
use ledger_store::{Store, test_support::TestDatabase};
use serde_json::Value;
use ulid::Ulid;

pub const TOPIC: &str = "contact-ledger.events";

/// A migrated fresh database and a store on it. The database is dropped when
/// this is (fields drop in order: the pool first, then the database).
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _db: TestDatabase,
}

impl TestDb {
    pub async fn new() -> TestDb {
        TestDb::with_pool_size(5).await
    }

    pub async fn with_pool_size(max_connections: u32) -> TestDb {
        let db = TestDatabase::create(&format!("cl_store_test_{}", Ulid::new().to_string().to_lowercase())).await;
        let url = db.url().to_owned();
        let pool = ledger_store::connect(&url, max_connections).await.expect("connect to the test database");
        ledger_store::migrate(&pool).await.expect("migrate");
        TestDb { store: Store::new(pool), url, _db: db }
    }
}

/// One partition of the events topic, written by the protocol's own state
/// machine; offsets count from 0 and time advances a second per command.
pub struct Log {
    pub state: PartitionState,
    pub next_offset: i64,
    command_offset: i64,
    clock: DateTime<Utc>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            state: PartitionState::new(Duration::days(7)),
            next_offset: 0,
            command_offset: 0,
            clock: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).single().expect("a valid time"),
        }
    }
}

/// A record and the offset it sits at.
pub type At = (i64, LogRecord);

impl Log {
    /// A log whose clock starts a minute ago, so its first decisions (a second
    /// apart) lie just before the database's `now()`.
    pub fn from_now() -> Log {
        Log { clock: (Utc::now() - Duration::seconds(60)).trunc_subsecs(6), ..Log::default() }
    }

    fn append(&mut self, record: LogRecord) -> At {
        let offset = self.next_offset;
        self.next_offset += 1;
        (offset, record)
    }

    /// A writer claims the partition at `epoch` and becomes its writer.
    pub fn claim(&mut self, epoch: u64) -> At {
        let record = LogRecord::Claim(Claim { epoch, writer_id: format!("writer-{epoch}"), claimed_at: self.clock });
        self.state.apply(&record);
        self.state.become_writer(epoch);
        self.append(record)
    }

    /// Decides a command (type and JSON payload, as on the wire) and appends the decision.
    pub fn decide(&mut self, tenant: TenantId, command_type: &str, payload: Value) -> At {
        let decision = self.decision(tenant, command_type, payload);
        self.append(LogRecord::Decision(decision))
    }

    /// Decides a command without appending it (to forge a stale writer's record).
    /// A payload that does not parse is decided as the handler decides it: rejected.
    pub fn decision(&mut self, tenant: TenantId, command_type: &str, payload: Value) -> Decision {
        self.clock += Duration::seconds(1);
        let (command_id, issued_at) = (CommandId(Ulid::new()), self.clock);
        let input = match ledger_domain::wire::parse(command_type, &payload) {
            Ok(command) => Ok(CommandEnvelope { command_id, tenant_id: tenant, issued_at, command }),
            Err(errors) => Err(EnvelopeError::InvalidPayload {
                command_id,
                tenant_id: tenant,
                issued_at,
                command_type: command_type.to_owned(),
                errors,
            }),
        };
        let source =
            CommandPosition { topic: "contact-ledger.commands".into(), partition: 0, offset: self.command_offset };
        self.command_offset += 1;
        // The writer's clock is the log's: what is decided happens at `issued_at`.
        match self.state.handle(input, source, self.clock) {
            Step::Append(decision) => *decision,
            other => panic!("expected a decision, got {other:?}"),
        }
    }

    /// Appends a hand-made record.
    pub fn push(&mut self, record: LogRecord) -> At {
        self.append(record)
    }
}

pub fn new_tenant() -> TenantId {
    TenantId(Ulid::new())
}

pub fn command_id(at: &At) -> CommandId {
    match &at.1 {
        LogRecord::Decision(d) => d.command_id,
        other => panic!("only a decision has a command id: {other:?}"),
    }
}

/// The contact a decision created or changed.
pub fn contact_id(at: &At) -> ContactId {
    match &at.1 {
        LogRecord::Decision(d) => match &d.outcome {
            ledger_protocol::Outcome::Accepted { subject: Some(id), .. } => *id,
            other => panic!("the decision names no contact: {other:?}"),
        },
        other => panic!("only a decision names a contact: {other:?}"),
    }
}

/// Applies records in one projection transaction and commits it.
pub async fn project(store: &Store, records: &[At]) {
    let mut projection = store.begin_projection(TOPIC).await.expect("begin");
    for (offset, record) in records {
        projection.apply(0, *offset, Some(record)).await.expect("apply");
    }
    projection.commit().await.expect("commit");
}

pub fn create_tenant(log: &mut Log, tenant: TenantId) -> At {
    log.decide(
        tenant,
        "CreateTenant",
        serde_json::json!({ "name": "Acme", "api_key_hash": format!("key-of-{tenant}") }),
    )
}

/// Waits (up to 10 s) until a session of this test's database waits on a
/// lock: the condition a "the second one waits" test means, instead of a
/// fixed sleep that only hopes it has begun waiting.
pub async fn a_session_waits_on_a_lock(db: &TestDb) -> bool {
    a_session_matches(db, "wait_event_type = 'Lock'").await
}

/// Waits (up to 10 s) until the store's one `LISTEN command_decided`
/// connection is open: a waiter is then registered for notifications.
pub async fn the_store_listens(db: &TestDb) -> bool {
    a_session_matches(db, "query ILIKE 'LISTEN%'").await
}

/// Whether, within 10 s, a session of this test's database matches `condition`
/// (SQL over `pg_stat_activity`).
async fn a_session_matches(db: &TestDb, condition: &str) -> bool {
    let query = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {condition}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let found: i64 = sqlx::query_scalar(&query).fetch_one(db.store.pool()).await.unwrap_or(0);
        if found > 0 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}
