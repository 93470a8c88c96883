//! Runs a role's share of the partitions: the processes of one role form a
//! pool through PostgreSQL lease rows (`ledger_store::leases`), and each
//! partition this process holds runs on its own task. On every tick the pool
//! renews its leases, starts tasks for partitions it took, stops tasks for
//! partitions it lost or must give back (and then gives them back). A task
//! whose lease could not be renewed in time is stopped too.
//!
//! Why leases and not a Kafka consumer group: docs/ARCHITECTURE.md, "Who
//! runs which partition".
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use ledger_store::Store;
use tokio::{sync::watch, task::JoinHandle, time::Instant};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// `handler`, `projector` or `mailer`.
    pub role: &'static str,
    /// Unique among the live processes of the role; a process restarted
    /// with the same id takes its leases back at once.
    pub member: String,
    pub partitions: i32,
    /// A lease not renewed for this long is free for the others.
    pub ttl: Duration,
    pub tick: Duration,
}

/// Starts the work on one partition: it runs until its stop signal reads
/// `true`, and sets its flag while it is past start-up (what `/readyz` reports).
pub type Work = Arc<dyn Fn(i32, watch::Receiver<bool>, Arc<AtomicBool>) -> BoxFuture<'static, ()> + Send + Sync>;

struct Task {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
    working: Arc<AtomicBool>,
    /// Past this the lease may be someone else's: the task is stopped.
    valid_until: Instant,
}

impl Task {
    async fn stop(self, partition: i32, role: &str) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(10), self.handle).await.is_err() {
            warn!(role, partition, "a partition task did not stop within 10 s");
        }
    }
}

/// Runs the pool until shutdown, then stops every task and leaves the pool,
/// so the others take its partitions on their next tick.
pub async fn run(store: Store, cfg: PoolConfig, work: Work, mut shutdown: watch::Receiver<bool>) {
    let role = cfg.role;
    let mut tasks: BTreeMap<i32, Task> = BTreeMap::new();
    let mut tick = tokio::time::interval(cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A task that starts or stops working is told to the table at once, not
    // at the next tick, so readiness follows within this.
    let mut look = tokio::time::interval(WORKING_LOOK);
    let mut told: Vec<i32> = Vec::new();
    let mut trimmed = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {}
            _ = look.tick() => {
                let now: Vec<i32> = working_now(&tasks);
                if now == told && !tasks.values().any(|t| t.handle.is_finished()) {
                    continue;
                }
            }
        }
        if *shutdown.borrow() {
            break;
        }
        // A task that ended on its own (superseded, say) gives its lease back;
        // the pool may take it again on a later tick.
        let ended: Vec<i32> = tasks.iter().filter(|(_, t)| t.handle.is_finished()).map(|(p, _)| *p).collect();
        if !ended.is_empty() {
            for p in &ended {
                tasks.remove(p);
            }
            info!(role, partitions = ?ended, "partition tasks ended; giving their leases back");
            if let Err(e) = store.release_leases(role, &cfg.member, &ended).await {
                warn!(role, error = %e, "could not give leases back");
            }
        }
        let working = working_now(&tasks);
        let started = Instant::now();
        match store.lease_tick(role, &cfg.member, cfg.partitions, cfg.ttl, &working).await {
            Ok(t) => {
                if working.len() > told.len() || trimmed.elapsed() >= TRIM_EVERY {
                    // A claim just finished (its rebuild's buffers are free now),
                    // or it is time anyway.
                    release_free_memory();
                    trimmed = Instant::now();
                }
                told = working;
                let held: BTreeSet<i32> = t.held.iter().map(|h| h.partition).collect();
                for h in &t.held {
                    let task = tasks.entry(h.partition).or_insert_with(|| {
                        info!(
                            role,
                            partition = h.partition,
                            lease_epoch = h.lease_epoch,
                            members = t.members,
                            "took a partition"
                        );
                        spawn(&work, h.partition)
                    });
                    task.valid_until = started + cfg.ttl;
                }
                let lost: Vec<i32> =
                    tasks.keys().copied().filter(|p| !held.contains(p) && !t.give_back.contains(p)).collect();
                for p in lost {
                    if let Some(task) = tasks.remove(&p) {
                        warn!(role, partition = p, "lost the lease; stopping the partition");
                        task.stop(p, role).await;
                    }
                }
                if !t.give_back.is_empty() {
                    for p in &t.give_back {
                        if let Some(task) = tasks.remove(p) {
                            task.stop(*p, role).await;
                        }
                    }
                    info!(role, partitions = ?t.give_back, members = t.members, "gave partitions back to the pool");
                    if let Err(e) = store.release_leases(role, &cfg.member, &t.give_back).await {
                        warn!(role, error = %e, "could not give leases back");
                    }
                }
            }
            Err(e) => warn!(role, error = %e, "could not renew the leases"),
        }
        let expired: Vec<i32> =
            tasks.iter().filter(|(_, t)| Instant::now() >= t.valid_until).map(|(p, _)| *p).collect();
        for p in expired {
            if let Some(task) = tasks.remove(&p) {
                warn!(role, partition = p, "lease not renewed in time; stopping the partition");
                task.stop(p, role).await;
            }
        }
    }
    for (p, task) in std::mem::take(&mut tasks) {
        task.stop(p, role).await;
    }
    if let Err(e) = store.leave_pool(role, &cfg.member).await {
        warn!(role, error = %e, "could not leave the pool; its leases expire instead");
    }
}

const WORKING_LOOK: Duration = Duration::from_millis(100);
const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Hands freed heap memory back to the OS. glibc keeps what a thread freed
/// in that thread's arena: after a claim (the log and the snapshot read,
/// then dropped) or a burst of decisions, a process otherwise stays at its
/// peak. Measured with `bench --contacts`: see docs/ARCHITECTURE.md.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks the
    // allocator's own free lists under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn working_now(tasks: &BTreeMap<i32, Task>) -> Vec<i32> {
    tasks.iter().filter(|(_, t)| t.working.load(Ordering::Relaxed)).map(|(p, _)| *p).collect()
}

fn spawn(work: &Work, partition: i32) -> Task {
    let (stop, rx) = watch::channel(false);
    let working = Arc::new(AtomicBool::new(false));
    let handle = tokio::spawn(work(partition, rx, working.clone()));
    Task { stop, handle, working, valid_until: Instant::now() }
}

/// A member id unique among live processes: host, process id and a ULID.
pub fn default_member() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!("{host}-{}-{}", std::process::id(), ulid::Ulid::new())
}
