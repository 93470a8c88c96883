//! Exactly-once projection of the events topic. One `Projection` is one
//! PostgreSQL transaction holding both the read-model writes and the next
//! offset (and fencing epoch) of every partition it consumed, so a crash
//! anywhere replays exactly the records whose effects were rolled back.
//! Transaction-scoped advisory locks order the writers: a projection of one
//! partition holds that partition's lock (exclusive) and the projection lock
//! shared, so partitions project in parallel; a projection of the whole topic
//! (a replay) holds the projection lock exclusive and waits for them all.
mod flush;
mod invites;
mod pending;
mod roles;

use std::collections::{BTreeMap, HashMap};

use ledger_protocol::{Admit, Fence, LogRecord};
use sqlx::{PgPool, Postgres, Row, Transaction};

use self::pending::Pending;
use crate::error::{Result, to_i64, to_u64};

/// Held for the whole projection transaction; any constant works as long as
/// every projector and replay uses the same one.
const PROJECTION_LOCK: i64 = 0x636c_5f70_726f_6a65; // "cl_proje"
/// With the partition as the second key: one projection of a partition at a time.
const PARTITION_LOCK: i32 = 0x636c_7072; // "clpr"

/// Valid decisions buffered before they are written out mid-transaction.
const FLUSH_AT: usize = 1000;

/// How `Projection::apply` treated a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A decision of the partition's current writer: written to the read models.
    Valid,
    /// A decision of a fenced-off (or never valid) writer: ignored.
    Superseded,
    /// A writer claim; `won` when it moved the fence to `epoch`.
    Claim { epoch: u64, won: bool },
    /// An undecodable record: ignored, its offset passed.
    Skipped,
    /// A command passed on to the partition owning its tenant (decided and
    /// projected there): nothing to write.
    Forwarded,
    /// Below the partition's stored next offset: applied before, ignored.
    AlreadyApplied,
}

#[derive(Clone, Copy, Debug)]
struct Partition {
    next_offset: i64,
    fence: Fence,
    dirty: bool,
}

impl Partition {
    fn new() -> Self {
        Partition { next_offset: 0, fence: Fence::default(), dirty: false }
    }
}

/// A projection transaction; dropping it without `commit` rolls everything back.
pub struct Projection<'c> {
    tx: Transaction<'c, Postgres>,
    topic: String,
    partitions: BTreeMap<i32, Partition>,
    pending: Pending,
    /// The one partition this projection holds the lock of (`None`: all).
    only: Option<i32>,
}

