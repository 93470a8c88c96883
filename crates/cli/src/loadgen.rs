//! `contact-ledger loadgen`: an HTTP load generator in its own process, so
//! the figures of `bench` are not those of a client sharing the service's
//! runtime. It sends contact creates (optionally with a password, or a mix)
//! either as fast as `--concurrency` clients can (closed loop) or at a fixed
//! `--rate` (open loop, latency measured from each request's scheduled
//! start), and prints one JSON object: rate, p50/p90/p99, status counts and
//! its own CPU time.
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// The service's base URL.
    #[arg(long)]
    pub url: String,
    /// A tenant API key.
    #[arg(long)]
    pub key: String,
    #[arg(long, default_value_t = 3000)]
    pub requests: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests per second to start (open loop); 0: as fast as the clients go.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Every Nth request creates a user with a password (hashed by the
    /// service); 0: none, 1: all.
    #[arg(long, default_value_t = 0)]
    pub password_every: usize,
    /// Makes the emails of this run unique.
    #[arg(long, default_value = "load")]
    pub prefix: String,
    /// Instead of HTTP load: hash with argon2id on every core for this many
    /// seconds and print the rate (the bench's raw hashing capacity, kept out
    /// of the service's process and its allocator).
    #[arg(long, default_value_t = 0.0)]
    pub hash_secs: f64,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.hash_secs > 0.0 {
        let rate = raw_argon2_capacity(Duration::from_secs_f64(args.hash_secs));
        println!("{}", json!({ "hashes_per_s": rate }));
        return Ok(());
    }
    let report = generate(&args).await?;
    println!("{report}");
    Ok(())
}

fn body(prefix: &str, i: usize, password: bool) -> serde_json::Value {
    if password {
        json!({"kind": "user", "email": format!("{prefix}-{i}@example.com"), "first_name": "Bench", "last_name": format!("{i}"),
               "password": format!("Correct-horse-{i}-battery")})
    } else {
        json!({"kind": "contact", "email": format!("{prefix}-{i}@example.com"), "name": format!("Bench {i}"),
               "tags": ["bench"], "metadata": {"i": i}})
    }
}

pub async fn generate(args: &LoadArgs) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency.max(1)).build()?;
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let cpu_before = crate::idle::own_cpu_ms();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.requests);
    for i in 0..args.requests {
        let scheduled = if args.rate > 0.0 {
            let at = started + Duration::from_secs_f64(i as f64 / args.rate);
            tokio::time::sleep_until(at.into()).await;
            Some(at)
        } else {
            None
        };
        let password = args.password_every > 0 && i % args.password_every == 0;
        let (client, gate) = (client.clone(), gate.clone());
        let (url, key, body) = (format!("{}/v1/contacts", args.url), args.key.clone(), body(&args.prefix, i, password));
        let permit = if scheduled.is_none() { Some(gate.clone().acquire_owned().await?) } else { None };
        tasks.push(tokio::spawn(async move {
            let _permit = match permit {
                Some(p) => p,
                None => gate.acquire_owned().await.expect("semaphore open"),
            };
            let t = scheduled.unwrap_or_else(Instant::now);
            let status = client.post(url).bearer_auth(key).json(&body).send().await.map(|r| r.status().as_u16());
            (t.elapsed(), status.unwrap_or(0), password)
        }));
    }
    let mut latencies = Vec::with_capacity(args.requests);
    let mut password_latencies = Vec::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let (d, status, password) = t.await?;
        *statuses.entry(status.to_string()).or_default() += 1;
        if status == 201 {
            let ms = d.as_secs_f64() * 1000.0;
            if password { password_latencies.push(ms) } else { latencies.push(ms) }
        }
    }
    let took = started.elapsed().as_secs_f64();
    let cpu_ms = match (cpu_before, crate::idle::own_cpu_ms()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let created = statuses.get("201").copied().unwrap_or(0);
    Ok(json!({
        "requests": args.requests,
        "concurrency": args.concurrency,
        "target_rate": args.rate,
        "seconds": (took * 100.0).round() / 100.0,
        "per_s": (args.requests as f64 / took).round(),
        "created_per_s": (created as f64 / took).round(),
        "statuses": statuses,
        "latency_ms": percentiles(&mut latencies),
        "password_latency_ms": percentiles(&mut password_latencies),
        "client_cpu_ms": cpu_ms,
    }))
}

fn percentiles(v: &mut [f64]) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let x = v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
        (x * 10.0).round() / 10.0
    };
    json!({"n": v.len(), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)})
}

/// Runs the load generator as a child process of this binary and returns its report.
pub async fn in_child(args: &LoadArgs) -> anyhow::Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .arg("loadgen")
        .args(["--url", &args.url, "--key", &args.key, "--prefix", &args.prefix])
        .args(["--requests", &args.requests.to_string(), "--concurrency", &args.concurrency.to_string()])
        .args(["--rate", &args.rate.to_string(), "--password-every", &args.password_every.to_string()])
        .args(["--hash-secs", &args.hash_secs.to_string()])
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        anyhow::bail!("loadgen failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with('{')).unwrap_or_default();
    Ok(serde_json::from_str(line)?)
}

/// argon2id hashes per second with every core hashing (the service's
/// parameters), over `window`.
fn raw_argon2_capacity(window: Duration) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                while started.elapsed() < window {
                    let salt = argon2::password_hash::SaltString::generate(&mut rand::rngs::OsRng);
                    let _ = argon2::PasswordHasher::hash_password(&argon2::Argon2::default(), b"correct horse", &salt);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}
