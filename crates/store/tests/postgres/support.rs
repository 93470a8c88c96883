//! The harness: a fresh database per test (dropped again when the test ends,
//! even by panic), and a `Log` that produces the records a real handler would
//! append, by running the protocol's own partition state machine.
use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger_domain::{Command, CommandId, ContactId, TenantId};
use ledger_protocol::{
    Claim, CommandEnvelope, CommandPosition, Decision, EnvelopeError, LogRecord, PartitionState, Step,
};
use ledger_store::Store;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use ulid::Ulid;

pub const TOPIC: &str = "contact-ledger.events";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:54339/postgres";

fn admin_url() -> String {
    std::env::var("CL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// The admin URL pointed at another database.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

pub struct TestDb {
    pub store: Store,
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        TestDb::with_pool_size(5).await
    }

    pub async fn with_pool_size(max_connections: u32) -> TestDb {
        let admin = admin_url();
        let name = format!("cl_store_test_{}", Ulid::new().to_string().to_lowercase());
        let mut conn = PgConnection::connect(&admin).await.expect("the test PostgreSQL server answers");
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create the test database");
        conn.close().await.ok();
        let url = with_database(&admin, &name);
        let pool = ledger_store::connect(&url, max_connections).await.expect("connect to the test database");
        ledger_store::migrate(&pool).await.expect("migrate");
        TestDb { store: Store::new(pool), url, name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        // Best effort, on a thread of its own: the test's runtime may be gone.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = conn.execute(sql.as_str()).await;
                }
            });
        });
        let _ = dropper.join();
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
        let input = match Command::parse(command_type, &payload) {
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
        match self.state.handle(input, source) {
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
        LogRecord::Decision(d) => d.subject().expect("the decision names a contact"),
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
