//! `contact-ledger bench`: measures, in one run and on the same machine, the
//! raw limits (idempotent produce to the broker, batched upsert into
//! PostgreSQL, consume from the broker) and then the service against them:
//! HTTP creates/s with p50/p99, projector catch-up events/s and handler
//! rebuild events/s. It prints figures; nothing asserts on them.
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use ledger_domain::TenantId;
use ledger_kafka::{EventReader, Handler, HandlerConfig, KafkaBus, KafkaConfig, ensure_topics};
use ledger_ports::{CommandBus, Commands};
use ledger_protocol::CommandEnvelope;
use rdkafka::producer::FutureRecord;
use serde_json::json;
use tokio::sync::watch;

use crate::{
    app::{self, Roles},
    config::Common,
    idle::Meter,
    loadgen::{self, LoadArgs},
    replay, tenant,
};
use ledger_ports::stages;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// An admin PostgreSQL URL: the bench creates and drops its own database there.
    #[arg(long, env = "CL_BENCH_ADMIN_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:54329/postgres")]
    pub admin_database_url: String,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    pub kafka_brokers: String,
    /// HTTP creates to send.
    #[arg(long, default_value_t = 3000)]
    pub creates: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Commands published straight to the commands topic after the HTTP phase
    /// (pipeline throughput, and a log big enough to time rebuilds on).
    #[arg(long, default_value_t = 20000)]
    pub bulk_commands: usize,
    /// Records for the raw produce / consume / upsert measurements.
    #[arg(long, default_value_t = 20000)]
    pub raw_records: usize,
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// `fetch.wait.max.ms` of every consumer (the product default: a waiting
    /// fetch is answered as soon as data arrives, so it sets no latency).
    #[arg(long, env = "CL_FETCH_WAIT_MS", default_value_t = ledger_kafka::config::DEFAULT_FETCH_WAIT_MS)]
    pub fetch_wait_ms: u32,
    /// Seconds of the idle-CPU sample (service and broker, no client).
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// After the HTTP phases: this many seconds of mixed load at a quarter
    /// of the measured create rate (upserts over 5,000 emails, one request
    /// in 5 a list, one in 20 a new user with a password), sampling the
    /// service's resident memory every 15 s (0: skip; the issue asks 600).
    #[arg(long, default_value_t = 0)]
    pub soak_secs: u64,
    /// Instead of the figures above: the service at this many contacts
    /// (loaded over 100 tenants through the commands topic; see `bench_scale`).
    #[arg(long, default_value_t = 0)]
    pub contacts: usize,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let run_id = ulid::Ulid::new().to_string().to_lowercase();
    let db = format!("cl_bench_{run_id}");
    let admin = ledger_store::Store::connect(&args.admin_database_url, 2).await?;
    admin.create_database(&db).await?;
    let result = measure(&args, &run_id, &db).await;
    let _ = admin.drop_database(&db).await;
    let report = result?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn measure(args: &BenchArgs, run_id: &str, db: &str) -> anyhow::Result<serde_json::Value> {
    let common = Common {
        db_pool: 40,
        token_secret: Some(ledger_http::random_secret()),
        fetch_wait_ms: args.fetch_wait_ms,
        mailer_fetch_wait_ms: args.fetch_wait_ms,
        ..Common::with_defaults(
            &replace_db(&args.admin_database_url, db),
            &args.kafka_brokers,
            &format!("bench-{run_id}."),
            args.partitions,
        )
    };
    if args.contacts > 0 {
        return crate::bench_scale::measure(&common, args.contacts, args.concurrency).await;
    }
    let sample = sample_record_size();

    // Raw limits, same machine, same run.
    let mut raw_cfg = KafkaConfig::new(&args.kafka_brokers, &format!("bench-raw-{run_id}."), args.partitions);
    raw_cfg.fetch_wait_ms = args.fetch_wait_ms;
    raw_cfg.security = common.kafka().security;
    ensure_topics(&raw_cfg).await?;
    let produce = raw_produce(&raw_cfg, args.raw_records, sample).await?;
    let consume = raw_consume(&raw_cfg, args.raw_records).await?;
    let store = app::connect(&common).await?;
    let upsert = store.raw_upsert_rate(args.raw_records).await?;
    let projection_writes = store.raw_projection_write_rate(&sample_decisions(args.raw_records)).await?;
    eprintln!(
        "raw: produce {produce:.0}/s, consume {consume:.0}/s, upsert {upsert:.0}/s, \
         projector's writes {projection_writes:.0} decisions/s"
    );

    // The service.
    // Without the mailer: the figures stay comparable with earlier runs (it
    // would read the whole events topic alongside, for no invite to send).
    let roles = Roles { mailer: false, ..Roles::ALL };
    let running = app::start(&common, roles, "127.0.0.1:0".parse()?).await?;
    running.ready(Duration::from_secs(60)).await?;
    let bus = KafkaBus::new(running.kafka.clone())?;
    let created = tenant::create(&bus, &running.store, "bench", Duration::from_secs(30)).await?;
    let key = created["api_key"].as_str().unwrap_or_default().to_owned();
    let idle =
        crate::idle::sample(&args.kafka_brokers, &common.database_url, Duration::from_secs(args.idle_secs)).await;
    eprintln!("idle: {idle}");
    let base = format!("http://{}", running.addr.ok_or_else(|| anyhow::anyhow!("no http address"))?);
    let mut http = http_phases(args, &common, &base, &key).await?;
    let created_per_s = http["creates"]["report"]["created_per_s"].as_f64().unwrap_or(0.0);
    http["creates"]["ratio_to_raw_produce"] = json!(ratio(created_per_s, produce));
    let tenant_id: TenantId = created["tenant_id"].as_str().unwrap_or_default().parse()?;
    let stages_before = stages::snapshot();
    let pipeline = bulk_pipeline(&bus, &running.store, tenant_id, args.bulk_commands).await?;
    let pipeline_split = stage_split(&stages_before, &stages::snapshot());
    eprintln!("pipeline: {pipeline:.0} commands/s decided and projected");
    eprintln!("pipeline stages: {pipeline_split}");
    let kafka = running.kafka.clone();
    running.stop().await;

    let rebuilt = replay::replay(&store, &kafka, false).await?;
    let rebuild = handler_rebuild(&kafka).await?;
    Ok(json!({
        "record_bytes": sample,
        "fetch_wait_ms": args.fetch_wait_ms,
        "idle": idle,
        "raw": { "produce_per_s": produce.round(), "consume_per_s": consume.round(), "pg_upsert_rows_per_s": upsert.round() },
        "http": http,
        "pipeline": {
            "commands_per_s": pipeline.round(), "commands": args.bulk_commands,
            "what": "commands produced straight to the topic, one tenant, until the last is decided and projected",
            "ratio_to_raw_produce": ratio(pipeline, produce),
            "stages": pipeline_split,
        },
        "projector_catch_up": {
            "events_per_s": rebuilt.per_second().round(), "records": rebuilt.records,
            "ratio_to_raw_pg_upsert": ratio(rebuilt.per_second(), upsert),
            "raw_projector_writes_per_s": projection_writes.round(),
            "ratio_to_raw_projector_writes": ratio(rebuilt.per_second(), projection_writes),
        },
        "handler_rebuild": {
            "events_per_s": rebuild.round(),
            "ratio_to_raw_consume": ratio(rebuild, consume),
        },
    }))
}

