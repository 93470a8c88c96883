//! The command handler: one writer per partition. It claims the events
//! partition with a higher epoch, rebuilds its state by reading the partition
//! up to its own claim, then decides commands from the matching commands
//! partition, appending one record per decided command. Correctness rests on
//! per-partition order only: no Kafka transactions.
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use futures::{FutureExt, future::join_all};
use ledger_ports::stages::{self, Stage};
use ledger_ports::{Snapshots, StoredSnapshot};
use ledger_protocol::{
    Admit, Claim, CommandEnvelope, CommandPosition, Forward, LogRecord, PartitionState, Step, header,
};
use rdkafka::{
    Message, Offset,
    message::{Header, Headers, OwnedHeaders, OwnedMessage},
    producer::FutureRecord,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::{
    KafkaError,
    codec::{decode_record, encoded_headers, headers_of},
    config::KafkaConfig,
    dlq::{dead_letter, send},
    producer::{DeliveryFuture, Producer},
    shared::{PartitionQueue, SharedConsumer},
    status::{HandlerStatus, Phase, Rebuild},
};

#[derive(Clone, Debug)]
pub struct HandlerConfig {
    pub invite_ttl: chrono::Duration,
    /// How far back in `issued_at` a retried command id is recognised; an
    /// older one is refused (`command_too_old`), never decided twice.
    pub dedup_window: chrono::Duration,
    /// Commands decided before their records are awaited together.
    pub batch_max: usize,
    pub writer_id: String,
    /// A snapshot is stored after this many appended records, or after
    /// `snapshot_interval` with anything appended (when snapshots are on).
    pub snapshot_every: u64,
    pub snapshot_interval: Duration,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self {
            invite_ttl: chrono::Duration::days(7),
            dedup_window: ledger_protocol::DEDUP_WINDOW_DEFAULT,
            batch_max: 500,
            writer_id: ulid::Ulid::new().to_string(),
            snapshot_every: 10_000,
            snapshot_interval: Duration::from_secs(300),
        }
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
    producer: Producer,
    status: Arc<HandlerStatus>,
    pause: Option<watch::Receiver<bool>>,
    consumers: std::sync::Mutex<Option<Arc<Consumers>>>,
    snapshots: Option<Arc<dyn Snapshots>>,
}

/// How often a writer looks for a successor's claim (see `run_partition`).
const CLAIM_CHECK: std::time::Duration = std::time::Duration::from_secs(5);
/// How long one look may fetch before it gives up until the next.
const WATCH_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a rebuild may wait for the next record before giving up (some
/// brokers take seconds to serve the first fetch of old data).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl Handler {
    pub fn new(cfg: KafkaConfig, hc: HandlerConfig) -> Result<Self, KafkaError> {
        let producer = cfg.shared_producer()?;
        Ok(Self {
            cfg,
            hc,
            producer,
            status: Arc::default(),
            pause: None,
            consumers: Default::default(),
            snapshots: None,
        })
    }

    pub fn status(&self) -> Arc<HandlerStatus> {
        self.status.clone()
    }

    /// Claims start from the newest usable snapshot in `snapshots` and fold
    /// only the records after it; the writer stores new ones as it goes.
    pub fn with_snapshots(mut self, snapshots: Arc<dyn Snapshots>) -> Self {
        self.snapshots = Some(snapshots);
        self
    }

    /// While the gate reads `true`, decided records are held back before they
    /// are appended: an operator's pause, and how tests make a zombie writer.
    pub fn with_pause_gate(mut self, gate: watch::Receiver<bool>) -> Self {
        self.pause = Some(gate);
        self
    }

    /// Runs the given partitions, each on its own task, until shutdown (see
    /// `serve`).
    pub async fn run(self: Arc<Self>, partitions: Vec<i32>, shutdown: watch::Receiver<bool>) {
        let tasks: Vec<_> = partitions
            .into_iter()
            .map(|p| tokio::spawn(self.clone().serve(p, shutdown.clone(), Arc::default())))
            .collect();
        join_all(tasks).await;
    }

    /// Runs one partition until `stop` reads `true` or a later claim takes
    /// it; a failed partition is re-claimed and rebuilt after a short pause.
    /// `working` is set while the partition is writing. Every partition this
    /// handler runs shares its two consumers.
    pub async fn serve(
        self: Arc<Self>,
        p: i32,
        mut stop: watch::Receiver<bool>,
        working: Arc<AtomicBool>,
    ) -> PartitionEnd {
        self.status.mark_started();
        let consumers = match self.consumers() {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "could not create the handler's consumers");
                self.status.set(p, Phase::Failed);
                return PartitionEnd::Shutdown;
            }
        };
        loop {
            let end = self.run_partition(p, &consumers, &mut stop, &working).await;
            working.store(false, Ordering::Relaxed);
            let _ = consumers.commands.close(p);
            let _ = consumers.events.close(p);
            match end {
                Ok(PartitionEnd::Shutdown) => {
                    self.status.remove(p);
                    return PartitionEnd::Shutdown;
                }
                Ok(PartitionEnd::Superseded) => {
                    warn!(partition = p, "a later writer claimed the partition; this writer stops");
                    self.status.set(p, Phase::Superseded);
                    return PartitionEnd::Superseded;
                }
                Err(e) => {
                    warn!(partition = p, error = %e, "partition failed; re-claiming");
                    self.status.set(p, Phase::Failed);
                    if *stop.borrow() {
                        return PartitionEnd::Shutdown;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// The two consumers every partition of this handler shares, made on first use.
    fn consumers(&self) -> Result<Arc<Consumers>, KafkaError> {
        let mut slot = self.consumers.lock().map_err(|_| KafkaError::Topic("consumer lock poisoned".into()))?;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(Consumers::new(&self.cfg)?);
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn run_partition(
        &self,
        p: i32,
        consumers: &Consumers,
        shutdown: &mut watch::Receiver<bool>,
        working: &AtomicBool,
    ) -> Result<PartitionEnd, KafkaError> {
        self.status.set(p, Phase::Rebuilding);
        let Claimed { mut state, offset: claimed_at, events, snapshots } = self.claim(p, &consumers.events).await?;
        let mut snapshot = SnapshotClock { since: 0, at: Instant::now(), last_appended: claimed_at };
        let commands = consumers.commands.open(p, Offset::Offset(state.next_command_offset()))?;
        self.status.set(p, Phase::Writing);
        working.store(true, Ordering::Relaxed);
        info!(partition = p, epoch = state.current_epoch(), resume = state.next_command_offset(), "writing");
        // After the claim the events partition only tells of a successor's
        // claim, which nothing needs at once (readers fence a superseded
        // writer's records whenever it notices). So it is not fetched all the
        // time: every CLAIM_CHECK the writer asks for its end, and only when
        // records were appended past what it read does it fetch up to there.
        consumers.events.pause(p)?;
        let mut check = tokio::time::interval(CLAIM_CHECK);
        let mut seen = claimed_at;
        // While fetching: read up to this offset, give up (till the next check) at that time.
        let mut watching: Option<(i64, tokio::time::Instant)> = None;
        loop {
            if *shutdown.borrow() {
                return Ok(PartitionEnd::Shutdown);
            }
            let far = tokio::time::Instant::now() + CLAIM_CHECK;
            let batch = tokio::select! {
                b = next_batch(&commands, self.hc.batch_max) => b?,
                m = events.recv() => {
                    let m = m?;
                    seen = seen.max(m.offset());
                    notice_claim(&m, &mut state);
                    Vec::new()
                }
                _ = check.tick(), if watching.is_none() => {
                    // A broker that does not answer now is asked again at the next check.
                    // Briefly: the writer decides nothing while it waits here.
                    let asked = high_watermark(&self.producer, &self.cfg.events_topic, p, Duration::from_secs(2)).await;
                    if let Err(e) = &asked {
                        debug!(partition = p, error = %e, "could not ask for the events partition's end");
                    }
                    if let Ok(high) = asked
                        && high > seen + 1
                    {
                        consumers.events.resume(p)?;
                        watching = Some((high - 1, tokio::time::Instant::now() + WATCH_LIMIT));
                    }
                    Vec::new()
                }
                _ = tokio::time::sleep_until(watching.map_or(far, |w| w.1)), if watching.is_some() => {
                    consumers.events.pause(p)?;
                    watching = None;
                    Vec::new()
                }
                _ = shutdown.changed() => return Ok(PartitionEnd::Shutdown),
            };
            seen = seen.max(watch_claims(&events, &mut state)?);
            if watching.is_some_and(|(upto, _)| seen >= upto) {
                consumers.events.pause(p)?;
                watching = None;
            }
            if state.superseded() {
                return Ok(PartitionEnd::Superseded);
            }
            if batch.is_empty() {
                continue;
            }
            for m in &batch {
                stages::record_since_epoch_ms(Stage::HandlerFetch, m.timestamp().to_millis());
            }
            let deciding = Instant::now();
            let mut steps = Vec::with_capacity(batch.len());
            for m in &batch {
                let source = CommandPosition { topic: m.topic().to_owned(), partition: p, offset: m.offset() };
                match state.handle(CommandEnvelope::decode(m.payload().unwrap_or_default()), source, Utc::now()) {
                    Step::Append(d) => steps.push((m, Ok(LogRecord::Decision(*d)))),
                    Step::Forward(f) => steps.push((m, Ok(LogRecord::Forward(*f)))),
                    Step::Duplicate(id) => debug!(command_id = %id, "duplicate command; first outcome stands"),
                    Step::DeadLetter { reason } => steps.push((m, Err(reason))),
                }
            }
            let per_command = deciding.elapsed() / batch.len() as u32;
            for _ in &batch {
                stages::record(Stage::HandlerDecide, per_command);
            }
            self.wait_while_paused().await;
            // A forwarded command must be on its owner's partition before the
            // record that says so: a crash in between forwards it again, and
            // the owner drops the repeat by its command id.
            let mut forwards = Vec::new();
            for (m, step) in &steps {
                if let Ok(LogRecord::Forward(f)) = step {
                    debug!(partition = p, offset = m.offset(), to = f.to_partition, "command forwarded to its owner");
                    forwards.push(self.forward(m, f).await?);
                }
            }
            await_all(forwards).await?;
            let appending = Instant::now();
            let mut appends: Vec<DeliveryFuture> = Vec::with_capacity(steps.len());
            let mut dead: Vec<DeliveryFuture> = Vec::new();
            for (m, step) in steps {
                match step {
                    Ok(record) => appends.push(self.append(p, &record).await?),
                    Err(reason) => {
                        warn!(partition = p, offset = m.offset(), %reason, "command dead-lettered");
                        dead.push(dead_letter(&self.producer, &self.cfg.dead_letter_topic, m, &reason).await?);
                    }
                }
            }
            // If any append failed, the state is ahead of the log: drop it and
            // rebuild from the log (the caller re-claims).
            let appended = appends.len() as u64;
            let last = await_all(appends).await?;
            await_all(dead).await?;
            stages::record(Stage::HandlerAppend, appending.elapsed());
            if let Some(last) = last {
                snapshot.last_appended = snapshot.last_appended.max(last);
                snapshot.since += appended;
            }
            if let Some(store) = &snapshots
                && snapshot.due(&self.hc, state.records_applied)
            {
                // Only a state the log is known to agree with is stored: read
                // the partition up to our last record, looking for a successor's claim.
                consumers.events.resume(p)?;
                seen = seen.max(read_claims_until(&events, &mut state, snapshot.last_appended).await?);
                consumers.events.pause(p)?;
                watching = None;
                if state.superseded() {
                    return Ok(PartitionEnd::Superseded);
                }
                self.store_snapshot(p, &state, snapshot.last_appended + 1, store.clone());
                snapshot.since = 0;
                snapshot.at = Instant::now();
            }
        }
    }

    /// Serialises the state and stores it in the background (a failure only
    /// means the next claim folds more).
    fn store_snapshot(&self, p: i32, state: &PartitionState, next_offset: i64, store: Arc<dyn Snapshots>) {
        let started = Instant::now();
        let bytes = match state.snapshot() {
            Ok(b) => b,
            Err(e) => {
                warn!(partition = p, error = %e, "could not serialise a snapshot");
                return;
            }
        };
        let took = started.elapsed();
        let snap = StoredSnapshot { next_offset, epoch: state.current_epoch(), state: bytes };
        let (topic, writer) = (self.cfg.events_topic.clone(), self.hc.writer_id.clone());
        tokio::spawn(async move {
            match store.save_snapshot(&topic, p, &snap, &writer).await {
                Ok(true) => info!(
                    partition = p,
                    next_offset,
                    bytes = snap.state.len(),
                    serialise_ms = took.as_millis() as u64,
                    "snapshot stored"
                ),
                Ok(false) => warn!(partition = p, "a later claim is registered: snapshot not stored"),
                Err(e) => warn!(partition = p, error = %e, "could not store a snapshot"),
            }
        });
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

    async fn append(&self, p: i32, record: &LogRecord) -> Result<DeliveryFuture, KafkaError> {
        let e = record.encode()?;
        let r = FutureRecord::to(&self.cfg.events_topic)
            .partition(p)
            .key(e.key.as_bytes())
            .payload(e.value.as_slice())
            .headers(encoded_headers(&e));
        send(&self.producer, r).await
    }

    /// The command as it arrived (key, value, headers), on the owner's
    /// commands partition, with where it first arrived.
    async fn forward(&self, m: &OwnedMessage, f: &Forward) -> Result<DeliveryFuture, KafkaError> {
        let mut headers = OwnedHeaders::new();
        for (k, v) in headers_of(m) {
            headers = headers.insert(Header { key: &k, value: Some(v.as_slice()) });
        }
        for (k, v) in [
            (header::FORWARDED_FROM_TOPIC, m.topic().to_owned()),
            (header::FORWARDED_FROM_PARTITION, m.partition().to_string()),
            (header::FORWARDED_FROM_OFFSET, m.offset().to_string()),
        ] {
            headers = headers.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        let mut r = FutureRecord::to(&self.cfg.commands_topic)
            .partition(f.to_partition)
            .payload(m.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = m.key() {
            r = r.key(key);
        }
        send(&self.producer, r).await
    }

    /// Rebuilds the partition's state (from the newest usable snapshot, or
    /// from offset 0) and claims it. Returns the state, the offset of the
    /// winning claim (just after which `events` is positioned), and whether
    /// this writer stores snapshots.
    async fn claim(&self, p: i32, shared: &SharedConsumer) -> Result<Claimed, KafkaError> {
        let started = Instant::now();
        let topic = &self.cfg.events_topic;
        let fresh = || {
            PartitionState::new(self.hc.invite_ttl)
                .with_dedup_window(self.hc.dedup_window)
                .owning(p, self.cfg.partitions)
        };
        let mut state = fresh();
        let high = high_watermark(&self.producer, topic, p, Duration::from_secs(10)).await?;
        let (mut start, mut registry) = (0, self.snapshots.clone());
        if let Some(store) = &self.snapshots {
            match store.newest_snapshot(topic, p, high).await {
                Ok(Some(s)) => match state.restore(&s.state) {
                    Ok(()) if state.current_epoch() == s.epoch => start = s.next_offset,
                    Ok(()) => {
                        warn!(partition = p, "a snapshot disagrees with its own epoch; folding from offset 0");
                        state = fresh();
                    }
                    Err(e) => {
                        warn!(partition = p, error = %e, "ignoring a snapshot; folding from offset 0");
                        state = fresh();
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    // Without the registry no snapshot of this claim could be judged later.
                    warn!(partition = p, error = %e, "snapshots unavailable; folding from offset 0 and storing none");
                    registry = None;
                }
            }
        }
        let folded_before = state.records_applied;
        // An offset, never `Beginning`: librdkafka resolves a logical offset
        // with a query that, when it does not know the partition's leader yet
        // (a fresh consumer), it retries only after 500 ms. The events topic
        // keeps every record, so offset 0 is its beginning (were it ever
        // trimmed, `auto.offset.reset=earliest` moves a read of 0 there).
        let events = shared.open(p, Offset::Offset(start))?;
        if high > start {
            read_until(&events, &mut state, high - 1).await?;
        }
        for _ in 0..5 {
            let epoch = state.next_epoch();
            let claim = LogRecord::Claim(Claim { epoch, writer_id: self.hc.writer_id.clone(), claimed_at: Utc::now() });
            let offset = match self.append(p, &claim).await?.await {
                Ok(Ok(d)) => d.offset,
                Ok(Err((e, _))) => return Err(e.into()),
                Err(_) => return Err(KafkaError::Topic("claim delivery cancelled".into())),
            };
            if read_until(&events, &mut state, offset).await? == Some(Admit::NewClaim(epoch)) {
                let snapshots = match registry {
                    Some(store) => match store.register_claim(topic, p, epoch, offset, &self.hc.writer_id).await {
                        Ok(true) => Some(store),
                        Ok(false) => {
                            return Err(KafkaError::Topic(format!("a later claim of partition {p} is registered")));
                        }
                        Err(e) => {
                            warn!(partition = p, error = %e, "could not register the claim; storing no snapshots");
                            None
                        }
                    },
                    None => None,
                };
                state.become_writer(epoch);
                self.status.record_rebuild(Rebuild {
                    records: state.records_applied - folded_before,
                    took: started.elapsed(),
                    snapshot: (start > 0).then_some(start),
                });
                return Ok(Claimed { state, offset, events, snapshots });
            }
            warn!(partition = p, epoch, "claim lost to a concurrent writer; trying a higher epoch");
        }
        Err(KafkaError::Topic(format!("could not claim partition {p}")))
    }
}

struct Claimed {
    state: PartitionState,
    offset: i64,
    events: PartitionQueue,
    snapshots: Option<Arc<dyn Snapshots>>,
}

/// When the writer stores its next snapshot.
struct SnapshotClock {
    since: u64,
    at: Instant,
    last_appended: i64,
}

impl SnapshotClock {
    /// Every `snapshot_every` records, but no more often than every quarter
    /// of the partition's history: a snapshot costs the whole state, so this
    /// keeps its cost per record flat as the state grows, while a claim still
    /// folds at most a quarter of the history on top of one. Or after
    /// `snapshot_interval` with anything new.
    fn due(&self, hc: &HandlerConfig, folded: u64) -> bool {
        self.since >= hc.snapshot_every.max(1).max(folded / 4)
            || (self.since > 0 && self.at.elapsed() >= hc.snapshot_interval)
    }
}

/// The handler's two consumers, shared by every partition it runs.
struct Consumers {
    commands: SharedConsumer,
    events: SharedConsumer,
}

impl Consumers {
    fn new(cfg: &KafkaConfig) -> Result<Self, KafkaError> {
        Ok(Self {
            commands: SharedConsumer::new(cfg, "handler-commands", &cfg.commands_topic)?,
            events: SharedConsumer::new(cfg, "handler-events", &cfg.events_topic)?,
        })
    }
}

/// Waits for every delivery; returns the highest offset written.
async fn await_all(deliveries: Vec<DeliveryFuture>) -> Result<Option<i64>, KafkaError> {
    let mut last = None;
    for d in join_all(deliveries).await {
        match d {
            Ok(Ok(delivery)) => last = last.max(Some(delivery.offset)),
            Ok(Err((e, _))) => return Err(e.into()),
            Err(_) => return Err(KafkaError::Topic("delivery cancelled".into())),
        }
    }
    Ok(last)
}

/// Reads up to and including `target`, noticing claims only; returns the
/// highest offset read.
async fn read_claims_until(
    events: &PartitionQueue,
    state: &mut PartitionState,
    target: i64,
) -> Result<i64, KafkaError> {
    let mut seen = -1;
    while seen < target {
        let m = match tokio::time::timeout(READ_TIMEOUT, events.recv()).await {
            Ok(m) => m?,
            Err(_) => {
                return Err(KafkaError::Topic(format!("no record up to offset {target} within {READ_TIMEOUT:?}")));
            }
        };
        seen = m.offset();
        notice_claim(&m, state);
    }
    Ok(seen)
}

/// Applies records up to and including `target`; returns how the fence
/// judged the record at `target`.
async fn read_until(
    events: &PartitionQueue,
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

/// A record read after our claim: only a claim (told by its header, without
/// decoding the rest) can matter, as a successor's.
fn notice_claim<M: Message>(m: &M, state: &mut PartitionState) {
    let is_claim = m
        .headers()
        .and_then(|h| h.iter().find(|x| x.key == header::RECORD).and_then(|x| x.value))
        .is_some_and(|v| v == b"claim");
    if is_claim && let Ok(record @ LogRecord::Claim(_)) = decode_record(m) {
        state.apply(&record);
    }
}

/// Notices claims appended after ours (by a successor) without blocking;
/// returns the highest offset read (-1: none).
fn watch_claims(events: &PartitionQueue, state: &mut PartitionState) -> Result<i64, KafkaError> {
    let mut seen = -1;
    while let Some(m) = events.recv().now_or_never() {
        let m = m?;
        seen = seen.max(m.offset());
        notice_claim(&m, state);
    }
    Ok(seen)
}

/// The next offset to be written to the partition: a blocking metadata
/// call, run off the async threads. Asked through the producer's client: a
/// broker answers a connection's requests in order, so on a consumer's
/// connection the question would wait behind a fetch the broker holds for up
/// to `fetch.wait.max.ms`.
async fn high_watermark(producer: &Producer, topic: &str, p: i32, timeout: Duration) -> Result<i64, KafkaError> {
    let (producer, topic) = (producer.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || producer.client().fetch_watermarks(&topic, p, timeout).map(|(_, high)| high))
        .await
        .map_err(|e| KafkaError::Topic(format!("watermark lookup failed: {e}")))?
        .map_err(KafkaError::from)
}

async fn next_batch(commands: &PartitionQueue, max: usize) -> Result<Vec<OwnedMessage>, KafkaError> {
    let mut batch = vec![commands.recv().await?.detach()];
    while batch.len() < max {
        match commands.recv().now_or_never() {
            Some(m) => batch.push(m?.detach()),
            None => break,
        }
    }
    Ok(batch)
}
