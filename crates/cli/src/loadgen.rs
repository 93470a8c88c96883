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
    /// Plain writes upsert (`/v1/contacts/upsert`) over this many emails,
    /// each time with new metadata: a working set that stops growing once
    /// every email exists (0: every plain write creates a new contact).
    #[arg(long, default_value_t = 0)]
    pub distinct: usize,
    /// Every Nth request lists contacts instead (`GET /v1/contacts`, 20 by
    /// tag); 0: none.
    #[arg(long, default_value_t = 0)]
    pub read_every: usize,
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

/// What request `i` of a run is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Password,
    Read,
    Write,
}

fn kind(args: &LoadArgs, i: usize) -> Kind {
    if args.password_every > 0 && i.is_multiple_of(args.password_every) {
        Kind::Password
    } else if args.read_every > 0 && i % args.read_every == 1 % args.read_every {
        Kind::Read
    } else {
        Kind::Write
    }
}

fn request(client: &reqwest::Client, args: &LoadArgs, i: usize) -> reqwest::RequestBuilder {
    let base = args.url.trim_end_matches('/');
    let request = match kind(args, i) {
        Kind::Read => client.get(format!("{base}/v1/contacts?tag=bench&limit=20")),
        Kind::Password => client.post(format!("{base}/v1/contacts")).json(&body(&args.prefix, i, true)),
        Kind::Write if args.distinct > 0 => {
            // Not the users' emails: an upsert never matches a registered user.
            let mut b = body(&format!("{}-set", args.prefix), i % args.distinct, false);
            b["metadata"] = json!({"i": i});
            client.post(format!("{base}/v1/contacts/upsert")).json(&b)
        }
        Kind::Write => client.post(format!("{base}/v1/contacts")).json(&body(&args.prefix, i, false)),
    };
    request.bearer_auth(&args.key)
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
        let what = kind(args, i);
        let gate = gate.clone();
        let request = request(&client, args, i);
        let permit = if scheduled.is_none() { Some(gate.clone().acquire_owned().await?) } else { None };
        tasks.push(tokio::spawn(async move {
            let _permit = match permit {
                Some(p) => p,
                None => gate.acquire_owned().await.expect("semaphore open"),
            };
            let t = scheduled.unwrap_or_else(Instant::now);
            let status = request.send().await.map(|r| r.status().as_u16());
            (t.elapsed(), status.unwrap_or(0), what)
        }));
    }
    let (mut latencies, mut password_latencies, mut read_latencies) =
        (Vec::with_capacity(args.requests), vec![], vec![]);
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let (d, status, what) = t.await?;
        *statuses.entry(status.to_string()).or_default() += 1;
        if (200..300).contains(&status) {
            let ms = d.as_secs_f64() * 1000.0;
            match what {
                Kind::Password => password_latencies.push(ms),
                Kind::Read => read_latencies.push(ms),
                Kind::Write => latencies.push(ms),
            }
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
        "read_latency_ms": percentiles(&mut read_latencies),
        "ok_per_s": (statuses.iter().filter(|(k, _)| k.starts_with('2')).map(|(_, n)| n).sum::<u64>() as f64 / took).round(),
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
        .args(["--distinct", &args.distinct.to_string(), "--read-every", &args.read_every.to_string()])
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
