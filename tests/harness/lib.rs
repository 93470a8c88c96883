//! The test harness: `spawn_app()` starts the whole service in-process on a
//! fresh database and fresh topics, against the real PostgreSQL and the real
//! broker named by `CL_TEST_DATABASE_URL` and `CL_TEST_KAFKA_BROKERS`
//! (`scripts/test` starts both).
pub mod broker;
pub mod browser;
/// The published OpenAPI document as a test oracle (shared with the HTTP
/// crate's own tests).
#[path = "../../crates/http/tests/api/contract.rs"]
pub mod contract;
pub mod smtp;

use std::{collections::HashMap, time::Duration};

use contact_ledger::{
    app::{self, Roles, Running},
    config::{Common, MailSettings},
    tenant,
};
use ledger_kafka::{EventRead, EventReader, KafkaBus, KafkaConfig};
use ledger_protocol::{Fence, LogRecord};
use ledger_store::Store;
use rdkafka::{Message, producer::FutureProducer};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub use ledger_store::test_support::{TestDatabase, admin_url};

/// `fetch.wait.max.ms` for the tests' consumers: the product default unless
/// `CL_TEST_FETCH_WAIT_MS` says otherwise (the broker answers a waiting fetch
/// as soon as data arrives, so the wait sets no test's pace).
pub fn fetch_wait_ms() -> u32 {
    std::env::var("CL_TEST_FETCH_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ledger_kafka::config::DEFAULT_FETCH_WAIT_MS)
}

pub fn brokers() -> String {
    std::env::var("CL_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19093".into())
}

/// The `contact-ledger` binary next to the test executable (`scripts/test`
/// builds it before the tests).
pub fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = dir.join("contact-ledger");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p contact-ledger` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// `contact-ledger <role>` configured like `common`, through the environment.
pub fn role_command(common: &Common, role: &str) -> std::process::Command {
    let mut c = std::process::Command::new(binary());
    c.arg(role)
        .env("DATABASE_URL", &common.database_url)
        .env("KAFKA_BROKERS", &common.kafka_brokers)
        .env("CL_TOPIC_PREFIX", &common.topic_prefix)
        .env("CL_PARTITIONS", common.partitions.to_string())
        .env("CL_FETCH_WAIT_MS", common.fetch_wait_ms.to_string())
        .env("CL_MAILER_FETCH_WAIT_MS", common.mailer_fetch_wait_ms.to_string())
        .env("CL_INVITE_TTL_SECS", common.invite_ttl_secs.to_string())
        .env("CL_LEASE_TTL_MS", common.lease_ttl_ms.to_string())
        .env("CL_SNAPSHOT_EVERY", common.snapshot_every.to_string())
        .env("CL_SNAPSHOT_INTERVAL_SECS", common.snapshot_interval_secs.to_string())
        .env("CL_PUBLIC_BASE_URL", &common.mail.public_base_url)
        .env("CL_MAIL_OUTBOX", &common.mail.mail_outbox)
        .env("CL_MAIL_RETRY_MS", common.mail.mail_retry_ms.to_string())
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(member) = &common.member_id {
        c.env("CL_MEMBER_ID", member);
    }
    if let Some(host) = &common.mail.smtp_host {
        c.env("CL_SMTP_HOST", host);
    }
    if common.mail.mail_to_files {
        c.env("CL_MAIL_TO_FILES", "true");
    }
    if let Some(secret) = &common.token_secret {
        c.env("CL_TOKEN_SECRET", secret);
    }
    if let Some(port) = common.mail.smtp_port {
        c.env("CL_SMTP_PORT", port.to_string());
    }
    if common.mail.smtp_security == contact_ledger::config::SmtpSecurity::None {
        c.env("CL_SMTP_SECURITY", "none");
    }
    c
}

/// A `contact-ledger` child process that is killed (SIGKILL) and reaped when
/// dropped, so a test that fails or panics still ends every process it started.
pub struct RoleProcess(std::process::Child);

impl std::ops::Deref for RoleProcess {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for RoleProcess {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<std::process::Child> for RoleProcess {
    fn from(child: std::process::Child) -> Self {
        Self(child)
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn_role(common: &Common, role: &str) -> RoleProcess {
    RoleProcess(role_command(common, role).spawn().expect("spawn contact-ledger"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A fresh database and a fresh topic prefix. The database lives as long as
/// the returned guard: keep it until every process using it has ended (bind
/// it as `_db`, never `_`, or hand it to `spawn_app_from`).
pub async fn fresh_common(partitions: i32) -> (Common, TestDatabase) {
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let db = TestDatabase::create(&format!("cl_test_{id}")).await;
    let common = Common {
        db_pool: 30,
        token_secret: Some(ledger_http::random_secret()),
        fetch_wait_ms: fetch_wait_ms(),
        mailer_fetch_wait_ms: fetch_wait_ms(),
        // Tests that do not look at mail still run the mailer: its .eml
        // files go to a temporary folder.
        mail: MailSettings {
            mail_outbox: std::env::temp_dir().join(format!("cl-outbox-{id}")),
            mail_to_files: true,
            ..MailSettings::default()
        },
        ..Common::with_defaults(db.url(), &brokers(), &format!("t-{id}."), partitions)
    };
    (common, db)
}

pub struct TestApp {
    pub running: Running,
    pub base: String,
    pub key: String,
    pub tenant_id: String,
    pub client: reqwest::Client,
    pub common: Common,
    /// Last: the database is dropped after the service using it.
    pub db: TestDatabase,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(1, Roles::ALL).await
}

pub async fn spawn_app_with(partitions: i32, roles: Roles) -> TestApp {
    let (common, db) = fresh_common(partitions).await;
    spawn_app_from(common, db, roles, "127.0.0.1:0").await
}

/// The service with a configuration the test prepared (from `fresh_common`),
/// on the database `db` guards, which the app keeps.
pub async fn spawn_app_from(common: Common, db: TestDatabase, roles: Roles, http: &str) -> TestApp {
    let running = app::start(&common, roles, http.parse().expect("addr")).await.expect("start the service");
    running.ready(Duration::from_secs(60)).await.expect("handler ready");
    let mut app = TestApp {
        base: format!("http://{}", running.addr.expect("api role")),
        running,
        key: String::new(),
        tenant_id: String::new(),
        client: reqwest::Client::new(),
        common,
        db,
    };
    if roles.handler && roles.projector {
        let (tenant_id, key) = app.create_tenant("acme").await;
        app.key = key;
        app.tenant_id = tenant_id;
    }
    app
}

impl TestApp {
    pub fn kafka(&self) -> KafkaConfig {
        self.running.kafka.clone()
    }

    pub fn store(&self) -> &Store {
        &self.running.store
    }

    pub async fn create_tenant(&self, name: &str) -> (String, String) {
        let bus = KafkaBus::new(self.kafka()).expect("bus");
        let created = tenant::create(&bus, self.store(), name, Duration::from_secs(30)).await.expect("tenant");
        (created["tenant_id"].as_str().expect("id").to_owned(), created["api_key"].as_str().expect("key").to_owned())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.post_as(&self.key, path, body).await
    }

    pub async fn post_as(&self, key: &str, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(key).json(body).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(&self.key).send().await.expect("request")
    }

    pub async fn patch(&self, path: &str, body: &Value, if_match: Option<u64>) -> Response {
        let mut r = self.client.patch(self.url(path)).bearer_auth(&self.key).json(body);
        if let Some(v) = if_match {
            r = r.header("If-Match", format!("\"{v}\""));
        }
        r.send().await.expect("request")
    }

    /// Checks an answer against the service's own `/openapi.json`: the
    /// status is documented for the operation, and the body fits its schema.
    pub async fn assert_documented(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        content_type: Option<&str>,
        body: &Value,
    ) {
        let doc: Value =
            self.client.get(self.url("/openapi.json")).send().await.expect("openapi").json().await.expect("json");
        let contract = contract::Contract::new(doc);
        if let Err(e) = contract.check_answer(method, path, status.as_u16(), content_type, body) {
            panic!("the answer does not fit the published document: {e}");
        }
    }

    /// Checks a request body against the documented one.
    pub async fn assert_documented_request(&self, method: &str, path: &str, body: &Value) {
        let doc: Value =
            self.client.get(self.url("/openapi.json")).send().await.expect("openapi").json().await.expect("json");
        if let Err(e) = contract::Contract::new(doc).check_request(method, path, "application/json", body) {
            panic!("the request does not fit the published document: {e}");
        }
    }

    pub async fn create_contact(&self, body: Value) -> Value {
        let r = self.post("/v1/contacts", &body).await;
        let status = r.status();
        let json: Value = r.json().await.expect("json body");
        assert_eq!(status, StatusCode::CREATED, "create failed: {json}");
        json
    }

    /// Every record of the events topic, decoded, with the fence's verdict.
    pub async fn log(&self) -> Vec<(i32, i64, LogRecord, ledger_protocol::Admit)> {
        let cfg = self.kafka();
        let records = read_topic_records(&cfg).await;
        let mut fences: HashMap<i32, Fence> = HashMap::new();
        records
            .into_iter()
            .map(|(p, o, r)| {
                let admit = fences.entry(p).or_default().admit(&r);
                (p, o, r, admit)
            })
            .collect()
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// Every record of a topic up to its current end (the high watermarks when
/// it is called), as read.
pub async fn read_to_end(cfg: &KafkaConfig) -> Vec<EventRead> {
    let reader = EventReader::new(cfg, &HashMap::new()).expect("reader");
    let highs = reader.high_watermarks().await.expect("watermarks");
    let mut pending: HashMap<i32, i64> = highs.into_iter().filter(|(_, h)| *h > 0).collect();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let batch = reader.next_batch(1000, Duration::from_secs(10)).await.expect("batch");
        assert!(!batch.is_empty(), "topic {} ended early: {pending:?}", cfg.events_topic);
        for read in batch {
            if pending.get(&read.partition).is_some_and(|high| read.offset + 1 >= *high) {
                pending.remove(&read.partition);
            }
            out.push(read);
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// The next offset of each partition of the events topic, read to the end.
pub async fn ends(cfg: &KafkaConfig) -> HashMap<i32, i64> {
    let mut out = HashMap::new();
    for read in read_to_end(cfg).await {
        out.insert(read.partition, read.offset + 1);
    }
    out
}

/// Decoded records of the events topic up to its current end.
pub async fn read_topic_records(cfg: &KafkaConfig) -> Vec<(i32, i64, LogRecord)> {
    read_to_end(cfg).await.into_iter().map(|r| (r.partition, r.offset, r.record.expect("decodable record"))).collect()
}

/// Raw bytes (key, headers, payload) of every record of a topic.
pub async fn raw_topic(brokers: &str, topic: &str, partitions: i32) -> Vec<Vec<u8>> {
    let mut cfg = KafkaConfig::new(brokers, "", partitions);
    cfg.events_topic = topic.to_owned();
    read_to_end(&cfg)
        .await
        .iter()
        .map(|read| {
            let m = &read.message;
            let mut bytes = m.key().unwrap_or_default().to_vec();
            for (k, v) in ledger_kafka::codec::headers_of(m) {
                bytes.extend(k.into_bytes());
                bytes.extend(v);
            }
            bytes.extend(m.payload().unwrap_or_default());
            bytes
        })
        .collect()
}

/// Waits for the first record on the dead-letter topic; returns it as text.
pub async fn first_dead_letter(cfg: &KafkaConfig) -> String {
    let raw = eventually(Duration::from_secs(20), || async {
        let raw = raw_topic(&cfg.brokers, &cfg.dead_letter_topic, 1).await;
        (!raw.is_empty()).then_some(raw)
    })
    .await
    .expect("a dead letter");
    String::from_utf8_lossy(&raw[0]).to_string()
}

pub fn producer(brokers: &str) -> FutureProducer {
    let cfg = KafkaConfig::new(brokers, "", 1);
    cfg.producer().create().expect("producer")
}

pub fn user(email: &str) -> Value {
    json!({"kind": "user", "first_name": "Bob", "last_name": "Bobsworth", "email": email, "password": "s3cretpassw0rd"})
}

/// Polls until `f` gives Some, up to `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
