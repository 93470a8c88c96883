//! Operations around the read models rather than on them: opening a store,
//! creating and dropping databases (tests and the benchmark use a fresh one),
//! and the raw batched-upsert rate the benchmark compares the projector with.
use std::time::Instant;

use crate::{Error, Result, Store, connect, migrate};

impl Store {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        Ok(Store::new(connect(url, max_connections).await?))
    }

    pub async fn migrate(&self) -> Result<()> {
        migrate(self.pool()).await
    }

    /// Deletes the idempotency keys (and the answers stored with them) made
    /// more than `older_than` ago; how many went.
    pub async fn prune_idempotency_keys(&self, older_than: std::time::Duration) -> Result<u64> {
        crate::idempotency::prune(self.pool(), older_than).await
    }

    pub async fn create_database(&self, name: &str) -> Result<()> {
        check_name(name)?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn drop_database(&self, name: &str) -> Result<()> {
        check_name(name)?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(self.pool()).await?;
        Ok(())
    }

    /// Decisions per second the projector's own writes reach with nothing
    /// around them: the same statements, tables, indexes, batch size and
    /// commit setting (see `projection::raw_write_rate`).
    pub async fn raw_projection_write_rate(&self, decisions: &[ledger_protocol::Decision]) -> Result<f64> {
        crate::projection::raw_write_rate(self.pool(), decisions).await
    }

    /// Rows per second of a plain batched upsert (500 rows per statement) of
    /// rows shaped like a contact, in a scratch table: the database's raw
    /// limit for the benchmark.
    pub async fn raw_upsert_rate(&self, rows: usize) -> Result<f64> {
        let pool = self.pool();
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS bench_raw_upsert (id text PRIMARY KEY, email text, name text, \
             tags text[], metadata jsonb, version bigint, updated_at timestamptz)",
        )
        .execute(pool)
        .await?;
        let started = Instant::now();
        for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
            let ids: Vec<String> = chunk.iter().map(|i| format!("contact_{i:026}")).collect();
            let emails: Vec<String> = chunk.iter().map(|i| format!("bench{i}@example.com")).collect();
            let names: Vec<String> = chunk.iter().map(|i| format!("Bench {i}")).collect();
            let meta: Vec<serde_json::Value> = chunk.iter().map(|i| serde_json::json!({ "i": i })).collect();
            sqlx::query(
                "INSERT INTO bench_raw_upsert (id, email, name, tags, metadata, version, updated_at) \
                 SELECT id, email, name, ARRAY['bench'], metadata, 1, now() \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS t(id, email, name, metadata) \
                 ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, \
                 metadata = EXCLUDED.metadata, version = bench_raw_upsert.version + 1, updated_at = now()",
            )
            .bind(&ids)
            .bind(&emails)
            .bind(&names)
            .bind(&meta)
            .execute(pool)
            .await?;
        }
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-9);
        sqlx::query("DROP TABLE bench_raw_upsert").execute(pool).await?;
        Ok(rate)
    }
}

fn check_name(name: &str) -> Result<()> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Ok(())
    } else {
        Err(Error::Corrupt { table: "pg_database", reason: format!("refusing database name {name:?}") })
    }
}
