//! The command handler: one writer per partition. It claims the events
//! partition with a higher epoch, rebuilds its state by reading the partition
//! up to its own claim, then decides commands from the matching commands
//! partition, appending one record per decided command. Correctness rests on
//! per-partition order only: no Kafka transactions.
use std::{sync::Arc, time::Instant};

use chrono::Utc;
use futures::{FutureExt, future::join_all};
use ledger_protocol::{Admit, Claim, CommandEnvelope, CommandPosition, LogRecord, PartitionState, Step};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::OwnedMessage,
    producer::{DeliveryFuture, FutureProducer, FutureRecord},
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::{
    KafkaError,
    codec::{decode_record, encoded_headers},
    config::KafkaConfig,
    dlq::{dead_letter, send},
    status::{HandlerStatus, Phase, Rebuild},
};

#[derive(Clone, Debug)]
pub struct HandlerConfig {
    pub invite_ttl: chrono::Duration,
    /// Commands decided before their records are awaited together.
    pub batch_max: usize,
    pub writer_id: String,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self { invite_ttl: chrono::Duration::days(7), batch_max: 500, writer_id: ulid::Ulid::new().to_string() }
    }
}

/// Why a partition loop ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub enum PartitionEnd {
    /// A later claim took the partition: this writer stops.
    Superseded,
    Shutdown,
}

pub struct Handler {
    cfg: KafkaConfig,
    hc: HandlerConfig,
    producer: FutureProducer,
    status: Arc<HandlerStatus>,
    pause: Option<watch::Receiver<bool>>,
}

const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
/// How long a rebuild may wait for the next record before giving up (some
/// brokers take seconds to serve the first fetch of old data).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Handler {
    pub fn new(cfg: KafkaConfig, hc: HandlerConfig) -> Result<Self, KafkaError> {
        let producer = cfg.producer().create()?;
        Ok(Self { cfg, hc, producer, status: Arc::default(), pause: None })
    }

    pub fn status(&self) -> Arc<HandlerStatus> {
        self.status.clone()
    }

    /// While the gate reads `true`, decided records are held back before they
    /// are appended: an operator's pause, and how tests make a zombie writer.
    pub fn with_pause_gate(mut self, gate: watch::Receiver<bool>) -> Self {
        self.pause = Some(gate);
        self
    }

    /// Runs the given partitions until shutdown; a failed partition is
    /// re-claimed and rebuilt after a short pause, a superseded one stops.
    pub async fn run(self: Arc<Self>, partitions: Vec<i32>, shutdown: watch::Receiver<bool>) {
        self.status.mark_started();
        let tasks = partitions.into_iter().map(|p| {
            let me = self.clone();
            let mut shutdown = shutdown.clone();
            async move {
                loop {
                    match me.run_partition(p, &mut shutdown).await {
                        Ok(PartitionEnd::Shutdown) => return,
                        Ok(PartitionEnd::Superseded) => {
                            warn!(partition = p, "a later writer claimed the partition; this writer stops");
                            me.status.set(p, Phase::Superseded);
                            return;
                        }
                        Err(e) => {
                            warn!(partition = p, error = %e, "partition failed; re-claiming");
                            me.status.set(p, Phase::Failed);
                            if *shutdown.borrow() {
                                return;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        }
                    }
                }
            }
        });
        join_all(tasks).await;
    }

    pub async fn run_partition(
        &self,
        p: i32,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<PartitionEnd, KafkaError> {
        self.status.set(p, Phase::Rebuilding);
        let (mut state, events) = self.claim(p).await?;
        let commands = self.assign(&self.cfg.commands_topic, p, Offset::Offset(state.next_command_offset()))?;
        self.status.set(p, Phase::Writing);
        info!(partition = p, epoch = state.current_epoch(), resume = state.next_command_offset(), "writing");
        loop {
            if *shutdown.borrow() {
                return Ok(PartitionEnd::Shutdown);
            }
            let batch = tokio::select! {
                b = next_batch(&commands, self.hc.batch_max) => b?,
                _ = shutdown.changed() => return Ok(PartitionEnd::Shutdown),
            };
            watch_claims(&events, &mut state)?;
            if state.superseded() {
                return Ok(PartitionEnd::Superseded);
            }
            if batch.is_empty() {
                continue;
            }
            let mut decided = Vec::with_capacity(batch.len());
            for m in &batch {
                let source = CommandPosition { topic: m.topic().to_owned(), partition: p, offset: m.offset() };
                match state.handle(CommandEnvelope::decode(m.payload().unwrap_or_default()), source) {
                    Step::Append(d) => decided.push(Ok(LogRecord::Decision(*d))),
                    Step::Duplicate(id) => debug!(command_id = %id, "duplicate command; first outcome stands"),
                    Step::DeadLetter { reason } => decided.push(Err((m, reason))),
                }
            }
            self.wait_while_paused().await;
            let mut deliveries: Vec<DeliveryFuture> = Vec::with_capacity(decided.len());
            for item in decided {
                deliveries.push(match item {
                    Ok(record) => self.append(p, &record)?,
                    Err((m, reason)) => {
                        warn!(partition = p, offset = m.offset(), %reason, "command dead-lettered");
                        dead_letter(&self.producer, &self.cfg.dead_letter_topic, m, &reason)?
                    }
                });
            }
            // If any append failed, the state is ahead of the log: drop it and
            // rebuild from the log (the caller re-claims).
            for d in join_all(deliveries).await {
                match d {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => return Err(e.into()),
                    Err(_) => return Err(KafkaError::Topic("delivery cancelled".into())),
                }
            }
        }
    }

    async fn wait_while_paused(&self) {
        if let Some(gate) = &self.pause {
            let mut gate = gate.clone();
            while *gate.borrow_and_update() {
                if gate.changed().await.is_err() {
                    return;
                }
            }
        }
    }

    fn append(&self, p: i32, record: &LogRecord) -> Result<DeliveryFuture, KafkaError> {
        let e = record.encode();
        let r = FutureRecord::to(&self.cfg.events_topic)
            .partition(p)
            .key(e.key.as_bytes())
            .payload(e.value.as_slice())
            .headers(encoded_headers(&e));
        send(&self.producer, r)
    }

    fn assign(&self, topic: &str, p: i32, offset: Offset) -> Result<StreamConsumer, KafkaError> {
        let consumer: StreamConsumer = self.cfg.consumer("handler").create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, offset)?;
        consumer.assign(&tpl)?;
        Ok(consumer)
    }

    /// Rebuilds the partition's state and claims it; returns the state and a
    /// consumer positioned just after the winning claim (used to notice a
    /// later claim).
    async fn claim(&self, p: i32) -> Result<(PartitionState, StreamConsumer), KafkaError> {
        let started = Instant::now();
        let events = self.assign(&self.cfg.events_topic, p, Offset::Beginning)?;
        let mut state = PartitionState::new(self.hc.invite_ttl);
        let topic = self.cfg.events_topic.clone();
        // A short blocking metadata call, once per claim.
        let (_, high) = events.fetch_watermarks(&topic, p, std::time::Duration::from_secs(10))?;
        if high > 0 {
            read_until(&events, &mut state, high - 1).await?;
        }
        for _ in 0..5 {
            let epoch = state.next_epoch();
            let claim = LogRecord::Claim(Claim { epoch, writer_id: self.hc.writer_id.clone(), claimed_at: Utc::now() });
            let offset = match self.append(p, &claim)?.await {
                Ok(Ok(d)) => d.offset,
                Ok(Err((e, _))) => return Err(e.into()),
                Err(_) => return Err(KafkaError::Topic("claim delivery cancelled".into())),
            };
            if read_until(&events, &mut state, offset).await? == Some(Admit::NewClaim(epoch)) {
                state.become_writer(epoch);
                self.status.record_rebuild(Rebuild { records: state.records_applied, took: started.elapsed() });
                return Ok((state, events));
            }
            warn!(partition = p, epoch, "claim lost to a concurrent writer; trying a higher epoch");
        }
        Err(KafkaError::Topic(format!("could not claim partition {p}")))
    }
}

