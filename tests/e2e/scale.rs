//! Scale-out (issue 9): several handler processes share the partitions
//! through the lease pool. Under a steady command load: kill -9 one, start
//! another, kill -9 two at once. Every partition is served again within the
//! bound, work moves to a new process, every 2xx command has exactly one set
//! of events, and the read model equals a fold of the log. With no handler
//! left, `/readyz` says so.
use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use contact_ledger::{
    app::{self, Roles},
    config::Common,
};
use contact_ledger_tests::{RoleProcess, ends, eventually, fresh_common, read_topic_records, spawn_role};
use ledger_domain::{ContactId, TenantId};
use ledger_ports::Contacts;
use ledger_protocol::{Admit, Fence, LogRecord, Outcome};
use ledger_store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The lease lasts this long in the test; the bound below leaves room for
/// one tick, the rebuild and the claim.
const LEASE_TTL_MS: u64 = 4000;
const BOUND: Duration = Duration::from_secs(15);

fn handler(common: &Common, name: &str) -> RoleProcess {
    spawn_role(&Common { member_id: Some(name.to_owned()), ..common.clone() }, "handler")
}

/// The owners of the handler partitions, once every partition has a working
/// one that is not among `dead`.
async fn all_served(store: &Store, dead: &[&str], within: Duration) -> Option<Vec<String>> {
    eventually(within, || async {
        let owners = store.partition_owners("handler").await.ok()?;
        let all: Option<Vec<String>> = owners.into_iter().map(|(_, o)| o).collect();
        all.filter(|a| !a.is_empty() && a.iter().all(|o| !dead.contains(&o.as_str())))
    })
    .await
}

/// One tenant's answers: status and body of each create, in order.
type TenantAnswers = (TenantId, Vec<(StatusCode, Value)>);

/// A steady load: one client per tenant, each create retried with its
/// Idempotency-Key through 503s until it gets a final answer.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<TenantAnswers>>,
}

