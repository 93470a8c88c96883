//! kill -9 of the mailer mid-batch: every invite is delivered at least once
//! and recorded once; a crash re-sends at most once, with the same Message-ID.
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use contact_ledger::{app::Roles, config::SmtpSecurity};
use contact_ledger_tests::{
    eventually, fresh_common, read_topic_records, smtp::SmtpServer, spawn_app_from, spawn_role, user,
};
use ledger_domain::Event;
use ledger_protocol::{Admit, Fence, LogRecord, Outcome};
use rand::{Rng, SeedableRng, rngs::StdRng};

const INVITES: usize = 200;

/// Valid events of the log, by type name.
async fn valid_events(cfg: &ledger_kafka::KafkaConfig) -> Vec<Event> {
    let mut fences: HashMap<i32, Fence> = HashMap::new();
    let mut out = Vec::new();
    for (p, _, record) in read_topic_records(cfg).await {
        if fences.entry(p).or_default().admit(&record) != Admit::Valid {
            continue;
        }
        if let LogRecord::Decision(d) = record
            && let Outcome::Accepted { events, .. } = d.outcome
        {
            out.extend(events);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_of_the_mailer_mid_batch_delivers_every_invite_and_records_it_once() {
    let smtp = SmtpServer::start().await;
    let (mut common, db) = fresh_common(1).await;
    common.mail.smtp_host = Some("127.0.0.1".into());
    common.mail.smtp_port = Some(smtp.port);
    common.mail.smtp_security = SmtpSecurity::None;
    common.mail.mail_retry_ms = 50;
    let app = spawn_app_from(common.clone(), db, Roles { mailer: false, ..Roles::ALL }, "127.0.0.1:0").await;

    // All invites are decided before the mailer starts, so it has a backlog.
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..INVITES {
        let (client, url, key, gate) = (app.client.clone(), app.url("/v1/contacts"), app.key.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            let mut body = user(&format!("invitee{i}@example.com"));
            body["invite"] = serde_json::json!(true);
            if let Some(o) = body.as_object_mut() {
                o.remove("password");
            }
            client.post(url).bearer_auth(key).json(&body).send().await.map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("response"), 201);
    }

    // kill -9 the mailer mid-batch: each new mailer is held until it has
    // mailed at least one invite of its own (so the kill lands while it works
    // through the backlog, however slow the machine), then killed a random
    // moment later.
    let cfg = app.kafka();
    let mut rng = StdRng::seed_from_u64(11);
    let (mut kills, mut mid_batch) = (0, 0);
    let mut mailer = spawn_role(&common, "mailer");
    while kills < 12 {
        let at_spawn = smtp.messages().len();
        if at_spawn >= INVITES {
            break;
        }
        let working =
            eventually(Duration::from_secs(90), || async { (smtp.messages().len() > at_spawn).then_some(()) }).await;
        assert!(working.is_some(), "a restarted mailer sent nothing within 90 s ({kills} kills so far)");
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
        let mailed = smtp.messages().len();
        if mailed >= INVITES {
            break;
        }
        let _ = mailer.kill();
        let _ = mailer.wait();
        kills += 1;
        mid_batch += 1;
        mailer = spawn_role(&common, "mailer");
    }
    assert!(mid_batch >= 1, "no kill landed mid-batch ({kills} kills)");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let sent = valid_events(&cfg).await.iter().filter(|e| matches!(e, Event::InviteSent(_))).count();
        if sent >= INVITES {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {sent} of {INVITES} invites recorded sent");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = mailer.kill();
    let _ = mailer.wait();

    let events = valid_events(&cfg).await;
    let requested: HashSet<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::InviteRequested(i) => Some(i.invite_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(requested.len(), INVITES);
    let mut sent_records: HashMap<String, usize> = HashMap::new();
    for e in &events {
        if let Event::InviteSent(s) = e {
            *sent_records.entry(s.invite_id.to_string()).or_default() += 1;
        }
    }
    for id in &requested {
        assert_eq!(sent_records.get(id), Some(&1), "invite {id} is not recorded sent exactly once");
    }
    let mut mails: HashMap<String, usize> = HashMap::new();
    for m in smtp.messages() {
        let id = m
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <invite-"))
            .and_then(|rest| rest.split(['.', '@']).next())
            .expect("a Message-ID derived from the invite id")
            .to_owned();
        *mails.entry(id).or_default() += 1;
    }
    for id in &requested {
        assert!(mails.get(id).is_some_and(|n| *n >= 1), "invite {id} was never mailed");
    }
    let resent: usize = mails.values().map(|n| n - 1).sum();
    assert!(resent <= kills, "{resent} re-sends for {kills} kills: a crash may re-send at most once");
    eprintln!(
        "mailer kill -9: {kills} kills ({mid_batch} mid-batch), {} mails for {INVITES} invites",
        mails.values().sum::<usize>()
    );
    app.stop().await;
}
