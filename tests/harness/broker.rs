//! A broker process of a test's own: the build `scripts/test` names in
//! `CL_TEST_BROKER_BIN` (the one `scripts/services` runs), on a port of its
//! own, with the memory engine or with the PostgreSQL engine on a fresh
//! database of the test cluster.
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use sqlx::{Connection, PgConnection};

use crate::{RoleProcess, TestDatabase, eventually, free_port};

/// The broker binary `scripts/test` built (`scripts/services broker-bin`
/// prints its path).
pub fn broker_bin() -> PathBuf {
    let bin = std::env::var("CL_TEST_BROKER_BIN").expect(
        "CL_TEST_BROKER_BIN names the broker binary (scripts/test sets it; scripts/services broker-bin prints it)",
    );
    PathBuf::from(bin)
}

/// A running broker; killed (SIGKILL) when dropped. Fields drop in order: the
/// process before the database it keeps its log in.
pub struct OwnBroker {
    pub process: RoleProcess,
    /// `host:port`, for `bootstrap.servers`.
    pub brokers: String,
    dir: PathBuf,
    _database: Option<TestDatabase>,
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl OwnBroker {
    /// Tansu's memory engine (`memory://`): forgets everything when it ends.
    pub async fn memory() -> OwnBroker {
        OwnBroker::start("memory://tansu/".into(), None).await
    }

    /// Tansu's PostgreSQL engine on a fresh database with upstream's schema
    /// (`broker/schema/`), as `scripts/dev` runs it.
    pub async fn postgres() -> OwnBroker {
        let name = format!("cl_broker_{}", ulid::Ulid::new().to_string().to_lowercase());
        let db = TestDatabase::create(&name).await;
        let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../broker/schema/010-schema.sql"))
            .expect("broker/schema/010-schema.sql");
        let mut conn = PgConnection::connect(db.url()).await.expect("connect to the broker's database");
        sqlx::raw_sql(&schema).execute(&mut conn).await.expect("apply the broker's schema");
        conn.close().await.ok();
        let storage = db.url().to_owned();
        OwnBroker::start(storage, Some(db)).await
    }

    async fn start(storage: String, database: Option<TestDatabase>) -> OwnBroker {
        let port = free_port();
        // Tansu loads a .env from its working directory: a fresh one has none.
        let dir = std::env::temp_dir().join(format!("cl-broker-{port}"));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let url = format!("tcp://127.0.0.1:{port}");
        let process: RoleProcess = Command::new(broker_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", &storage])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the broker")
            .into();
        eventually(Duration::from_secs(20), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await
        .expect("the broker listens");
        OwnBroker { process, brokers: format!("127.0.0.1:{port}"), dir, _database: database }
    }
}