/// `n` decided creates of one tenant (the bench's contact shape), decided
/// by the pure state machine, for the raw projector-write figure.
fn sample_decisions(n: usize) -> Vec<ledger_protocol::Decision> {
    use ledger_protocol::{Claim, CommandPosition, LogRecord, PartitionState, Step};
    let mut state = PartitionState::new(chrono::Duration::days(7));
    state.apply(&LogRecord::Claim(Claim { epoch: 1, writer_id: "bench".into(), claimed_at: chrono::Utc::now() }));
    state.become_writer(1);
    let tenant = TenantId(ulid::Ulid::new());
    let create_tenant = CommandEnvelope {
        command_id: ledger_domain::CommandId(ulid::Ulid::new()),
        tenant_id: tenant,
        issued_at: chrono::Utc::now(),
        command: ledger_domain::Command::CreateTenant(ledger_domain::CreateTenant {
            name: "raw".into(),
            api_key_hash: "raw".into(),
        }),
    };
    let envelopes =
        std::iter::once(create_tenant).chain((0..n).map(|i| crate::bench_scale::create_envelope(tenant, "raw", i)));
    let mut out = Vec::with_capacity(n + 1);
    for (offset, env) in envelopes.enumerate() {
        let pos = CommandPosition { topic: "raw".into(), partition: 0, offset: offset as i64 };
        if let Step::Append(d) = state.handle(Ok(env), pos, chrono::Utc::now()) {
            out.push(*d);
        }
    }
    out
}