impl Load {
    /// `body(t, i)`: the i-th create of the t-th tenant; `tag` prefixes the keys.
    fn start(
        client: &reqwest::Client,
        base: &str,
        tenants: &[(TenantId, String)],
        tag: &'static str,
        body: fn(usize, usize) -> Value,
    ) -> Load {
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for (t, (tenant, key)) in tenants.iter().cloned().enumerate() {
            let (client, stop, sent, url) = (client.clone(), stop.clone(), sent.clone(), format!("{base}/v1/contacts"));
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let answer = loop {
                        let r = client
                            .post(&url)
                            .bearer_auth(&key)
                            .header("Idempotency-Key", format!("{tag}-{t}-{i}"))
                            .json(&body(t, i))
                            .send()
                            .await;
                        if let Ok(r) = r
                            && r.status() != StatusCode::SERVICE_UNAVAILABLE
                        {
                            break (r.status(), r.json::<Value>().await.unwrap_or(Value::Null));
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    };
                    answers.push(answer);
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                (tenant, answers)
            }));
        }
        Load { stop, sent, tasks }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits until `n` creates have had their final answer.
    async fn flowing(&self, n: usize) -> Option<()> {
        eventually(Duration::from_secs(60), || async { (self.sent() >= n).then_some(()) }).await
    }

    async fn finish(self) -> Vec<TenantAnswers> {
        self.stop.store(true, Ordering::Relaxed);
        let mut answers = Vec::new();
        for t in self.tasks {
            answers.push(t.await.expect("load task"));
        }
        answers
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_share_the_partitions_and_take_over_a_killed_ones_within_the_bound() {
    let (common, _db) = fresh_common(4).await;
    let common = Common { lease_ttl_ms: LEASE_TTL_MS, ..common };
    let _projector = spawn_role(&common, "projector");
    let mut handlers: HashMap<&str, RoleProcess> =
        ["h1", "h2", "h3"].into_iter().map(|n| (n, handler(&common, n))).collect();
    let api = app::start(&common, Roles { api: true, ..Roles::NONE }, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("api");
    let base = format!("http://{}", api.addr.expect("addr"));

    let owners = all_served(&api.store, &[], Duration::from_secs(60)).await.expect("every partition served");
    let distinct: BTreeSet<&String> = owners.iter().collect();
    assert_eq!(distinct.len(), 3, "three handlers share four partitions: {owners:?}");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let ready = client.get(format!("{base}/readyz")).send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);

    // Tenants on several partitions.
    let bus = ledger_kafka::KafkaBus::new(api.kafka.clone()).expect("bus");
    let mut tenants = Vec::new();
    for i in 0..6 {
        let t = contact_ledger::tenant::create(&bus, &api.store, &format!("scale-{i}"), Duration::from_secs(30))
            .await
            .expect("tenant");
        tenants.push((
            t["tenant_id"].as_str().expect("id").parse::<TenantId>().expect("tenant id"),
            t["api_key"].as_str().expect("key").to_owned(),
        ));
    }

    let load = Load::start(
        &client,
        &base,
        &tenants,
        "scale",
        |t, i| json!({"kind": "contact", "email": format!("c{t}-{i}@example.com"), "tags": ["scale"]}),
    );
    load.flowing(30).await.expect("commands flow");

    // kill -9 one handler: the other two take its partitions within the bound.
    let mut h1 = handlers.remove("h1").expect("h1");
    let _ = h1.kill();
    let _ = h1.wait();
    let killed = Instant::now();
    let owners = all_served(&api.store, &["h1"], BOUND).await.expect("h1's partitions taken within the bound");
    eprintln!("one of three killed: every partition served again after {:?}", killed.elapsed());
    assert!(owners.iter().all(|o| o == "h2" || o == "h3"), "{owners:?}");
    load.flowing(load.sent() + 30).await.expect("commands flow after the first kill");

    // Start another: work moves to it.
    handlers.insert("h4", handler(&common, "h4"));
    let moved = eventually(BOUND + Duration::from_secs(10), || async {
        let owners = api.store.partition_owners("handler").await.ok()?;
        owners.iter().any(|(_, o)| o.as_deref() == Some("h4")).then_some(())
    })
    .await;
    assert!(moved.is_some(), "no partition moved to the new handler");
    let owners = all_served(&api.store, &["h1"], BOUND).await.expect("every partition served with h4 in");

    // kill -9 two at once: the last one takes everything.
    for name in ["h2", "h3"] {
        let mut h = handlers.remove(name).expect("handler");
        let _ = h.kill();
        let _ = h.wait();
    }
    let killed = Instant::now();
    let taken = eventually(BOUND, || async {
        let owners = api.store.partition_owners("handler").await.ok()?;
        owners.iter().all(|(_, o)| o.as_deref() == Some("h4")).then_some(())
    })
    .await;
    assert!(taken.is_some(), "h4 did not take every partition within the bound (before: {owners:?})");
    eprintln!("two of three killed at once: h4 serves every partition after {:?}", killed.elapsed());
    load.flowing(load.sent() + 30).await.expect("commands flow after the double kill");
    let answers = load.finish().await;

    // With no handler left, readiness says so.
    let mut h4 = handlers.remove("h4").expect("h4");
    let _ = h4.kill();
    let _ = h4.wait();
    let not_ready = eventually(Duration::from_secs(LEASE_TTL_MS / 1000 + 5), || async {
        let r = client.get(format!("{base}/readyz")).send().await.ok()?;
        (r.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(r.json::<Value>().await.ok()?)
    })
    .await
    .expect("/readyz turned 503 with every handler dead");
    assert_eq!(not_ready["failed"], json!(["handler"]), "{not_ready}");
    let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("partitions_served{role=\"handler\"} 0"), "{metrics}");
    assert!(metrics.contains("partitions{role=\"handler\"} 4"), "{metrics}");

    // The projector catches up with the whole log.
    let cfg = api.kafka.clone();
    let highs = ends(&cfg).await;
    eventually(Duration::from_secs(60), || async {
        let positions = api.store.begin_projection(&cfg.events_topic).await.ok()?.positions();
        highs.iter().all(|(p, h)| positions.get(p).copied().unwrap_or(0) >= *h).then_some(())
    })
    .await
    .expect("projector caught up");

    // Every 2xx command has exactly one set of events; the read model is the fold.
    let records = read_topic_records(&cfg).await;
    let mut fences: HashMap<i32, Fence> = HashMap::new();
    let mut decisions: HashMap<String, usize> = HashMap::new();
    let mut created: HashMap<ContactId, usize> = HashMap::new();
    for (p, _, record) in &records {
        if fences.entry(*p).or_default().admit(record) != Admit::Valid {
            continue;
        }
        if let LogRecord::Decision(d) = record {
            *decisions.entry(d.command_id.to_string()).or_default() += 1;
            if let Outcome::Accepted { events, .. } = &d.outcome {
                for e in events {
                    if let ledger_domain::Event::ContactCreated(c) = e {
                        *created.entry(c.contact_id).or_default() += 1;
                    }
                }
            }
        }
    }
    assert!(decisions.values().all(|n| *n == 1), "a command was decided twice");
    let mut total = 0;
    for (tenant, answers) in &answers {
        assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED), "every create got 201: {answers:?}");
        for (_, body) in answers {
            let id: ContactId = body["id"].as_str().expect("id").parse().expect("contact id");
            assert_eq!(created.get(&id), Some(&1), "contact {id} has not exactly one ContactCreated");
        }
        let count = api.store.count_contacts(*tenant, &Default::default()).await.expect("count");
        assert_eq!(count, answers.len() as u64, "the read model has every contact of tenant {tenant}, once");
        total += answers.len();
    }
    assert_eq!(created.len(), total, "no contact was created that no client was told of");
    eprintln!("{total} creates across three kills and a join");
    api.stop().await;
}

