//! `contact-ledger bench --contacts N`: the service at size (issue 9). Loads
//! N contacts over 100 tenants through the commands topic, decided by a
//! `handler` child process (so its resident memory is its own), and prints:
//! the load rate; the handler's resident memory per contact; claim time from
//! a snapshot and from offset 0; GET-by-id and list-by-tag p99 at that size;
//! and the speed-up of `decide` with 1, 2 and 4 partitions in one process.
use std::{
    process::{Child, Command as Process, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use ledger_domain::{Command, CommandId, ContactKind, CreateContact, Profile, TenantId};
use ledger_kafka::KafkaBus;
use ledger_ports::{CommandBus, Commands, Contacts, Cursor};
use ledger_protocol::{Claim, CommandEnvelope, CommandPosition, LogRecord, PartitionState, Step};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::{
    app::{self, Roles},
    config::Common,
    tenant,
};

const TENANTS: usize = 100;

/// One benchmark contact (`<prefix><i>@example.com`), as the HTTP phase sends it.
pub fn create_envelope(tenant: TenantId, prefix: &str, i: usize) -> CommandEnvelope {
    let profile = Profile {
        email: Some(format!("{prefix}{i}@example.com")),
        name: Some(format!("Bench {i}")),
        tags: ["bench".to_owned()].into(),
        metadata: [("i".to_owned(), json!(i))].into_iter().collect(),
        ..Profile::default()
    };
    CommandEnvelope {
        command_id: CommandId(ulid::Ulid::new()),
        tenant_id: tenant,
        issued_at: Utc::now(),
        command: Command::CreateContact(CreateContact {
            contact_id: None,
            kind: ContactKind::Contact,
            type_id: None,
            profile,
            password_hash: None,
            password: None,
            invite: false,
            access_roles: Vec::new(),
        }),
    }
}

/// A `contact-ledger handler` child process configured like `common`.
fn spawn_handler(common: &Common, member: &str, snapshots: bool) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut c = Process::new(exe);
    c.arg("handler")
        .env("DATABASE_URL", &common.database_url)
        .env("KAFKA_BROKERS", &common.kafka_brokers)
        .env("CL_TOPIC_PREFIX", &common.topic_prefix)
        .env("CL_PARTITIONS", common.partitions.to_string())
        .env("CL_FETCH_WAIT_MS", common.fetch_wait_ms.to_string())
        .env("CL_MEMBER_ID", member)
        .env("CL_SNAPSHOT_EVERY", if snapshots { common.snapshot_every.to_string() } else { "0".into() })
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Ok(c.spawn()?)
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn stop_gracefully(child: &mut Child) {
    // SIGTERM: the handler leaves its pool, so the next one claims at once.
    let _ = Process::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// Waits until every handler partition has a working owner; returns how long it took.
async fn until_served(store: &ledger_store::Store, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if store.partition_coverage("handler").await.is_ok_and(|c| c.complete()) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            anyhow::bail!("the handler did not serve every partition within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn measure(common: &Common, contacts: usize, concurrency: usize) -> anyhow::Result<Value> {
    let running =
        app::start(common, Roles { api: true, projector: true, ..Roles::NONE }, "127.0.0.1:0".parse()?).await?;
    let store = running.store.clone();
    let mut handler = spawn_handler(common, "bench-handler-1", true)?;
    until_served(&store, Duration::from_secs(120)).await?;
    let bus = KafkaBus::new(running.kafka.clone())?;
    let mut tenants = Vec::with_capacity(TENANTS);
    for t in 0..TENANTS {
        let created = tenant::create(&bus, &store, &format!("scale-{t}"), Duration::from_secs(60)).await?;
        let id: TenantId = created["tenant_id"].as_str().unwrap_or_default().parse()?;
        tenants.push((id, created["api_key"].as_str().unwrap_or_default().to_owned()));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_bytes(handler.id());

    // Load through the commands topic, 1000 at a time.
    let started = Instant::now();
    let mut last: Vec<Option<CommandId>> = vec![None; TENANTS];
    let mut i = 0;
    while i < contacts {
        let chunk: Vec<CommandEnvelope> =
            (i..(i + 1000).min(contacts)).map(|n| create_envelope(tenants[n % TENANTS].0, "bench", n)).collect();
        for e in &chunk {
            if let Some(t) = tenants.iter().position(|(id, _)| *id == e.tenant_id) {
                last[t] = Some(e.command_id);
            }
        }
        let sent = futures::future::join_all(chunk.iter().map(|e| bus.submit(e))).await;
        sent.into_iter().collect::<Result<Vec<_>, _>>()?;
        i += chunk.len();
        if i % 100_000 == 0 {
            eprintln!(
                "scale: {i} of {contacts} commands published ({:.0}/s)",
                i as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    let published = started.elapsed();
    for ((tenant, _), last) in tenants.iter().zip(&last) {
        if let Some(id) = last {
            store
                .wait_for_command(*tenant, *id, Duration::from_secs(3600))
                .await?
                .ok_or_else(|| anyhow::anyhow!("the load was not decided and projected in time"))?;
        }
    }
    let loaded = started.elapsed();
    let load_rate = contacts as f64 / loaded.as_secs_f64();
    eprintln!("scale: {contacts} contacts decided and projected in {loaded:?} ({load_rate:.0}/s)");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_bytes(handler.id());
    let per_contact = rss_after.saturating_sub(rss_before) as f64 / contacts.max(1) as f64;

    // Reads at that size.
    let base = format!("http://{}", running.addr.ok_or_else(|| anyhow::anyhow!("no http address"))?);
    let (tenant, key) = tenants[0].clone();
    let ids: Vec<String> = store
        .contacts(tenant, &Default::default(), Cursor::Start, 500)
        .await?
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    let by_id: Vec<String> = ids.iter().map(|id| format!("{base}/v1/contacts/{id}")).collect();
    let get_p99 = p99_of(&by_id, &key, concurrency).await?;
    let by_tag: Vec<String> = (0..500).map(|_| format!("{base}/v1/contacts?tag=bench&limit=50")).collect();
    let tag_p99 = p99_of(&by_tag, &key, concurrency).await?;
    eprintln!("scale: GET by id p99 {get_p99:.1} ms, list by tag p99 {tag_p99:.1} ms");

    // Claim time: a new handler after a graceful stop, from the snapshots, then from offset 0.
    stop_gracefully(&mut handler);
    let mut second = spawn_handler(common, "bench-handler-2", true)?;
    let from_snapshot = until_served(&store, Duration::from_secs(3600)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_claimed = rss_bytes(second.id());
    stop_gracefully(&mut second);
    let mut third = spawn_handler(common, "bench-handler-3", false)?;
    let from_zero = until_served(&store, Duration::from_secs(3600)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_folded = rss_bytes(third.id());
    stop_gracefully(&mut third);
    eprintln!("scale: claim from a snapshot {from_snapshot:?}, from offset 0 {from_zero:?}");
    running.stop().await;

    let speedup = decide_speedup(200_000);
    Ok(json!({
        "contacts": contacts,
        "tenants": TENANTS,
        "partitions": common.partitions,
        "load": {
            "contacts_per_s": load_rate.round(),
            "published_in_s": published.as_secs_f64(),
            "what": "CreateContact commands produced to the commands topic, decided by one handler process and projected",
        },
        "handler_rss": {
            "before_mb": rss_before as f64 / 1e6, "after_mb": rss_after as f64 / 1e6,
            "bytes_per_contact": per_contact.round(),
            "after_claim_from_snapshot_mb": rss_claimed as f64 / 1e6,
            "after_claim_from_offset_0_mb": rss_folded as f64 / 1e6,
            "bytes_per_contact_after_claim_from_snapshot": (rss_claimed as f64 / contacts.max(1) as f64).round(),
            "what": "resident memory of the handler process: the one that decided the load (after minus before), \
                     and fresh processes that claimed the loaded partitions",
        },
        "claim": {
            "from_snapshot_s": from_snapshot.as_secs_f64(), "from_offset_0_s": from_zero.as_secs_f64(),
            "what": "a new handler process until every partition is served (its own start-up included)",
        },
        "reads_at_size": { "get_by_id_p99_ms": get_p99, "list_by_tag_p99_ms": tag_p99, "concurrency": concurrency },
        "decide_speedup": speedup,
    }))
}

async fn p99_of(urls: &[String], key: &str, concurrency: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(urls.len());
    for url in urls {
        let (client, gate, url, key) = (client.clone(), gate.clone(), url.clone(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let t = Instant::now();
            let ok = client.get(url).bearer_auth(key).send().await.is_ok_and(|r| r.status().is_success());
            (t.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (ms, ok) = t.await?;
        anyhow::ensure!(ok, "a read failed");
        latencies.push(ms);
    }
    latencies.sort_by(f64::total_cmp);
    let at = ((latencies.len() as f64 * 0.99) as usize).min(latencies.len().saturating_sub(1));
    Ok((latencies.get(at).copied().unwrap_or(0.0) * 10.0).round() / 10.0)
}

/// Decisions per second with 1, 2 and 4 partitions in one process, each
/// partition on its own thread (as the handler runs each on its own task),
/// with no broker: what the cores give `decide`.
fn decide_speedup(commands: usize) -> Value {
    let rate = |partitions: usize| {
        let started = Instant::now();
        std::thread::scope(|s| {
            for p in 0..partitions {
                s.spawn(move || {
                    let mut state = PartitionState::new(chrono::Duration::days(7));
                    state.apply(&LogRecord::Claim(Claim { epoch: 1, writer_id: "b".into(), claimed_at: Utc::now() }));
                    state.become_writer(1);
                    let tenant = TenantId(ulid::Ulid::from_parts(p as u64, 1));
                    let mut offset = 0;
                    let mut step = |env: CommandEnvelope| {
                        offset += 1;
                        let pos = CommandPosition { topic: "c".into(), partition: p as i32, offset };
                        matches!(state.handle(Ok(env), pos, chrono::Utc::now()), Step::Append(_))
                    };
                    let create = CommandEnvelope {
                        command_id: CommandId(ulid::Ulid::new()),
                        tenant_id: tenant,
                        issued_at: Utc::now(),
                        command: Command::CreateTenant(ledger_domain::CreateTenant {
                            name: "t".into(),
                            api_key_hash: "h".into(),
                        }),
                    };
                    step(create);
                    for i in 0..commands / partitions {
                        step(create_envelope(tenant, "bench", i));
                    }
                });
            }
        });
        commands as f64 / started.elapsed().as_secs_f64()
    };
    let (one, two, four) = (rate(1), rate(2), rate(4));
    json!({
        "decisions_per_s": { "1": one.round(), "2": two.round(), "4": four.round() },
        "speedup": { "2": (two / one * 100.0).round() / 100.0, "4": (four / one * 100.0).round() / 100.0 },
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "what": "decide() alone, each partition on its own thread, no broker",
    })
}