fn ratio(a: f64, b: f64) -> f64 {
    (a / b.max(1e-9) * 1000.0).round() / 1000.0
}

fn replace_db(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_owned(),
    }
}

/// The size of a typical decision record (a ContactCreated), so the raw
/// produce figure moves the same bytes.
fn sample_record_size() -> usize {
    700
}

async fn raw_produce(cfg: &KafkaConfig, n: usize, size: usize) -> anyhow::Result<f64> {
    let producer = ledger_kafka::Producer::new(&cfg.producer())?;
    let payload = vec![b'x'; size];
    let started = Instant::now();
    let mut pending = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("tenant-{}", i % 64);
        let rec = FutureRecord::to(&cfg.events_topic).key(key.as_bytes()).payload(payload.as_slice());
        pending.push(ledger_kafka::dlq::send(&producer, rec).await?);
    }
    for p in futures_join(pending).await {
        p.map_err(|_| anyhow::anyhow!("cancelled"))?.map_err(|(e, _)| e)?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(fs.len());
    for f in fs {
        out.push(f.await);
    }
    out
}

async fn raw_consume(cfg: &KafkaConfig, n: usize) -> anyhow::Result<f64> {
    let reader = EventReader::new(cfg, &HashMap::new())?;
    let started = Instant::now();
    let mut seen = 0;
    while seen < n {
        let batch = reader.next_batch(5000, Duration::from_secs(10)).await?;
        if batch.is_empty() {
            break;
        }
        seen += batch.len();
    }
    Ok(seen as f64 / started.elapsed().as_secs_f64())
}