/// Valid `InviteRequested` and `InviteSent` invite ids of the log.
async fn invites_in_log(cfg: &ledger_kafka::KafkaConfig) -> (BTreeSet<String>, HashMap<String, usize>) {
    let mut fences: HashMap<i32, Fence> = HashMap::new();
    let (mut requested, mut sent) = (BTreeSet::new(), HashMap::new());
    for (p, _, record) in read_topic_records(cfg).await {
        if fences.entry(p).or_default().admit(&record) != Admit::Valid {
            continue;
        }
        if let LogRecord::Decision(d) = record
            && let Outcome::Accepted { events, .. } = d.outcome
        {
            for e in events {
                match e {
                    ledger_domain::Event::InviteRequested(i) => {
                        requested.insert(i.invite_id.to_string());
                    }
                    ledger_domain::Event::InviteSent(s) => *sent.entry(s.invite_id.to_string()).or_default() += 1,
                    _ => {}
                }
            }
        }
    }
    (requested, sent)
}

async fn owned_by(store: &Store, role: &str, member: &str, within: Duration) -> bool {
    eventually(within, || async {
        let owners = store.partition_owners(role).await.ok()?;
        owners.iter().all(|(_, o)| o.as_deref() == Some(member)).then_some(())
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projectors_and_two_mailers_share_the_partitions_and_survive_a_kill_of_each() {
    let smtp = contact_ledger_tests::smtp::SmtpServer::start().await;
    let (mut common, _db) = fresh_common(4).await;
    common.lease_ttl_ms = LEASE_TTL_MS;
    common.mail.smtp_host = Some("127.0.0.1".into());
    common.mail.smtp_port = Some(smtp.port);
    common.mail.smtp_security = contact_ledger::config::SmtpSecurity::None;
    common.mail.mail_retry_ms = 50;
    let api = app::start(&common, Roles { api: true, handler: true, ..Roles::NONE }, "127.0.0.1:0".parse().expect("a"))
        .await
        .expect("api and handler");
    let base = format!("http://{}", api.addr.expect("addr"));
    let named =
        |role: &str, name: &str| spawn_role(&Common { member_id: Some(name.to_owned()), ..common.clone() }, role);
    let (mut p1, _p2) = (named("projector", "p1"), named("projector", "p2"));
    let (mut m1, _m2) = (named("mailer", "m1"), named("mailer", "m2"));
    for role in ["projector", "mailer"] {
        let shared = eventually(Duration::from_secs(60), || async {
            let owners = api.store.partition_owners(role).await.ok()?;
            let all: Option<BTreeSet<String>> = owners.into_iter().map(|(_, o)| o).collect();
            all.filter(|a| a.len() == 2)
        })
        .await;
        assert!(shared.is_some(), "two {role}s did not share the partitions");
    }

    let bus = ledger_kafka::KafkaBus::new(api.kafka.clone()).expect("bus");
    let mut tenants = Vec::new();
    for i in 0..4 {
        let t = contact_ledger::tenant::create(&bus, &api.store, &format!("pm-{i}"), Duration::from_secs(30))
            .await
            .expect("tenant");
        tenants.push((
            t["tenant_id"].as_str().expect("id").parse::<TenantId>().expect("tenant id"),
            t["api_key"].as_str().expect("key").to_owned(),
        ));
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let load = Load::start(&client, &base, &tenants, "pm", |t, i| {
        json!({"kind": "user", "email": format!("u{t}-{i}@example.com"), "first_name": "U", "last_name": "V",
               "invite": true})
    });
    load.flowing(20).await.expect("commands flow");
    let mailed_before = smtp.messages().len();
    assert!(
        eventually(Duration::from_secs(30), || async { (smtp.messages().len() > mailed_before).then_some(()) })
            .await
            .is_some(),
        "no invite was mailed while commands flowed"
    );

    // kill -9 one projector and one mailer at once.
    for child in [&mut p1, &mut m1] {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(owned_by(&api.store, "projector", "p2", BOUND).await, "p2 did not take every partition within the bound");
    assert!(owned_by(&api.store, "mailer", "m2", BOUND).await, "m2 did not take every partition within the bound");
    load.flowing(load.sent() + 20).await.expect("commands flow after the kills");
    let answers = load.finish().await;

    // Every invite is mailed at least once and recorded sent once.
    let cfg = api.kafka.clone();
    let total: usize = answers.iter().map(|(_, a)| a.len()).sum();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (requested, sent_records) = loop {
        let (requested, sent_records) = invites_in_log(&cfg).await;
        if requested.len() == total && requested.iter().all(|id| sent_records.contains_key(id)) {
            break (requested, sent_records);
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {total} invites recorded sent", sent_records.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for id in &requested {
        assert_eq!(sent_records.get(id), Some(&1), "invite {id} is not recorded sent exactly once");
    }
    let mailed: BTreeSet<String> = smtp
        .messages()
        .iter()
        .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Message-ID: <invite-")).map(str::to_owned))
        .filter_map(|rest| rest.split(['.', '@']).next().map(str::to_owned))
        .collect();
    for id in &requested {
        assert!(mailed.contains(id), "invite {id} was never mailed");
    }

    // The read model has every contact once.
    let highs = ends(&cfg).await;
    eventually(Duration::from_secs(60), || async {
        let positions = api.store.begin_projection(&cfg.events_topic).await.ok()?.positions();
        highs.iter().all(|(p, h)| positions.get(p).copied().unwrap_or(0) >= *h).then_some(())
    })
    .await
    .expect("the surviving projector caught up");
    for (tenant, answers) in &answers {
        assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED), "{answers:?}");
        let count = api.store.count_contacts(*tenant, &Default::default()).await.expect("count");
        assert_eq!(count, answers.len() as u64, "tenant {tenant}");
    }
    eprintln!("{total} invited users across a kill of one projector and one mailer; {} mails", smtp.messages().len());
    api.stop().await;
}
