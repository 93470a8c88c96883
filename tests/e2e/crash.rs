//! kill -9 at random points while 2,000 commands flow: after restart every
//! 2xx command has exactly one set of events, the read models equal a fold
//! of the log, and nothing is missing. The killed role runs as a real
//! `contact-ledger` process (built by `scripts/test` before the tests).
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use contact_ledger::{
    app::{self, Roles},
    config::Common,
};
use contact_ledger_tests::{ends, eventually, fresh_common, read_topic_records, spawn_role};
use ledger_domain::{ContactId, TenantId};
use ledger_ports::Contacts;
use ledger_protocol::{Admit, Fence, LogRecord, Outcome, PartitionState};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

const COMMANDS: usize = 2000;

/// Sends one create until it gets a final answer (2xx or 4xx), retrying with
/// the same Idempotency-Key through 503s and dropped connections.
async fn create_until_answered(client: &reqwest::Client, url: &str, key: &str, i: usize) -> (StatusCode, Value) {
    // Every 10th email repeats an earlier one: those must be 409 (or, if it
    // raced ahead of the first, the first one is).
    let email = if i % 10 == 9 { format!("c{}@example.com", i - 1) } else { format!("c{i}@example.com") };
    let body = json!({"kind": "contact", "email": email, "tags": ["crash"], "metadata": {"i": i}});
    for _ in 0..100 {
        let r =
            client.post(url).bearer_auth(key).header("Idempotency-Key", format!("crash-{i}")).json(&body).send().await;
        if let Ok(r) = r {
            let status = r.status();
            if status != StatusCode::SERVICE_UNAVAILABLE {
                return (status, r.json().await.unwrap_or(Value::Null));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("command {i} never got an answer");
}

async fn kill_nine_while_commands_flow(victim: &'static str) {
    let (common, _db) = fresh_common(2).await;
    let other = if victim == "handler" { "projector" } else { "handler" };
    let mut other_child = spawn_role(&common, other);
    // Restarted in place under the same member id (as a StatefulSet pod or a
    // systemd unit is), the victim takes its partitions back at once rather
    // than after its leases expire.
    let common = Common { member_id: Some(format!("victim-{victim}")), ..common };
    let victim_child = Arc::new(Mutex::new(spawn_role(&common, victim)));
    let api = app::start(&common, Roles { api: true, ..Roles::NONE }, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("api");
    let base = format!("http://{}", api.addr.expect("addr"));
    let bus = ledger_kafka::KafkaBus::new(api.kafka.clone()).expect("bus");
    let tenant = eventually(Duration::from_secs(60), || async {
        contact_ledger::tenant::create(&bus, &api.store, "crash", Duration::from_secs(5)).await.ok()
    })
    .await
    .expect("tenant created once both roles run");
    let key = tenant["api_key"].as_str().expect("key").to_owned();
    let tenant_id: TenantId = tenant["tenant_id"].as_str().expect("id").parse().expect("tenant id");

    // The killer: kill -9 at random points, restart shortly after.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // The second half of the commands waits for the third kill, so at least
    // three kills land while commands flow, however fast or slow the machine.
    let (kills_seen, kills_rx) = tokio::sync::watch::channel(0usize);
    let killer = {
        let (victim_child, common) = (victim_child.clone(), common.clone());
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(7);
            let mut kills = 0;
            loop {
                kills_seen.send_replace(kills);
                let wait = Duration::from_millis(rng.gen_range(300..1200));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop_rx.changed() => return kills,
                }
                let mut child = victim_child.lock().await;
                let _ = child.kill(); // SIGKILL
                let _ = child.wait();
                kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..400))).await;
                *child = spawn_role(&common, victim);
            }
        })
    };

    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let gate = Arc::new(Semaphore::new(16));
    let url = format!("{base}/v1/contacts");
    let mut tasks = Vec::with_capacity(COMMANDS);
    for i in 0..COMMANDS {
        let (client, gate, url, key) = (client.clone(), gate.clone(), url.clone(), key.clone());
        let mut kills_rx = kills_rx.clone();
        tasks.push(tokio::spawn(async move {
            if i >= COMMANDS / 2 {
                let three = tokio::time::timeout(Duration::from_secs(120), kills_rx.wait_for(|k| *k >= 3)).await;
                assert!(matches!(three, Ok(Ok(_))), "three kills never happened within 120 s");
            }
            let _permit = gate.acquire().await;
            (i, create_until_answered(&client, &url, &key, i).await)
        }));
    }
    let mut answers = Vec::with_capacity(COMMANDS);
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    let _ = stop_tx.send(true);
    let kills = killer.await.expect("killer");
    assert!(kills >= 3, "the {victim} was killed only {kills} times");
    eprintln!("kill -9 of the {victim}: {kills} kills while {COMMANDS} commands flowed");

    // Let the projector catch up with the whole log.
    let cfg = api.kafka.clone();
    let highs = ends(&cfg).await;
    eventually(Duration::from_secs(60), || async {
        let positions = api.store.begin_projection(&cfg.events_topic).await.ok()?.positions();
        highs.iter().all(|(p, h)| positions.get(p).copied().unwrap_or(0) >= *h).then_some(())
    })
    .await
    .expect("projector caught up");

    // Fold the log exactly as the handler does.
    let records = read_topic_records(&cfg).await;
    let mut fences: HashMap<i32, Fence> = HashMap::new();
    let mut states: HashMap<i32, PartitionState> = HashMap::new();
    let mut decisions_per_command: HashMap<String, usize> = HashMap::new();
    let mut created_ids: HashMap<ContactId, usize> = HashMap::new();
    for (p, _, record) in &records {
        states.entry(*p).or_insert_with(|| PartitionState::new(chrono::Duration::days(7))).apply(record);
        if fences.entry(*p).or_default().admit(record) != Admit::Valid {
            continue;
        }
        if let LogRecord::Decision(d) = record {
            *decisions_per_command.entry(d.command_id.to_string()).or_default() += 1;
            if let Outcome::Accepted { events, .. } = &d.outcome {
                for e in events {
                    if let ledger_domain::Event::ContactCreated(c) = e {
                        *created_ids.entry(c.contact_id).or_default() += 1;
                    }
                }
            }
        }
    }
    assert!(decisions_per_command.values().all(|n| *n == 1), "a command was decided twice");
    let folded: HashMap<ContactId, ledger_domain::Contact> = states
        .values()
        .filter_map(|s| s.tenants.get(&tenant_id))
        .flat_map(|t| t.contacts().map(|c| (c.id, c)).collect::<Vec<_>>())
        .collect();

    let created: Vec<&Value> =
        answers.iter().filter(|(_, (s, _))| *s == StatusCode::CREATED).map(|(_, (_, b))| b).collect();
    let conflicts = answers.iter().filter(|(_, (s, _))| *s == StatusCode::CONFLICT).count();
    assert_eq!(created.len() + conflicts, COMMANDS, "every command got 201 or 409");
    assert_eq!(created.len(), COMMANDS - COMMANDS / 10, "one contact per distinct email");
    for body in &created {
        let id: ContactId = body["id"].as_str().expect("id").parse().expect("contact id");
        assert_eq!(created_ids.get(&id), Some(&1), "contact {id} has not exactly one ContactCreated");
    }

    // The read model equals the fold, and nothing is missing.
    let mut in_db = Vec::new();
    let mut after = None;
    loop {
        let page = api
            .store
            .contacts(tenant_id, &Default::default(), ledger_ports::Cursor::from(after), 100)
            .await
            .expect("page");
        after = page.last().map(|c| c.id);
        let done = page.len() < 100;
        in_db.extend(page);
        if done {
            break;
        }
    }
    assert_eq!(in_db.len(), folded.len());
    assert_eq!(in_db.len(), created.len());
    let numbers: HashSet<u64> = in_db.iter().map(|c| c.number).collect();
    assert_eq!(numbers.len(), in_db.len(), "numbers are unique");
    for c in &in_db {
        let f = folded.get(&c.id).expect("a read-model contact the log does not have");
        assert_eq!(
            (c.number, c.kind, &c.profile, c.version, c.registered),
            (f.number, f.kind, &f.profile, f.version, f.registered)
        );
    }

    for child in [&mut *victim_child.lock().await, &mut other_child] {
        let _ = child.kill();
        let _ = child.wait();
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_of_the_handler_while_2000_commands_flow_loses_and_duplicates_nothing() {
    kill_nine_while_commands_flow("handler").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_of_the_projector_while_2000_commands_flow_loses_and_duplicates_nothing() {
    kill_nine_while_commands_flow("projector").await;
}
