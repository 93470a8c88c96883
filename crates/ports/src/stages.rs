//! Where a write's time goes, stage by stage, for this process: each adapter
//! records how long its part took (the API's database writes and broker
//! acknowledgement, the handler's fetch, decision and append, the
//! projector's fetch and commit). `/metrics` exposes them as one histogram,
//! and `contact-ledger bench` prints their means and percentiles over its
//! HTTP phase, so "what is not the broker's fetch waits" is a measured figure.
//!
//! Lock-free (atomics), process-wide, a fixed set of stages: cheap enough to
//! record on every command.
use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// API: the whole create/upsert/patch, request parsed to reply built.
    ApiWrite,
    /// API: argon2id hashing of a password (waiting for a hashing slot included).
    ApiHashPassword,
    /// API: the submitted-command row.
    ApiRecordSubmitted,
    /// API: producing the command until the broker acknowledges it.
    ApiProduce,
    /// API: from the broker's acknowledgement until the projected decision is seen.
    ApiWaitDecision,
    /// API: reading the contact back from the read model.
    ApiReadBack,
    /// Handler: the command record's timestamp until the handler has it
    /// (producer linger, broker append, fetch wait).
    HandlerFetch,
    /// Handler: deciding a batch of commands (per command).
    HandlerDecide,
    /// Handler: appending a batch's records until the broker acknowledges them.
    HandlerAppend,
    /// Projector: the decision record's timestamp until the projector has it.
    ProjectorFetch,
    /// Projector: applying and committing one batch (per batch).
    ProjectorCommit,
}

impl Stage {
    pub const ALL: [Stage; 11] = [
        Stage::ApiWrite,
        Stage::ApiHashPassword,
        Stage::ApiRecordSubmitted,
        Stage::ApiProduce,
        Stage::ApiWaitDecision,
        Stage::ApiReadBack,
        Stage::HandlerFetch,
        Stage::HandlerDecide,
        Stage::HandlerAppend,
        Stage::ProjectorFetch,
        Stage::ProjectorCommit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::ApiWrite => "api_write",
            Stage::ApiHashPassword => "api_hash_password",
            Stage::ApiRecordSubmitted => "api_record_submitted",
            Stage::ApiProduce => "api_produce",
            Stage::ApiWaitDecision => "api_wait_decision",
            Stage::ApiReadBack => "api_read_back",
            Stage::HandlerFetch => "handler_fetch",
            Stage::HandlerDecide => "handler_decide",
            Stage::HandlerAppend => "handler_append",
            Stage::ProjectorFetch => "projector_fetch",
            Stage::ProjectorCommit => "projector_commit",
        }
    }

    /// Whether the stage is a record's trip through the broker: from its
    /// timestamp (set by the producer) until a consumer has it.
    pub fn is_fetch(self) -> bool {
        matches!(self, Stage::HandlerFetch | Stage::ProjectorFetch)
    }
}

/// Bucket upper bounds: 50 µs growing by 1.25x up to ~30 s.
const BUCKETS: usize = 60;

fn bound_micros(i: usize) -> f64 {
    50.0 * 1.25f64.powi(i as i32)
}

struct Stat {
    count: AtomicU64,
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Stat {
    const fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; BUCKETS],
        }
    }
}

static STATS: [Stat; Stage::ALL.len()] = [const { Stat::new() }; Stage::ALL.len()];

fn index(stage: Stage) -> usize {
    Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0)
}

/// Records that `stage` took `elapsed` once.
pub fn record(stage: Stage, elapsed: Duration) {
    let stat = &STATS[index(stage)];
    let micros = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
    stat.count.fetch_add(1, Relaxed);
    stat.sum_micros.fetch_add(micros, Relaxed);
    let mut i = 0;
    while i < BUCKETS - 1 && micros as f64 > bound_micros(i) {
        i += 1;
    }
    stat.buckets[i].fetch_add(1, Relaxed);
}

/// Records its stage when dropped: the time since `new`.
pub struct Timed {
    stage: Stage,
    started: std::time::Instant,
}

