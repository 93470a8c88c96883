//! Rebuilds every read model from offset 0 in ONE transaction: readers keep
//! seeing the old tables until the rebuilt ones commit, and the live
//! projector waits on the same advisory lock, then carries on from the
//! offsets the replay stored.
use std::{
    collections::HashMap,
    io::Write,
    time::{Duration, Instant},
};

use ledger_kafka::{EventReader, KafkaConfig};
use ledger_store::Store;

const STALL_LIMIT: Duration = Duration::from_secs(120);

pub struct ReplayReport {
    pub records: u64,
    pub took: Duration,
}

impl ReplayReport {
    pub fn per_second(&self) -> f64 {
        self.records as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

pub async fn replay(store: &Store, cfg: &KafkaConfig, progress: bool) -> anyhow::Result<ReplayReport> {
    let started = Instant::now();
    let reader = EventReader::new(cfg, &HashMap::new())?;
    let highs = reader.high_watermarks().await?;
    let total: i64 = highs.values().sum();
    let mut projection = store.begin_projection(&cfg.events_topic).await?;
    projection.reset().await?;
    let mut pending: HashMap<i32, i64> = highs.iter().filter(|(_, h)| **h > 0).map(|(p, h)| (*p, *h)).collect();
    let mut records = 0u64;
    let mut last_progress = Instant::now();
    let mut batch = Vec::new();
    while !pending.is_empty() {
        if batch.is_empty() {
            batch = reader.next_batch(2000, Duration::from_secs(1)).await?;
            if batch.is_empty() {
                // Some brokers are slow to serve old data; give up only when
                // nothing has arrived for a long while.
                if last_progress.elapsed() > STALL_LIMIT {
                    anyhow::bail!("no events for {STALL_LIMIT:?} short of the high watermarks: {pending:?}");
                }
            }
            continue;
        }
        last_progress = Instant::now();
        // The next batch is read (and decoded) while this one is written.
        let apply = async {
            for read in &batch {
                let Some(high) = pending.get(&read.partition).copied() else { continue };
                if read.offset >= high {
                    continue;
                }
                projection.apply(read.partition, read.offset, read.record.as_ref().ok()).await?;
                records += 1;
                if read.offset + 1 >= high {
                    pending.remove(&read.partition);
                }
            }
            Ok::<_, ledger_store::Error>(())
        };
        let (applied, next) = tokio::join!(apply, reader.next_batch(2000, Duration::from_millis(20)));
        applied?;
        batch = next?;
        if progress {
            draw(records, total, started.elapsed());
        }
    }
    projection.commit().await?;
    if progress {
        draw(records, total, started.elapsed());
        eprintln!();
    }
    Ok(ReplayReport { records, took: started.elapsed() })
}

fn draw(done: u64, total: i64, took: Duration) {
    let total = total.max(1) as u64;
    let filled = (done * 30 / total).min(30) as usize;
    let rate = done as f64 / took.as_secs_f64().max(1e-9);
    eprint!("\r[{}{}] {done}/{total} events, {rate:.0} events/s", "#".repeat(filled), " ".repeat(30 - filled));
    let _ = std::io::stderr().flush();
}