/// Every HTTP figure, each from the load generator in its own process:
/// closed-loop creates at `--concurrency` (rate, latency, CPU per create by
/// process, the per-stage split of a create's time), the same at half that
/// rate (open loop), then password creates against the machine's raw argon2
/// capacity with plain creates at half rate alongside.
async fn http_phases(args: &BenchArgs, common: &Common, base: &str, key: &str) -> anyhow::Result<serde_json::Value> {
    let load = |prefix: &str, requests: usize, concurrency: usize, rate: f64, password_every: usize| LoadArgs {
        url: base.to_owned(),
        key: key.to_owned(),
        requests,
        concurrency,
        rate,
        password_every,
        prefix: prefix.to_owned(),
        hash_secs: 0.0,
        distinct: 0,
        read_every: 0,
    };
    // Warm-up: connections, caches, the first JIT-less paths.
    loadgen::in_child(&load("warm", 200, args.concurrency, 0.0, 0)).await?;

    let stages_before = stages::snapshot();
    let meter = Meter::start(&args.kafka_brokers, &common.database_url);
    let full = loadgen::in_child(&load("full", args.creates, args.concurrency, 0.0, 0)).await?;
    let full_cpu = meter.finish(args.creates as u64, full["client_cpu_ms"].as_f64());
    let split = stage_split(&stages_before, &stages::snapshot());
    let rate = full["created_per_s"].as_f64().unwrap_or(0.0);
    eprintln!("http: {full}");
    eprintln!("http cpu: {full_cpu}");
    eprintln!("http stages: {split}");

    let half_rate = (rate / 2.0).max(1.0);
    let half_n = ((half_rate * 8.0) as usize).clamp(200, args.creates);
    let stages_before = stages::snapshot();
    let half = loadgen::in_child(&load("half", half_n, 1024, half_rate, 0)).await?;
    let half_split = stage_split(&stages_before, &stages::snapshot());
    eprintln!("http at half rate: {half}");
    eprintln!("http stages at half rate: {half_split}");

    let argon2 = loadgen::in_child(&LoadArgs { hash_secs: 3.0, ..load("hash", 0, 1, 0.0, 0) }).await?["hashes_per_s"]
        .as_f64()
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let passwords = (argon2 * 6.0).clamp(20.0, 400.0) as usize;
    // Enough in flight to keep every hashing thread busy (the pool holds a
    // thread and a queue of 32 per core; past that a create is answered 503).
    let password_clients = cores * 8;
    let alone = loadgen::in_child(&load("pw-alone", passwords, password_clients, 0.0, 1)).await?;
    eprintln!("password creates alone: {alone}");
    let rss_before = crate::idle::own_rss_bytes().unwrap_or(0);
    let (pw, beside) = (load("pw", passwords, password_clients, 0.0, 1), load("beside", half_n, 1024, half_rate, 0));
    let (with_passwords, alongside) = tokio::try_join!(loadgen::in_child(&pw), loadgen::in_child(&beside))?;
    let rss_after = crate::idle::own_rss_bytes().unwrap_or(0);
    eprintln!("password creates: {with_passwords}; alongside: {alongside}; raw argon2 {argon2:.1}/s");
    let password_rate = with_passwords["created_per_s"].as_f64().unwrap_or(0.0);
    let soak = if args.soak_secs > 0 { Some(soak(args, &load, half_rate / 2.0).await?) } else { None };
    let p99 = |v: &serde_json::Value| v["latency_ms"]["p99"].as_f64().unwrap_or(0.0);
    Ok(json!({
        "creates": {
            "concurrency": args.concurrency, "report": full,
            "ratio_to_raw_produce": serde_json::Value::Null,
            "cpu": full_cpu, "stages": split,
        },
        "half_rate": { "target_per_s": half_rate.round(), "report": half, "stages": half_split },
        "passwords": {
            "raw_argon2_hashes_per_s": (argon2 * 10.0).round() / 10.0, "cores": cores,
            "alone": alone,
            "ratio_to_raw_argon2": ratio(alone["created_per_s"].as_f64().unwrap_or(0.0), argon2),
            "with_plain_alongside": with_passwords,
            "ratio_to_raw_argon2_with_plain_alongside": ratio(password_rate, argon2),
            "plain_alongside_at_half_rate": alongside,
            "plain_p99_ratio_to_without_passwords": ratio(p99(&alongside), p99(&half)),
            "service_rss_mb_before": rss_before / 1_048_576, "service_rss_mb_after": rss_after / 1_048_576,
        },
        "soak": soak,
    }))
}