impl Timed {
    pub fn new(stage: Stage) -> Self {
        Self { stage, started: std::time::Instant::now() }
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        record(self.stage, self.started.elapsed());
    }
}

/// Records a stage that ended now and started at `since_ms` (milliseconds
/// since the Unix epoch, as a Kafka record's timestamp), when known.
pub fn record_since_epoch_ms(stage: Stage, since_ms: Option<i64>) {
    let Some(since) = since_ms else { return };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    if now >= since {
        record(stage, Duration::from_millis((now - since) as u64));
    }
}

/// A copy of one stage's counters, to subtract and summarise.
#[derive(Clone, Debug)]
pub struct StageSnapshot {
    pub stage: Stage,
    pub count: u64,
    pub sum_micros: u64,
    pub buckets: Vec<u64>,
}

impl StageSnapshot {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &StageSnapshot) -> StageSnapshot {
        StageSnapshot {
            stage: self.stage,
            count: self.count.saturating_sub(earlier.count),
            sum_micros: self.sum_micros.saturating_sub(earlier.sum_micros),
            buckets: self.buckets.iter().zip(&earlier.buckets).map(|(a, b)| a.saturating_sub(*b)).collect(),
        }
    }

    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_micros as f64 / self.count as f64 / 1000.0 }
    }

    /// The bucket bound at quantile `q` (0..1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let want = (self.count as f64 * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return bound_micros(i) / 1000.0;
            }
        }
        0.0
    }
}

pub fn snapshot() -> Vec<StageSnapshot> {
    Stage::ALL
        .iter()
        .map(|s| {
            let stat = &STATS[index(*s)];
            StageSnapshot {
                stage: *s,
                count: stat.count.load(Relaxed),
                sum_micros: stat.sum_micros.load(Relaxed),
                buckets: stat.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            }
        })
        .collect()
}

/// The Prometheus text of every stage (histogram `ledger_stage_seconds`).
pub fn render(out: &mut String) {
    use std::fmt::Write;
    out.push_str("# HELP ledger_stage_seconds Time of each stage of the write path in this process.\n");
    out.push_str("# TYPE ledger_stage_seconds histogram\n");
    for s in snapshot() {
        let mut cumulative = 0;
        // Every fourth bound keeps the exposition short (15 buckets).
        for (i, n) in s.buckets.iter().enumerate() {
            cumulative += n;
            if i % 4 == 3 && i < BUCKETS - 1 {
                let le = bound_micros(i) / 1e6;
                let _ = writeln!(
                    out,
                    "ledger_stage_seconds_bucket{{stage=\"{}\",le=\"{le}\"}} {cumulative}",
                    s.stage.name()
                );
            }
        }
        let _ = writeln!(out, "ledger_stage_seconds_bucket{{stage=\"{}\",le=\"+Inf\"}} {}", s.stage.name(), s.count);
        let _ = writeln!(out, "ledger_stage_seconds_sum{{stage=\"{}\"}} {}", s.stage.name(), s.sum_micros as f64 / 1e6);
        let _ = writeln!(out, "ledger_stage_seconds_count{{stage=\"{}\"}} {}", s.stage.name(), s.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_stage_shows_in_its_mean_and_quantiles() {
        let before = snapshot();
        for ms in [1, 2, 3, 4, 100] {
            record(Stage::HandlerDecide, Duration::from_millis(ms));
        }
        let after = snapshot();
        let i = index(Stage::HandlerDecide);
        let d = after[i].since(&before[i]);
        assert_eq!(d.count, 5);
        assert!((d.mean_ms() - 22.0).abs() < 0.01, "{}", d.mean_ms());
        let p50 = d.quantile_ms(0.5);
        assert!((3.0..=3.8).contains(&p50), "p50 {p50}");
        let p99 = d.quantile_ms(0.99);
        assert!((100.0..=125.0).contains(&p99), "p99 {p99}");
        let mut text = String::new();
        render(&mut text);
        assert!(text.contains("ledger_stage_seconds_count{stage=\"handler_decide\"}"), "{text}");
    }
}
