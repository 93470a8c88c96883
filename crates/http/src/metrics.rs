//! Prometheus metrics, hand-rolled on atomics (the exposition format is a
//! few lines of text; a metrics crate would be the larger dependency).
//! Labels are bounded: routes are templates, commands are the known types.
use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

/// Upper bounds of the request-duration buckets, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
pub struct Metrics {
    requests: Family<(String, u16), AtomicU64>,
    commands: Family<String, AtomicU64>,
    durations: Family<String, Histogram>,
    hashing_refused: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests.get((route.to_owned(), status)).fetch_add(1, Relaxed);
        self.durations.get(route.to_owned()).observe(elapsed);
    }

    pub fn hashing_refused(&self) {
        self.hashing_refused.fetch_add(1, Relaxed);
    }

    pub fn command_submitted(&self, command_type: &str) {
        self.commands.get(command_type.to_owned()).fetch_add(1, Relaxed);
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP http_requests_total HTTP requests answered, by route template and status.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, status), n) in self.requests.snapshot() {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",status=\"{status}\"}} {}",
                esc(&route),
                n.load(Relaxed)
            );
        }
        out.push_str("# HELP commands_submitted_total Commands published to the commands topic, by type.\n");
        out.push_str("# TYPE commands_submitted_total counter\n");
        for (ty, n) in self.commands.snapshot() {
            let _ = writeln!(out, "commands_submitted_total{{type=\"{}\"}} {}", esc(&ty), n.load(Relaxed));
        }
        out.push_str("# HELP http_request_duration_seconds Time to answer a request, by route template.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, h) in self.durations.snapshot() {
            h.render(&mut out, &esc(&route));
        }
        out.push_str(
            "# HELP password_hashing_refused_total Requests answered 503 because the hashing queue was full.\n",
        );
        out.push_str("# TYPE password_hashing_refused_total counter\n");
        let _ = writeln!(out, "password_hashing_refused_total {}", self.hashing_refused.load(Relaxed));
        ledger_ports::stages::render(&mut out);
        out
    }
}

/// A labelled metric: one value per label set, created on first use.
struct Family<K, V> {
    values: RwLock<BTreeMap<K, Arc<V>>>,
}

impl<K, V> Default for Family<K, V> {
    fn default() -> Self {
        Self { values: RwLock::new(BTreeMap::new()) }
    }
}

impl<K: Ord + Clone, V: Default> Family<K, V> {
    fn get(&self, key: K) -> Arc<V> {
        // A panic elsewhere cannot leave a counter map half-written, so a
        // poisoned lock is still good to use.
        if let Some(v) = self.values.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Arc::clone(v);
        }
        Arc::clone(self.values.write().unwrap_or_else(|e| e.into_inner()).entry(key).or_default())
    }

    fn snapshot(&self) -> Vec<(K, Arc<V>)> {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        values.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect()
    }
}

#[derive(Default)]
struct Histogram {
    /// Per bucket, not cumulative; the count covers the `+Inf` bucket.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, route: &str) {
        let name = "http_request_duration_seconds";
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {sum}");
        let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {count}");
    }
}

/// Escapes a label value as the exposition format requires.
fn esc(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.observe("/v1/contacts", 201, Duration::from_millis(3));
        m.observe("/v1/contacts", 201, Duration::from_millis(300));
        m.command_submitted("CreateContact");
        let text = m.render();
        assert!(text.contains("http_requests_total{route=\"/v1/contacts\",status=\"201\"} 2"), "{text}");
        assert!(text.contains("commands_submitted_total{type=\"CreateContact\"} 1"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/v1/contacts\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/v1/contacts\",le=\"0.5\"} 2"), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket{route=\"/v1/contacts\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("http_request_duration_seconds_count{route=\"/v1/contacts\"} 2"), "{text}");
    }
}
