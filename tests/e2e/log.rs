use std::{sync::Arc, time::Duration};

use contact_ledger::app::Roles;
use contact_ledger_tests::{
    eventually, first_dead_letter, fresh_common, producer, spawn_app, spawn_app_from, spawn_app_with, user,
};
use ledger_domain::Event;
use ledger_kafka::{Handler, HandlerConfig, Phase};
use ledger_ports::Commands;
use ledger_protocol::{Admit, LogRecord, Outcome};
use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::FutureRecord,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

fn created_for(log: &[(i32, i64, LogRecord, Admit)], email: &str) -> usize {
    log.iter()
        .filter(|(_, _, _, a)| *a == Admit::Valid)
        .filter_map(|(_, _, r, _)| match r {
            LogRecord::Decision(d) => match &d.outcome {
                Outcome::Accepted { events, .. } => Some(events.clone()),
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .filter(|e| matches!(e, Event::ContactCreated(c) if c.profile.email.as_deref() == Some(email)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_creates_of_one_user_email_give_one_201_and_the_rest_409() {
    let app = spawn_app_with(2, Roles::ALL).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (client, url, key) = (app.client.clone(), app.url("/v1/contacts"), app.key.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(key)
                .header("Idempotency-Key", format!("race-{i}"))
                .json(&user("race@example.com"))
                .send()
                .await;
            r.map(|r| r.status()).ok()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task").expect("response"));
    }
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (1, 49), "{statuses:?}");
    assert_eq!(created_for(&app.log().await, "race@example.com"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_produced_straight_to_the_topic_is_decided_and_readable_over_http() {
    let app = spawn_app().await;
    let command_id = ulid::Ulid::new().to_string();
    let envelope = json!({
        "command_id": command_id, "tenant_id": app.tenant_id, "type": "CreateContact",
        "issued_at": chrono::Utc::now(), "payload": {"kind": "contact", "email": "kafka@example.com", "external_id": "k-1"}
    });
    let bytes = serde_json::to_vec(&envelope).expect("json");
    let p = producer(&app.common.kafka_brokers);
    let cfg = app.kafka();
    p.send(FutureRecord::to(&cfg.commands_topic).key(app.tenant_id.as_bytes()).payload(&bytes), Duration::from_secs(5))
        .await
        .expect("produce");
    let got = eventually(Duration::from_secs(20), || async {
        let r = app.get("/v1/contacts/k-1").await;
        (r.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(got.is_some(), "the command was not decided");
    let status: Value = app.get(&format!("/v1/commands/{command_id}")).await.json().await.expect("json");
    assert_eq!(status["status"], "accepted");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_command_goes_to_the_dead_letter_topic_and_the_partition_moves_on() {
    let app = spawn_app().await;
    let cfg = app.kafka();
    let p = producer(&app.common.kafka_brokers);
    p.send(
        FutureRecord::to(&cfg.commands_topic).key(app.tenant_id.as_bytes()).payload("{not json"),
        Duration::from_secs(5),
    )
    .await
    .expect("produce");
    // A valid command behind it is still decided.
    app.create_contact(json!({"kind": "contact", "email": "after@example.com"})).await;
    let text = first_dead_letter(&cfg).await;
    assert!(text.contains("{not json"), "{text}");
    assert!(text.contains("cl-dlq-topic") && text.contains(&cfg.commands_topic), "{text}");
    assert!(text.contains("cl-dlq-offset") && text.contains("not JSON"), "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_published_twice_produces_its_events_once() {
    let app = spawn_app().await;
    let cfg = app.kafka();
    let command_id = ulid::Ulid::new().to_string();
    let envelope = json!({
        "command_id": command_id, "tenant_id": app.tenant_id, "type": "CreateContact",
        "issued_at": chrono::Utc::now(), "payload": {"kind": "contact", "email": "twice@example.com"}
    });
    let bytes = serde_json::to_vec(&envelope).expect("json");
    let p = producer(&app.common.kafka_brokers);
    for _ in 0..2 {
        p.send(
            FutureRecord::to(&cfg.commands_topic).key(app.tenant_id.as_bytes()).payload(&bytes),
            Duration::from_secs(5),
        )
        .await
        .expect("produce");
    }
    // A marker command behind both tells us both were handled.
    app.create_contact(json!({"kind": "contact", "email": "marker@example.com"})).await;
    let log = app.log().await;
    assert_eq!(created_for(&log, "twice@example.com"), 1);
    let decisions = log
        .iter()
        .filter(|(_, _, r, _)| matches!(r, LogRecord::Decision(d) if d.command_id.to_string() == command_id))
        .count();
    assert_eq!(decisions, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_handler_rebuilds_its_state_and_keeps_the_rules() {
    let app = spawn_app_with(1, Roles { api: true, projector: true, ..Roles::NONE }).await;
    let cfg = app.kafka();
    let first = Arc::new(Handler::new(cfg.clone(), HandlerConfig::default()).expect("handler"));
    let (stop_first, rx) = watch::channel(false);
    let status = first.status();
    let task = tokio::spawn(first.run(vec![0], rx));
    eventually(Duration::from_secs(30), || async { status.ready().then_some(()) }).await.expect("first ready");
    let mut app = app;
    let (tenant, key) = app.create_tenant("acme").await;
    app.key = key;
    app.tenant_id = tenant;
    app.create_contact(user("keep@example.com")).await;
    stop_first.send(true).expect("stop");
    task.await.expect("join");

    let second = Arc::new(Handler::new(cfg, HandlerConfig::default()).expect("handler"));
    let (_stop, rx) = watch::channel(false);
    let status = second.status();
    tokio::spawn(second.run(vec![0], rx));
    eventually(Duration::from_secs(30), || async { status.ready().then_some(()) }).await.expect("second ready");
    let r = app.post("/v1/contacts", &user("keep@example.com")).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "the rebuilt state must know the first user");
    let next = app.create_contact(json!({"kind": "contact", "email": "n@example.com"})).await;
    assert_eq!(next["number"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_old_writer_resumed_after_a_new_claim_is_ignored_by_every_reader() {
    let app = spawn_app_with(1, Roles { api: true, projector: true, ..Roles::NONE }).await;
    let cfg = app.kafka();
    let (gate, gate_rx) = watch::channel(false);
    let old = Arc::new(Handler::new(cfg.clone(), HandlerConfig::default()).expect("handler").with_pause_gate(gate_rx));
    let old_status = old.status();
    let (_stop_old, rx) = watch::channel(false);
    tokio::spawn(old.run(vec![0], rx));
    eventually(Duration::from_secs(30), || async { old_status.ready().then_some(()) }).await.expect("old ready");
    let mut app = app;
    let (tenant, key) = app.create_tenant("acme").await;
    app.key = key;
    app.tenant_id = tenant;

    // The old writer decides the next command but is paused before appending.
    gate.send(true).expect("pause");
    let pending = {
        let (client, url, key) = (app.client.clone(), app.url("/v1/contacts"), app.key.clone());
        tokio::spawn(async move {
            client.post(url).bearer_auth(key).json(&user("zombie@example.com")).send().await.map(|r| r.status())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A new writer claims the partition and decides the same command again.
    let new = Arc::new(Handler::new(cfg, HandlerConfig::default()).expect("handler"));
    let new_status = new.status();
    let (_stop_new, rx) = watch::channel(false);
    tokio::spawn(new.run(vec![0], rx));
    eventually(Duration::from_secs(30), || async { new_status.ready().then_some(()) }).await.expect("new ready");
    assert_eq!(pending.await.expect("join").expect("response"), StatusCode::CREATED);
    let second = app.post("/v1/contacts", &user("zombie@example.com")).await;
    assert_eq!(second.status(), StatusCode::CONFLICT);

    // The old writer wakes up and appends its late decision.
    gate.send(false).expect("resume");
    let late = eventually(Duration::from_secs(20), || async {
        let log = app.log().await;
        log.iter().any(|(_, _, _, a)| *a == Admit::Superseded).then_some(log)
    })
    .await
    .expect("the old writer's late record reaches the log");
    assert_eq!(created_for(&late, "zombie@example.com"), 1, "only the new writer's decision counts");
    eventually(Duration::from_secs(20), || async { (old_status.phase(0) == Some(Phase::Superseded)).then_some(()) })
        .await
        .expect("the old writer notices it was superseded");
    let list: Value = app.get("/v1/contacts?email=zombie@example.com").await.json().await.expect("json");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_identical_read_models() {
    let app = spawn_app_with(2, Roles::ALL).await;
    for i in 0..20 {
        app.create_contact(json!({"kind": "contact", "email": format!("r{i}@example.com"), "tags": ["t"]})).await;
    }
    let c = app.create_contact(user("replay@example.com")).await;
    app.patch(&format!("/v1/contacts/{}", c["id"].as_str().expect("id")), &json!({"title": "Dr"}), None).await;
    let _ = app.post("/v1/contacts", &user("replay@example.com")).await; // a rejection is projected too
    let before = app.store().dump_read_models().await.expect("dump");
    let report = contact_ledger::replay::replay(app.store(), &app.kafka(), false).await.expect("replay");
    assert!(report.records >= 20, "{}", report.records);
    // The replay rebuilds up to the end the broker reports; the live projector
    // carries on from the offsets it stored.
    let after = eventually(Duration::from_secs(20), || async {
        let after = app.store().dump_read_models().await.expect("dump");
        (after == before).then_some(after)
    })
    .await;
    assert!(after.is_some(), "the rebuilt read models never equalled the old ones");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_event_is_dead_lettered_by_the_projector_which_moves_on() {
    let app = spawn_app().await;
    let cfg = app.kafka();
    let p = producer(&app.common.kafka_brokers);
    let garbage = OwnedHeaders::new().insert(Header { key: "cl-record", value: Some("decision") });
    p.send(
        FutureRecord::to(&cfg.events_topic).partition(0).key("x").payload("garbage").headers(garbage),
        Duration::from_secs(5),
    )
    .await
    .expect("produce");
    // The projector passes the bad record and keeps projecting.
    app.create_contact(json!({"kind": "contact", "email": "after-garbage@example.com"})).await;
    let text = first_dead_letter(&cfg).await;
    assert!(text.contains("garbage") && text.contains(&cfg.events_topic), "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_command_id_is_a_duplicate_inside_the_dedup_window_and_refused_past_it() {
    // A 3-second window, so the test can step past it in real time.
    let (mut common, db) = fresh_common(1).await;
    common.dedup_window_secs = 3;
    let app = spawn_app_from(common, db, Roles::ALL, "127.0.0.1:0").await;
    let cfg = app.kafka();
    let p = producer(&app.common.kafka_brokers);
    let envelope = |id: &str, email: &str, issued_at: chrono::DateTime<chrono::Utc>| {
        serde_json::to_vec(&json!({
            "command_id": id, "tenant_id": app.tenant_id, "type": "CreateContact",
            "issued_at": issued_at, "payload": {"kind": "contact", "email": email}
        }))
        .expect("json")
    };
    let send = |bytes: Vec<u8>| {
        let p = p.clone();
        let topic = cfg.commands_topic.clone();
        let key = app.tenant_id.clone();
        async move {
            p.send(FutureRecord::to(&topic).key(key.as_bytes()).payload(&bytes), Duration::from_secs(5))
                .await
                .expect("produce");
        }
    };
    let (old, future, on_time) =
        (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
    let old_at = chrono::Utc::now();
    send(envelope(&old, "old@example.com", old_at)).await;
    send(envelope(&old, "old@example.com", old_at)).await;
    // A client whose clock is a month ahead: refused, and it does not move the
    // window past everyone else.
    send(envelope(&future, "future@example.com", old_at + chrono::Duration::days(30))).await;
    send(envelope(&on_time, "on-time@example.com", chrono::Utc::now())).await;
    app.create_contact(json!({"kind": "contact", "email": "marker1@example.com"})).await;
    // Past the window: a decision now moves it on, and `old` is behind it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.create_contact(json!({"kind": "contact", "email": "marker2@example.com"})).await;
    send(envelope(&old, "old@example.com", old_at)).await;
    send(envelope(&future, "future@example.com", old_at + chrono::Duration::days(30))).await;
    // Its clock put right, the same command id is decided (the refusals were
    // not decisions).
    send(envelope(&future, "future@example.com", chrono::Utc::now())).await;
    app.create_contact(json!({"kind": "contact", "email": "marker3@example.com"})).await;
    let log = app.log().await;
    let outcomes = |id: &str| -> Vec<String> {
        log.iter()
            .filter_map(|(_, _, r, a)| match r {
                LogRecord::Decision(d) if d.command_id.to_string() == id && *a == Admit::Valid => {
                    Some(match &d.outcome {
                        Outcome::Accepted { .. } => "accepted".to_owned(),
                        Outcome::Rejected { rejection, .. } => rejection.code().as_str().to_owned(),
                    })
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        outcomes(&old),
        ["accepted", "command_too_old"],
        "a retry inside the window appends nothing; one issued before the window is refused, never decided again"
    );
    assert_eq!(outcomes(&on_time), ["accepted"], "a command from a client ahead in time did not make this one too old");
    assert_eq!(
        outcomes(&future),
        ["validation_failed", "validation_failed", "accepted"],
        "a command from a month ahead is refused each time, and decided once it is due"
    );
    assert_eq!(created_for(&log, "old@example.com"), 1);
    assert_eq!(created_for(&log, "future@example.com"), 1);
    // The read model shows the decision, not the refusals before it.
    let future_id: ledger_domain::CommandId = future.parse().expect("id");
    let tenant: ledger_domain::TenantId = app.tenant_id.parse().expect("tenant");
    let view = app.store().command(tenant, future_id).await.expect("read").expect("projected");
    assert_eq!(view.status, ledger_ports::CommandStatus::Accepted);
    app.stop().await;
}
