//! The command handler's snapshots and claim registry (`ledger_ports::Snapshots`).
use async_trait::async_trait;
use ledger_ports::{Snapshots, StoredSnapshot, Unavailable};

use crate::{
    Store,
    error::{Result, to_i64, to_u64},
};

/// Snapshots kept per partition (the newest; older ones are deleted).
const KEEP: i64 = 2;

/// Snapshot `s` is from a writer a registered claim of a higher epoch
/// superseded before the snapshot's offset.
const SUPERSEDED: &str = "EXISTS (SELECT 1 FROM handler_claims c WHERE c.topic = s.topic \
    AND c.partition = s.partition AND c.epoch > s.epoch AND c.claim_offset < s.next_offset)";

impl Store {
    /// A pooled connection that is closed instead of returned to the pool:
    /// a snapshot is one value of tens of MB, and a connection keeps its read
    /// and write buffers at the largest message it has carried, so every
    /// pooled connection that once read or wrote a snapshot would hold that
    /// much for good (measured at 1M contacts: ~110 bytes per contact in a
    /// handler that claimed from snapshots). Snapshots are rare (claims, and
    /// every few minutes per partition); a new connection is cheap beside them.
    async fn snapshot_connection(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        let mut conn = self.pool().acquire().await?;
        conn.close_on_drop();
        Ok(conn)
    }

    async fn newest(&self, topic: &str, partition: i32, end: i64) -> Result<Option<StoredSnapshot>> {
        let row: Option<(i64, i64, Vec<u8>)> = sqlx::query_as(&format!(
            "SELECT s.next_offset, s.epoch, s.state FROM handler_snapshots s \
             WHERE s.topic = $1 AND s.partition = $2 AND s.next_offset <= $3 \
             AND NOT {SUPERSEDED} ORDER BY s.next_offset DESC LIMIT 1"
        ))
        .bind(topic)
        .bind(partition)
        .bind(end)
        .fetch_optional(&mut *self.snapshot_connection().await?)
        .await?;
        row.map(|(next_offset, epoch, state)| {
            Ok(StoredSnapshot { next_offset, epoch: to_u64("handler_snapshots", epoch)?, state })
        })
        .transpose()
    }

    async fn register(&self, topic: &str, partition: i32, epoch: u64, offset: i64, writer: &str) -> Result<bool> {
        let epoch = to_i64(epoch)?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO handler_claims (topic, partition, epoch, claim_offset, writer_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(topic)
        .bind(partition)
        .bind(epoch)
        .bind(offset)
        .bind(writer)
        .execute(&mut *tx)
        .await?;
        let mine: Option<(i64, String)> = sqlx::query_as(
            "SELECT claim_offset, writer_id FROM handler_claims WHERE topic = $1 AND partition = $2 AND epoch = $3",
        )
        .bind(topic)
        .bind(partition)
        .bind(epoch)
        .fetch_optional(&mut *tx)
        .await?;
        let higher: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM handler_claims WHERE topic = $1 AND partition = $2 AND epoch > $3)",
        )
        .bind(topic)
        .bind(partition)
        .bind(epoch)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(!higher && mine.is_some_and(|(o, w)| o == offset && w == writer))
    }

    async fn save(&self, topic: &str, partition: i32, s: &StoredSnapshot, writer: &str) -> Result<bool> {
        let epoch = to_i64(s.epoch)?;
        let mut conn = self.snapshot_connection().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let stored = sqlx::query(
            "INSERT INTO handler_snapshots (topic, partition, next_offset, epoch, writer_id, state) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
               (SELECT 1 FROM handler_claims WHERE topic = $1 AND partition = $2 AND epoch > $4) \
             ON CONFLICT (topic, partition, next_offset) DO NOTHING",
        )
        .bind(topic)
        .bind(partition)
        .bind(s.next_offset)
        .bind(epoch)
        .bind(writer)
        .bind(&s.state)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        // Superseded snapshots go, and all but the newest few of the rest.
        sqlx::query(&format!(
            "DELETE FROM handler_snapshots s WHERE s.topic = $1 AND s.partition = $2 AND ({SUPERSEDED} \
             OR s.next_offset < (SELECT min(next_offset) FROM (SELECT k.next_offset FROM handler_snapshots k \
                 WHERE k.topic = $1 AND k.partition = $2 AND NOT EXISTS (SELECT 1 FROM handler_claims c \
                 WHERE c.topic = k.topic AND c.partition = k.partition AND c.epoch > k.epoch \
                 AND c.claim_offset < k.next_offset) ORDER BY k.next_offset DESC LIMIT $3) newest))"
        ))
        .bind(topic)
        .bind(partition)
        .bind(KEEP)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    }
}

#[async_trait]
impl Snapshots for Store {
    async fn newest_snapshot(
        &self,
        topic: &str,
        partition: i32,
        end: i64,
    ) -> Result<Option<StoredSnapshot>, Unavailable> {
        Ok(self.newest(topic, partition, end).await?)
    }

    async fn register_claim(
        &self,
        topic: &str,
        partition: i32,
        epoch: u64,
        offset: i64,
        writer: &str,
    ) -> Result<bool, Unavailable> {
        Ok(self.register(topic, partition, epoch, offset, writer).await?)
    }

    async fn save_snapshot(
        &self,
        topic: &str,
        partition: i32,
        snapshot: &StoredSnapshot,
        writer: &str,
    ) -> Result<bool, Unavailable> {
        Ok(self.save(topic, partition, snapshot, writer).await?)
    }
}
