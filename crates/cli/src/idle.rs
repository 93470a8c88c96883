//! What an idle stack costs: CPU (share of one core) and resident memory of
//! this process (the service, when it runs in-process as `dev` and the bench
//! run it) and of the broker process, sampled from /proc over a while with
//! no client. Linux only; elsewhere the figures are absent.
use std::{fs, time::Duration};

use serde_json::{Value, json};

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU ticks (user + system) and resident bytes of a process.
fn usage(pid: &str) -> Option<(u64, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some((utime + stime, rss_pages * 4096))
}

/// The pid of a broker process serving `brokers` (`host:port`): a process
/// whose command line names that port (how the dev/test scripts start Tansu).
fn broker_pid(brokers: &str) -> Option<String> {
    let port = brokers.split(',').next()?.rsplit_once(':')?.1.to_owned();
    let needle = format!(":{port}");
    let me = std::process::id().to_string();
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (cmdline.contains(" broker ") && cmdline.contains(&needle)).then_some(pid)
    })
}

/// Samples for `window`: `{"service": {...}, "broker": {...}}`, each with
/// `cpu_percent_of_one_core` and `rss_mb`.
pub async fn sample(brokers: &str, window: Duration) -> Value {
    let me = std::process::id().to_string();
    let broker = broker_pid(brokers);
    let before = (usage(&me), broker.as_deref().and_then(usage));
    tokio::time::sleep(window).await;
    let after = (usage(&me), broker.as_deref().and_then(usage));
    let figure = |b: Option<(u64, u64)>, a: Option<(u64, u64)>| match (b, a) {
        (Some((t0, _)), Some((t1, rss))) => json!({
            "cpu_percent_of_one_core": ((t1.saturating_sub(t0)) as f64 / TICKS / window.as_secs_f64() * 1000.0).round() / 10.0,
            "rss_mb": (rss as f64 / 1_048_576.0).round(),
        }),
        _ => Value::Null,
    };
    json!({
        "seconds": window.as_secs(),
        "service": figure(before.0, after.0),
        "broker": figure(before.1, after.1),
        "broker_pid": broker,
    })
}
