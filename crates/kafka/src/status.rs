//! What the handler is doing per partition, for `/readyz` and the benchmark.
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Rebuilding,
    Writing,
    Superseded,
    Failed,
}

#[derive(Clone, Copy, Debug)]
pub struct Rebuild {
    /// Records folded by this claim (after the snapshot, when there was one).
    pub records: u64,
    pub took: Duration,
    /// The events offset of the snapshot the claim started from.
    pub snapshot: Option<i64>,
}

#[derive(Debug, Default)]
pub struct HandlerStatus {
    partitions: Mutex<HashMap<i32, Phase>>,
    rebuilds: Mutex<Vec<Rebuild>>,
    started: Mutex<Option<Instant>>,
}

impl HandlerStatus {
    pub fn set(&self, partition: i32, phase: Phase) {
        if let Ok(mut p) = self.partitions.lock() {
            p.insert(partition, phase);
        }
    }

    /// Forgets a partition this handler no longer runs.
    pub fn remove(&self, partition: i32) {
        if let Ok(mut p) = self.partitions.lock() {
            p.remove(&partition);
        }
    }

    pub fn phase(&self, partition: i32) -> Option<Phase> {
        self.partitions.lock().ok().and_then(|p| p.get(&partition).copied())
    }

    /// Ready when every partition it runs is writing.
    pub fn ready(&self) -> bool {
        self.partitions.lock().map(|p| !p.is_empty() && p.values().all(|ph| *ph == Phase::Writing)).unwrap_or(false)
    }

    /// How many partitions this handler is writing.
    pub fn writing(&self) -> usize {
        self.partitions.lock().map(|p| p.values().filter(|ph| **ph == Phase::Writing).count()).unwrap_or(0)
    }

    pub fn record_rebuild(&self, r: Rebuild) {
        if let Ok(mut v) = self.rebuilds.lock() {
            v.push(r);
        }
    }

    pub fn rebuilds(&self) -> Vec<Rebuild> {
        self.rebuilds.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn mark_started(&self) {
        if let Ok(mut s) = self.started.lock() {
            s.get_or_insert_with(Instant::now);
        }
    }
}
