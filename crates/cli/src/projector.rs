//! The projector: events topic -> PostgreSQL read models. Each batch is one
//! PostgreSQL transaction holding both the read-model writes and the next
//! offsets, so a crash anywhere replays nothing twice and loses nothing.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use ledger_kafka::{EventReader, KafkaConfig, shared::SharedConsumer};
use ledger_ports::stages::{self, Stage};
use ledger_store::Store;
use rdkafka::Message;
use tokio::sync::watch;
use tracing::{info, warn};

pub const BATCH_MAX: usize = 1000;

/// The reader is ahead of the offsets stored in PostgreSQL (a replay stored
/// lower ones, or a batch was lost): it must restart from the stored offsets.
#[derive(Debug, thiserror::Error)]
#[error("partition {partition}: record at offset {offset} but the next stored offset is {expected}")]
pub struct Gap {
    pub partition: i32,
    pub offset: i64,
    pub expected: i64,
}

/// Projects one batch; returns how many records it consumed. Offsets must
/// follow on from the stored ones: the events topic is neither compacted nor
/// transactional, so a jump means the reader and the database disagree, and
/// nothing is applied past it.
/// `reader` reads only `partition`.
pub async fn process_next(reader: &EventReader, store: &Store, topic: &str, partition: i32) -> anyhow::Result<usize> {
    let batch = reader.next_batch(BATCH_MAX, Duration::from_millis(100)).await?;
    project(&batch, reader, store, topic, partition).await
}

/// Projects one batch read from `reader` (which reads only `partition`) in
/// one transaction; returns how many records it consumed.
async fn project(
    batch: &[ledger_kafka::EventRead],
    reader: &EventReader,
    store: &Store,
    topic: &str,
    partition: i32,
) -> anyhow::Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    for read in batch {
        stages::record_since_epoch_ms(Stage::ProjectorFetch, read.message.timestamp().to_millis());
    }
    let _timed = stages::Timed::new(Stage::ProjectorCommit);
    let mut projection = store.begin_partition_projection(topic, partition).await?;
    let mut next = projection.positions();
    let mut dead = Vec::new();
    for read in batch {
        let expected = next.get(&read.partition).copied().unwrap_or(0);
        if read.offset < expected {
            continue; // already projected
        }
        if read.offset > expected {
            return Err(Gap { partition: read.partition, offset: read.offset, expected }.into());
        }
        next.insert(read.partition, read.offset + 1);
        match &read.record {
            Ok(record) => {
                projection.apply(read.partition, read.offset, Some(record)).await?;
            }
            Err(error) => {
                warn!(partition = read.partition, offset = read.offset, %error, "undecodable event dead-lettered");
                projection.apply(read.partition, read.offset, None).await?;
                dead.push(reader.dead_letter(read, error).await?);
            }
        }
    }
    // Dead letters are acknowledged before the offsets move past them.
    for d in dead {
        d.await.map_err(|_| anyhow::anyhow!("dead-letter delivery cancelled"))?.map_err(|(e, _)| e)?;
    }
    projection.commit().await?;
    Ok(batch.len())
}

/// Projects one partition until `stop` reads `true` (the pool runs one such
/// task per partition it holds); after an error the reader restarts from the
/// offsets stored in PostgreSQL. `working` is set while it reads.
pub async fn run_partition(
    store: Store,
    cfg: KafkaConfig,
    shared: Arc<SharedConsumer>,
    partition: i32,
    mut stop: watch::Receiver<bool>,
    working: Arc<AtomicBool>,
) {
    while !*stop.borrow() {
        let ran = run_once(&store, &cfg, (partition, &shared), &mut stop, &working).await;
        working.store(false, Ordering::Relaxed);
        if let Err(e) = ran {
            if e.is::<Gap>() {
                info!(partition, error = %e, "re-reading from the stored offsets");
                continue;
            }
            warn!(partition, error = %e, "projector failed; restarting from stored offsets");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Projects `partition`, read through `shared`, until shutdown or an error.
async fn run_once(
    store: &Store,
    cfg: &KafkaConfig,
    (partition, shared): (i32, &Arc<SharedConsumer>),
    shutdown: &mut watch::Receiver<bool>,
    working: &AtomicBool,
) -> anyhow::Result<()> {
    let topic = &cfg.events_topic;
    let positions = store.begin_partition_projection(topic, partition).await?.positions();
    let reader = EventReader::on_shared(cfg, shared.clone(), partition, positions.get(&partition).copied())?;
    working.store(true, Ordering::Relaxed);
    let mut checked = Instant::now();
    let wait = Duration::from_millis(100);
    let mut batch = Vec::new();
    loop {
        // The next batch is read (and decoded) while this one commits.
        let (projected, next) = tokio::select! {
            r = async { tokio::join!(project(&batch, &reader, store, topic, partition), reader.next_batch(BATCH_MAX, wait)) } => r,
            _ = shutdown.changed() => return Ok(()),
        };
        let projected = projected?;
        batch = next?;
        if *shutdown.borrow() {
            return Ok(());
        }
        // Only with nothing in hand: a prefetched batch puts the reader ahead
        // of the stored offsets, which the check would take for a gap.
        if projected == 0 && batch.is_empty() && checked.elapsed() > IDLE_CHECK {
            checked = Instant::now();
            check_in_step(&reader, store, topic, partition).await?;
        }
    }
}

const IDLE_CHECK: Duration = Duration::from_secs(1);

/// While idle, makes sure the reader is not past the stored offsets (a
/// replay may have stored lower ones than the end this reader reached).
async fn check_in_step(reader: &EventReader, store: &Store, topic: &str, partition: i32) -> anyhow::Result<()> {
    let stored = store.begin_partition_projection(topic, partition).await?.positions();
    for (partition, position) in reader.positions()? {
        let expected = stored.get(&partition).copied().unwrap_or(0);
        if position > expected {
            return Err(Gap { partition, offset: position, expected }.into());
        }
    }
    Ok(())
}
