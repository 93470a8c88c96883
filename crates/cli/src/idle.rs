//! What an idle stack costs: CPU (share of one core) and resident memory of
//! this process (the service, when it runs in-process as `dev` and the bench
//! run it), of the broker process and of the PostgreSQL cluster (its
//! postmaster and every backend), sampled from /proc over a while with no
//! client. Linux only; elsewhere the figures are absent.
use std::{fs, time::Duration};

use serde_json::{Value, json};

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// Fields of /proc/PID/stat after the command name (which is in
/// parentheses and may hold spaces): index 0 is the state, 1 the parent pid.
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(str::to_owned).collect())
}

/// CPU ticks (user + system) and resident bytes, when the process exists.
type Usage = Option<(u64, u64)>;

/// CPU ticks (user + system) and resident bytes of a process.
fn usage(pid: &str) -> Usage {
    let fields = stat_fields(pid)?;
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some((utime + stime, rss_pages * 4096))
}

/// The same, summed over a process and its children.
fn usage_with_children(pid: &str) -> Usage {
    let mut total = usage(pid)?;
    for child in pids() {
        if stat_fields(&child).and_then(|f| f.get(1).cloned()).as_deref() == Some(pid)
            && let Some((t, rss)) = usage(&child)
        {
            total = (total.0 + t, total.1 + rss);
        }
    }
    Some(total)
}

fn pids() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

fn cmdline(pid: &str) -> String {
    fs::read(format!("/proc/{pid}/cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ")).unwrap_or_default()
}

/// The postmaster listening on the port of a PostgreSQL URL (started with
/// `-p PORT`, as the dev/test scripts do).
fn postmaster_pid(database_url: &str) -> Option<String> {
    let after_host = database_url.rsplit_once('@').map_or(database_url, |(_, h)| h);
    let port = after_host.split(['/', '?']).next()?.rsplit_once(':')?.1.to_owned();
    let needle = format!("-p {port}");
    pids().into_iter().find(|pid| {
        let c = cmdline(pid);
        c.contains("postgres") && c.contains(&needle)
    })
}

/// The pid of a broker process serving `brokers` (`host:port`): a process
/// whose command line names that port (how the dev/test scripts start the broker).
fn broker_pid(brokers: &str) -> Option<String> {
    let port = brokers.split(',').next()?.rsplit_once(':')?.1.to_owned();
    let needle = format!(":{port}");
    let me = std::process::id().to_string();
    pids().into_iter().find(|pid| {
        let c = cmdline(pid);
        *pid != me && c.contains(" broker ") && c.contains(&needle)
    })
}

/// Samples for `window`: `{"service", "broker", "postgres", "stack"}`, each
/// with `cpu_percent_of_one_core` and `rss_mb`.
pub async fn sample(brokers: &str, database_url: &str, window: Duration) -> Value {
    let me = std::process::id().to_string();
    let broker = broker_pid(brokers);
    let postmaster = postmaster_pid(database_url);
    let take = || (usage(&me), broker.as_deref().and_then(usage), postmaster.as_deref().and_then(usage_with_children));
    let before = take();
    tokio::time::sleep(window).await;
    let after = take();
    let figure = |b: Usage, a: Usage| match (b, a) {
        (Some((t0, _)), Some((t1, rss))) => json!({
            "cpu_percent_of_one_core": ((t1.saturating_sub(t0)) as f64 / TICKS / window.as_secs_f64() * 1000.0).round() / 10.0,
            "rss_mb": (rss as f64 / 1_048_576.0).round(),
        }),
        _ => Value::Null,
    };
    let sum = |x: (Usage, Usage, Usage)| Some((x.0?.0 + x.1?.0 + x.2?.0, x.0?.1 + x.1?.1 + x.2?.1));
    json!({
        "seconds": window.as_secs(),
        "service": figure(before.0, after.0),
        "broker": figure(before.1, after.1),
        "postgres": figure(before.2, after.2),
        "stack": figure(sum(before), sum(after)),
        "broker_pid": broker,
        "postmaster_pid": postmaster,
    })
}

/// CPU and memory of the stack while something runs: `start` before, then
/// `finish` with how many operations ran, for CPU per operation by process.
pub struct Meter {
    me: String,
    broker: Option<String>,
    postmaster: Option<String>,
    before: (Usage, Usage, Usage),
    started: std::time::Instant,
}

impl Meter {
    pub fn start(brokers: &str, database_url: &str) -> Meter {
        let me = std::process::id().to_string();
        let broker = broker_pid(brokers);
        let postmaster = postmaster_pid(database_url);
        let before =
            (usage(&me), broker.as_deref().and_then(usage), postmaster.as_deref().and_then(usage_with_children));
        Meter { me, broker, postmaster, before, started: std::time::Instant::now() }
    }

    /// `{"service", "broker", "postgres", "stack"}`: share of one core over
    /// the run, CPU milliseconds per operation, resident memory at the end.
    /// `client_cpu_ms`: what a client process spent (reported by itself).
    pub fn finish(self, ops: u64, client_cpu_ms: Option<f64>) -> Value {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let after = (
            usage(&self.me),
            self.broker.as_deref().and_then(usage),
            self.postmaster.as_deref().and_then(usage_with_children),
        );
        let figure = |b: Usage, a: Usage| match (b, a) {
            (Some((t0, _)), Some((t1, rss))) => {
                let cpu_ms = t1.saturating_sub(t0) as f64 / TICKS * 1000.0;
                json!({
                    "cpu_percent_of_one_core": (cpu_ms / 1000.0 / secs * 1000.0).round() / 10.0,
                    "cpu_ms_per_op": (cpu_ms / ops.max(1) as f64 * 1000.0).round() / 1000.0,
                    "rss_mb": (rss as f64 / 1_048_576.0).round(),
                })
            }
            _ => Value::Null,
        };
        let client = client_cpu_ms.map(|ms| {
            json!({
                "cpu_percent_of_one_core": (ms / 1000.0 / secs * 1000.0).round() / 10.0,
                "cpu_ms_per_op": (ms / ops.max(1) as f64 * 1000.0).round() / 1000.0,
            })
        });
        json!({
            "seconds": (secs * 10.0).round() / 10.0,
            "service": figure(self.before.0, after.0),
            "broker": figure(self.before.1, after.1),
            "postgres": figure(self.before.2, after.2),
            "client": client,
        })
    }
}

/// CPU milliseconds this process has used so far (user + system).
pub fn own_cpu_ms() -> Option<f64> {
    usage(&std::process::id().to_string()).map(|(t, _)| t as f64 / TICKS * 1000.0)
}

/// Resident bytes of this process now.
pub fn own_rss_bytes() -> Option<u64> {
    usage(&std::process::id().to_string()).map(|(_, rss)| rss)
}