/// Applies records up to and including `target`; returns how the fence
/// judged the record at `target`.
async fn read_until(
    events: &StreamConsumer,
    state: &mut PartitionState,
    target: i64,
) -> Result<Option<Admit>, KafkaError> {
    loop {
        let m = match tokio::time::timeout(READ_TIMEOUT, events.recv()).await {
            Ok(m) => m?,
            Err(_) => {
                return Err(KafkaError::Topic(format!("no record up to offset {target} within {READ_TIMEOUT:?}")));
            }
        };
        let admit = match decode_record(&m) {
            Ok(record) => Some(state.apply(&record)),
            Err(e) => {
                // The projector dead-letters undecodable events; the handler
                // only needs to skip them.
                warn!(offset = m.offset(), error = %e, "skipping undecodable event");
                None
            }
        };
        if m.offset() >= target {
            return Ok(admit);
        }
    }
}

/// Notices claims appended after ours (by a successor) without blocking.
fn watch_claims(events: &StreamConsumer, state: &mut PartitionState) -> Result<(), KafkaError> {
    while let Some(m) = events.recv().now_or_never() {
        let m = m?;
        if let Ok(record @ LogRecord::Claim(_)) = decode_record(&m) {
            state.apply(&record);
        }
    }
    Ok(())
}

async fn next_batch(commands: &StreamConsumer, max: usize) -> Result<Vec<OwnedMessage>, KafkaError> {
    let mut batch = Vec::new();
    match tokio::time::timeout(IDLE_WAIT, commands.recv()).await {
        Ok(m) => batch.push(m?.detach()),
        Err(_) => return Ok(batch),
    }
    while batch.len() < max {
        match commands.recv().now_or_never() {
            Some(m) => batch.push(m?.detach()),
            None => break,
        }
    }
    Ok(batch)
}