/// Mixed load for `--soak-secs`, with the service's resident memory every
/// 15 s: the series, and the spread after the first minute (warm-up).
async fn soak(
    args: &BenchArgs,
    load: &dyn Fn(&str, usize, usize, f64, usize) -> LoadArgs,
    rate: f64,
) -> anyhow::Result<serde_json::Value> {
    let requests = (rate * args.soak_secs as f64) as usize;
    // A working set that stops growing: upserts over 5,000 emails, one
    // request in 5 a list, one in 20 a new user with a password.
    let soak_load = LoadArgs { distinct: 5000, read_every: 5, ..load("soak", requests, 1024, rate, 20) };
    let started = Instant::now();
    let run = loadgen::in_child(&soak_load);
    tokio::pin!(run);
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    let report = loop {
        tokio::select! {
            r = &mut run => break r?,
            _ = tick.tick() => {
                let rss = crate::idle::own_rss_bytes().unwrap_or(0) / 1_048_576;
                samples.push((started.elapsed().as_secs(), rss));
                eprintln!("soak: {}s rss {rss} MB", started.elapsed().as_secs());
            }
        }
    };
    let warm: Vec<u64> = samples.iter().filter(|(t, _)| *t >= 60).map(|(_, r)| *r).collect();
    let (lo, hi) = (warm.iter().min().copied().unwrap_or(0), warm.iter().max().copied().unwrap_or(0));
    Ok(json!({
        "seconds": args.soak_secs, "target_per_s": rate.round(), "report": report,
        "rss_mb_every_15s": samples.iter().map(|(t, r)| json!([t, r])).collect::<Vec<_>>(),
        "rss_mb_after_warm_up": {"min": lo, "max": hi, "spread": ratio(hi as f64, lo.max(1) as f64)},
    }))
}

/// Means and percentiles of each stage between two snapshots, and the part
/// of a create's time that is not the broker's fetch waits.
fn stage_split(before: &[stages::StageSnapshot], after: &[stages::StageSnapshot]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    let (mut write, mut fetch) = (0.0, 0.0);
    for (a, b) in after.iter().zip(before) {
        let d = a.since(b);
        if d.count == 0 {
            continue;
        }
        let mean = (d.mean_ms() * 100.0).round() / 100.0;
        if d.stage == stages::Stage::ApiWrite {
            write = d.mean_ms();
        }
        if d.stage.is_fetch() {
            fetch += d.mean_ms();
        }
        out.insert(
            d.stage.name().into(),
            json!({"n": d.count, "mean_ms": mean, "p50_ms": round2(d.quantile_ms(0.5)), "p99_ms": round2(d.quantile_ms(0.99))}),
        );
    }
    out.insert("create_mean_ms".into(), json!((write * 100.0).round() / 100.0));
    out.insert("broker_fetch_mean_ms".into(), json!((fetch * 100.0).round() / 100.0));
    out.insert("not_broker_fetch_mean_ms".into(), json!(((write - fetch).max(0.0) * 100.0).round() / 100.0));
    serde_json::Value::Object(out)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Publishes `n` CreateContact commands for one tenant and waits until the
/// last one is decided and projected: commands/s through the whole pipeline.
async fn bulk_pipeline(bus: &KafkaBus, commands: &dyn Commands, tenant: TenantId, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut last = None;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let envelopes: Vec<CommandEnvelope> =
            chunk.iter().map(|i| crate::bench_scale::create_envelope(tenant, "bulk", *i)).collect();
        let sent = futures::future::join_all(envelopes.iter().map(|e| bus.submit(e))).await;
        sent.into_iter().collect::<Result<Vec<_>, _>>()?;
        last = envelopes.last().map(|e| e.command_id);
    }
    if let Some(last) = last {
        commands
            .wait_for_command(tenant, last, Duration::from_secs(300))
            .await?
            .ok_or_else(|| anyhow::anyhow!("the bulk commands were not all decided in time"))?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// A fresh handler claims every partition: rebuild records/s.
async fn handler_rebuild(cfg: &KafkaConfig) -> anyhow::Result<f64> {
    let handler = Arc::new(Handler::new(cfg.clone(), HandlerConfig::default())?);
    let status = handler.status();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(handler.run((0..cfg.partitions).collect(), rx));
    let started = Instant::now();
    while !status.ready() {
        if started.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("rebuild did not finish");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let records: u64 = status.rebuilds().iter().map(|r| r.records).sum();
    let _ = stop.send(true);
    let _ = task.await;
    Ok(records as f64 / took.as_secs_f64())
}