impl<'c> Projection<'c> {
    /// Begins the transaction, waits for the locks of `partition` (every
    /// partition when `None`) and loads the topic's positions.
    pub(crate) async fn begin(pool: &PgPool, topic: &str, partition: Option<i32>) -> Result<Projection<'c>> {
        let mut tx = pool.begin().await?;
        // `synchronous_commit = off` for this transaction only (in the same
        // statement as the locks, so no extra round trip): the commit does not
        // wait for the WAL flush. Safe for exactly-once: the offsets commit in
        // the same transaction, so a commit lost in a PostgreSQL crash (the
        // last few hundred milliseconds) is lost with its offsets and projected
        // again from the log. What it costs: after such a crash, a contact the
        // API already answered 201 for may be missing for as long as the
        // projector takes to project it again.
        match partition {
            None => {
                sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock($1)")
                    .bind(PROJECTION_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(p) => {
                sqlx::query(
                    "SELECT set_config('synchronous_commit', 'off', true), \
                     pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2, $3)",
                )
                .bind(PROJECTION_LOCK)
                .bind(PARTITION_LOCK)
                .bind(p)
                .execute(&mut *tx)
                .await?;
            }
        }
        let rows = sqlx::query("SELECT partition, next_offset, epoch FROM projector_positions WHERE topic = $1")
            .bind(topic)
            .fetch_all(&mut *tx)
            .await?;
        let mut partitions = BTreeMap::new();
        for row in rows {
            let epoch = to_u64("projector_positions", row.try_get("epoch")?)?;
            partitions.insert(
                row.try_get("partition")?,
                Partition { next_offset: row.try_get("next_offset")?, fence: Fence::at(epoch), dirty: false },
            );
        }
        Ok(Projection { tx, topic: topic.to_owned(), partitions, pending: Pending::default(), only: partition })
    }

    /// The next offset to consume per partition (a partition not listed starts at 0).
    pub fn positions(&self) -> HashMap<i32, i64> {
        self.partitions.iter().map(|(p, s)| (*p, s.next_offset)).collect()
    }

    /// For a replay: forgets every read-model row and this topic's positions,
    /// inside the transaction (readers keep seeing the old rows until commit).
    /// The API's idempotency keys and submitted commands are not read models
    /// and stay, and so do the mailer's tokens and positions: they record side
    /// effects (mails sent) that a rebuild must never repeat.
    pub async fn reset(&mut self) -> Result<()> {
        self.pending = Pending::default();
        self.partitions.clear();
        for table in [
            "contact_invites",
            "contact_roles",
            "access_roles",
            "contact_events",
            "contacts",
            "command_outcomes",
            "tenant_api_keys",
            "tenants",
        ] {
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *self.tx).await?;
        }
        sqlx::query("DELETE FROM projector_positions WHERE topic = $1")
            .bind(&self.topic)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Applies the record at `offset` of `partition`; `None` stands for a
    /// record that could not be decoded. Every record not seen before moves
    /// the partition's next offset past it.
    pub async fn apply(&mut self, partition: i32, offset: i64, record: Option<&LogRecord>) -> Result<Applied> {
        if let Some(locked) = self.only
            && locked != partition
        {
            return Err(crate::Error::WrongPartition { locked, given: partition });
        }
        let state = self.partitions.entry(partition).or_insert_with(Partition::new);
        if offset < state.next_offset {
            return Ok(Applied::AlreadyApplied);
        }
        state.next_offset = offset + 1;
        state.dirty = true;
        let Some(record) = record else {
            tracing::warn!(topic = %self.topic, partition, offset, "skipping an undecodable record");
            return Ok(Applied::Skipped);
        };
        let applied = match (state.fence.admit(record), record) {
            (Admit::NewClaim(epoch), _) => Applied::Claim { epoch, won: true },
            (Admit::StaleClaim, LogRecord::Claim(c)) => Applied::Claim { epoch: c.epoch, won: false },
            (Admit::Valid, LogRecord::Decision(d)) => {
                self.pending.add(d)?;
                Applied::Valid
            }
            (Admit::Valid, LogRecord::Forward(_)) => Applied::Forwarded,
            (Admit::StaleClaim | Admit::Valid | Admit::Superseded, _) => {
                tracing::debug!(topic = %self.topic, partition, offset, "ignoring a superseded writer's record");
                Applied::Superseded
            }
        };
        if self.pending.len() >= FLUSH_AT {
            flush::flush(&mut self.tx, &mut self.pending).await?;
        }
        Ok(applied)
    }

    /// Writes what is pending and the positions, then commits; the
    /// `command_decided` notifications go out with the commit.
    pub async fn commit(mut self) -> Result<()> {
        flush::flush(&mut self.tx, &mut self.pending).await?;
        let (mut partitions, mut offsets, mut epochs) = (vec![], vec![], vec![]);
        for (partition, state) in self.partitions.iter().filter(|(_, s)| s.dirty) {
            partitions.push(*partition);
            offsets.push(state.next_offset);
            epochs.push(to_i64(state.fence.epoch())?);
        }
        save_positions(&mut self.tx, Positions::Projector, &self.topic, partitions, offsets, epochs).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// The two readers of the events topic that keep their own offsets.
#[derive(Clone, Copy)]
pub(crate) enum Positions {
    Projector,
    Mailer,
}

/// Stores next offsets and fence epochs per partition (one statement).
pub(crate) async fn save_positions(
    conn: &mut sqlx::PgConnection,
    table: Positions,
    topic: &str,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
    epochs: Vec<i64>,
) -> Result<()> {
    if partitions.is_empty() {
        return Ok(());
    }
    let table = match table {
        Positions::Projector => "projector_positions",
        Positions::Mailer => "mailer_positions",
    };
    sqlx::query(&format!(
        "INSERT INTO {table} (topic, partition, next_offset, epoch) \
         SELECT $1, * FROM UNNEST($2::int4[], $3::int8[], $4::int8[]) \
         ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, epoch = EXCLUDED.epoch"
    ))
    .bind(topic)
    .bind(partitions)
    .bind(offsets)
    .bind(epochs)
    .execute(conn)
    .await?;
    Ok(())
}

/// The raw limit of the projector's writes, for the benchmark: `decisions`
/// written with the projector's own statements (`flush`), its batch size
/// (`FLUSH_AT` per transaction) and its commit setting, into copies of the
/// read-model tables with all their indexes (`LIKE ... INCLUDING ALL`, in a
/// scratch schema dropped afterwards), with nothing else around them: no
/// broker, no decoding, no fencing. Returns decisions per second.
pub(crate) async fn raw_write_rate(pool: &PgPool, decisions: &[ledger_protocol::Decision]) -> Result<f64> {
    const SCHEMA: &str = "bench_raw_projection";
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")).execute(&mut *conn).await?;
    sqlx::query(&format!("CREATE SCHEMA {SCHEMA}")).execute(&mut *conn).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut *conn)
    .await?;
    for t in &tables {
        sqlx::query(&format!("CREATE TABLE {SCHEMA}.\"{t}\" (LIKE public.\"{t}\" INCLUDING ALL)"))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(&format!("SET search_path = {SCHEMA}")).execute(&mut *conn).await?;
    let started = std::time::Instant::now();
    let measured = async {
        for chunk in decisions.chunks(FLUSH_AT) {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true)").execute(&mut *tx).await?;
            let mut pending = Pending::default();
            for d in chunk {
                pending.add(d)?;
            }
            flush::flush(&mut tx, &mut pending).await?;
            tx.commit().await?;
        }
        Ok::<_, crate::Error>(())
    }
    .await;
    let took = started.elapsed();
    sqlx::query("RESET search_path").execute(&mut *conn).await?;
    sqlx::query(&format!("DROP SCHEMA {SCHEMA} CASCADE")).execute(&mut *conn).await?;
    measured?;
    Ok(decisions.len() as f64 / took.as_secs_f64().max(1e-9))
}
