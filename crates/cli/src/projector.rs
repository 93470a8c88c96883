//! The projector: events topic -> PostgreSQL read models. Each batch is one
//! PostgreSQL transaction holding both the read-model writes and the next
//! offsets, so a crash anywhere replays nothing twice and loses nothing.
use std::time::Duration;

use ledger_kafka::{EventReader, KafkaConfig};
use ledger_store::Store;
use tokio::sync::watch;
use tracing::warn;

pub const BATCH_MAX: usize = 1000;

/// Projects one batch; returns how many records it consumed.
pub async fn process_next(reader: &EventReader, store: &Store, topic: &str) -> anyhow::Result<usize> {
    let batch = reader.next_batch(BATCH_MAX, Duration::from_millis(100)).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let mut projection = store.begin_projection(topic).await?;
    let mut dead = Vec::new();
    for read in &batch {
        match &read.record {
            Ok(record) => {
                projection.apply(read.partition, read.offset, Some(record)).await?;
            }
            Err(error) => {
                warn!(partition = read.partition, offset = read.offset, %error, "undecodable event dead-lettered");
                projection.apply(read.partition, read.offset, None).await?;
                dead.push(reader.dead_letter(read, error)?);
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

/// Runs until shutdown; after an error the reader restarts from the offsets
/// stored in PostgreSQL.
pub async fn run(store: Store, cfg: KafkaConfig, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if let Err(e) = run_once(&store, &cfg, &mut shutdown).await {
            warn!(error = %e, "projector failed; restarting from stored offsets");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn run_once(store: &Store, cfg: &KafkaConfig, shutdown: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
    let positions = store.begin_projection(&cfg.events_topic).await?.positions();
    let reader = EventReader::new(cfg, &positions)?;
    loop {
        tokio::select! {
            r = process_next(&reader, store, &cfg.events_topic) => { r?; }
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
    }
}
