//! A fresh database per test, dropped again when the test ends. Every tier
//! that needs PostgreSQL in its tests (this crate's adapter tests, the CLI's
//! mailer tests, the end-to-end tests) uses this one helper, so no test
//! leaves a database behind on the test server. Behind the `test-support`
//! feature: only tests enable it.
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:54339/postgres";

/// The test server's maintenance database: `CL_TEST_DATABASE_URL`, or the
/// server `scripts/services up test` starts.
pub fn admin_url() -> String {
    std::env::var("CL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` pointed at the database `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

/// A database created for one test. Dropping it drops the database
/// (`WITH (FORCE)`, so connections still open do not keep it), also when the
/// test panics. Keep it alive as long as anything (a pool, a child process)
/// uses `url()`. Dropping is best effort: a failure is ignored.
#[must_use = "the database is dropped as soon as this guard is"]
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates the empty database `name` (lowercase letters, digits and `_`;
    /// make it unique, e.g. with a ULID) on the server at `admin_url()`.
    pub async fn create(name: &str) -> TestDatabase {
        TestDatabase::create_at(&admin_url(), name).await
    }

    pub async fn create_at(admin_url: &str, name: &str) -> TestDatabase {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "test database name {name:?}: lowercase letters, digits and _ only"
        );
        let mut conn = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("the test PostgreSQL at {admin_url} answers (scripts/services up test): {e}"));
        conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str()).await.expect("create the test database");
        conn.close().await.ok();
        TestDatabase { name: name.to_owned(), url: with_database(admin_url, name), admin_url: admin_url.to_owned() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of this database, for a pool or a child process.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // On a thread and a runtime of its own: the test's runtime may be
        // gone (or be a current-thread one that cannot block on this).
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                let drop_it = async {
                    let mut conn = PgConnection::connect(&admin).await.ok()?;
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    conn.execute(sql.as_str()).await.ok()?;
                    conn.close().await.ok()
                };
                let _ = tokio::time::timeout(Duration::from_secs(30), drop_it).await;
            });
        });
        let _ = dropper.join();
    }
}

/// A profile column of `contacts` as the store writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileColumnInfo {
    pub name: &'static str,
    /// Its type in the table (`text`, `jsonb`, `text[]`).
    pub column_type: &'static str,
    /// A `Profile` field of the same name (else derived from the profile
    /// and never read back).
    pub is_field: bool,
}

/// The store's profile columns, in bind order, to check against the
/// migrated table and the domain's `Profile`.
pub fn profile_columns() -> Vec<ProfileColumnInfo> {
    crate::profile_columns::PROFILE_COLUMNS
        .iter()
        .map(|c| ProfileColumnInfo { name: c.name, column_type: c.kind.column_type(), is_field: c.is_field() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_replaces_the_path_and_keeps_the_query() {
        assert_eq!(with_database("postgres://u@h:1/postgres", "x"), "postgres://u@h:1/x");
        assert_eq!(
            with_database("postgres://u@h:1/postgres?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }
}
