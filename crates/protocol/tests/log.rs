//! The log protocol: records survive encoding, the fence decides who counts,
//! and the partition state machine decides each command id once.
use chrono::{Duration, TimeZone, Utc};
use ledger_domain::{CommandId, Event, Rejection, TenantId};
use ledger_protocol::{
    Admit, Claim, CommandEnvelope, CommandPosition, Decision, EnvelopeError, Fence, LogRecord, Outcome, PartitionState,
    Step,
};
use serde_json::json;
use ulid::Ulid;

fn tenant() -> TenantId {
    TenantId(Ulid::from_parts(1, 1))
}

fn envelope(n: u64, ty: &str, payload: serde_json::Value) -> Result<CommandEnvelope, EnvelopeError> {
    CommandEnvelope::from_json(&json!({
        "command_id": Ulid::from_parts(1_700_000_000_000 + n, u128::from(n)).to_string(),
        "tenant_id": tenant().to_string(),
        "type": ty,
        "issued_at": Utc.timestamp_opt(1_700_000_000 + n as i64, 0).unwrap(),
        "payload": payload,
    }))
}

fn pos(offset: i64) -> CommandPosition {
    CommandPosition { topic: "commands".into(), partition: 0, offset }
}

fn claim(epoch: u64) -> LogRecord {
    LogRecord::Claim(Claim { epoch, writer_id: format!("w{epoch}"), claimed_at: Utc.timestamp_opt(0, 0).unwrap() })
}

fn decision_of(step: Step) -> Decision {
    match step {
        Step::Append(d) => *d,
        other => panic!("expected a decision, got {other:?}"),
    }
}

fn writer() -> PartitionState {
    let mut s = PartitionState::new(Duration::days(7));
    s.apply(&claim(1));
    s.become_writer(1);
    s
}

#[test]
fn decisions_survive_encoding_as_cloudevents() {
    let mut s = writer();
    let d = decision_of(s.handle(
        envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})),
        pos(0),
        Utc::now(),
    ));
    let c = decision_of(s.handle(
        envelope(
            2,
            "CreateContact",
            json!({"kind": "user", "first_name": "A", "last_name": "B", "email": "a@b.co", "invite": true}),
        ),
        pos(1),
        Utc::now(),
    ));
    let r = decision_of(s.handle(envelope(3, "CreateContact", json!({"kind": "contact"})), pos(2), Utc::now()));
    for d in [d, c, r] {
        let rec = LogRecord::Decision(d);
        let enc = rec.encode().expect("encodes");
        let headers: Vec<(String, Vec<u8>)> =
            enc.headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into_bytes())).collect();
        assert_eq!(LogRecord::decode(&headers, &enc.value).expect("decodes"), rec);
        let v: serde_json::Value = serde_json::from_slice(&enc.value).expect("json");
        let first = if v.is_array() { v[0].clone() } else { v };
        assert_eq!(first["specversion"], "1.0");
    }
    let enc = claim(3).encode().expect("encodes");
    let headers: Vec<(String, Vec<u8>)> =
        enc.headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into_bytes())).collect();
    assert!(matches!(LogRecord::decode(&headers, &enc.value), Ok(LogRecord::Claim(c)) if c.epoch == 3));
    // A claim whose time cannot be read is an error (dead-lettered), not a
    // claim of 1970.
    let err = LogRecord::decode(&headers, &without_time(&enc.value)).expect_err("undecodable");
    assert!(err.to_string().contains("time"), "{err}");
}

/// A record's value with its CloudEvents `time` made unreadable.
fn without_time(value: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(value).expect("json");
    v["time"] = json!("not a time");
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn the_fence_ignores_a_superseded_writer_and_a_losing_claim() {
    let mut f = Fence::default();
    assert_eq!(f.admit_claim(1), Admit::NewClaim(1));
    assert_eq!(f.admit_decision(1), Admit::Valid);
    assert_eq!(f.admit_claim(2), Admit::NewClaim(2));
    assert_eq!(f.admit_decision(1), Admit::Superseded, "the old writer's late record");
    assert_eq!(f.admit_claim(2), Admit::StaleClaim, "a second claim at the same epoch loses");
    assert_eq!(f.admit_decision(3), Admit::Superseded, "no claim, no trust");
    assert_eq!(f.admit_decision(2), Admit::Valid);
    assert_eq!(f.max_seen(), 3);
    assert_eq!(Fence::default().admit_decision(0), Admit::Superseded);
}

#[test]
fn a_command_id_is_decided_once_and_the_resume_point_follows_the_log() {
    let mut s = writer();
    decision_of(s.handle(envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(0), Utc::now()));
    let again = s.handle(envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(1), Utc::now());
    assert!(matches!(again, Step::Duplicate(_)));
    assert_eq!(s.next_command_offset(), 1);
}

#[test]
fn a_rebuilt_state_agrees_with_the_writer_and_skips_superseded_records() {
    let mut w = writer();
    let mut log = vec![claim(1)];
    for (i, (ty, p)) in [
        ("CreateTenant", json!({"name": "a", "api_key_hash": "h"})),
        ("CreateContact", json!({"kind": "recipient", "email": "r@x.io"})),
    ]
    .into_iter()
    .enumerate()
    {
        log.push(LogRecord::Decision(decision_of(w.handle(envelope(i as u64 + 1, ty, p), pos(i as i64), Utc::now()))));
    }
    // A zombie (epoch 1) appends after a newer claim (epoch 2): it must not count.
    let mut zombie = w;
    let late = decision_of(zombie.handle(
        envelope(9, "CreateContact", json!({"kind": "recipient", "email": "z@x.io"})),
        pos(9),
        Utc::now(),
    ));
    log.push(claim(2));
    log.push(LogRecord::Decision(late));

    let mut rebuilt = PartitionState::new(Duration::days(7));
    let verdicts: Vec<Admit> = log.iter().map(|r| rebuilt.apply(r)).collect();
    assert_eq!(verdicts.last(), Some(&Admit::Superseded));
    assert_eq!(rebuilt.next_command_offset(), 2, "resume after the last valid decision");
    assert_eq!(rebuilt.next_epoch(), 3);
    let t = &rebuilt.tenants[&tenant()];
    assert_eq!(t.contact_count(), 1);
    // The command the zombie decided is decided again by the new writer.
    rebuilt.become_writer(2);
    let redo = decision_of(rebuilt.handle(
        envelope(9, "CreateContact", json!({"kind": "recipient", "email": "z@x.io"})),
        pos(9),
        Utc::now(),
    ));
    assert_eq!(redo.epoch, 2);
    assert!(
        matches!(redo.outcome, Outcome::Accepted { ref events, .. } if matches!(events[0], Event::ContactCreated(_)))
    );
}

#[test]
fn an_unreadable_envelope_is_dead_lettered_and_a_bad_payload_is_rejected() {
    let mut s = writer();
    assert!(matches!(s.handle(CommandEnvelope::decode(b"{nope"), pos(0), Utc::now()), Step::DeadLetter { .. }));
    assert!(matches!(
        s.handle(CommandEnvelope::decode(b"{\"type\": \"CreateContact\"}"), pos(1), Utc::now()),
        Step::DeadLetter { .. }
    ));
    let d = decision_of(s.handle(envelope(1, "CreateContact", json!({"kind": 5, "email": []})), pos(2), Utc::now()));
    match d.outcome {
        Outcome::Rejected { rejection: Rejection::Validation { errors } } => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, vec!["kind", "email"]);
        }
        other => panic!("{other:?}"),
    }
    let unknown = decision_of(s.handle(envelope(2, "Explode", json!({})), pos(3), Utc::now()));
    assert!(matches!(unknown.outcome, Outcome::Rejected { .. }));
    let _ = CommandId(Ulid::nil());
}

/// A state for partition `me` of 4 whose writer has claimed it.
fn writer_of(me: i32) -> PartitionState {
    let mut s = PartitionState::new(Duration::days(7)).owning(me, 4);
    s.apply(&claim(1));
    s.become_writer(1);
    s
}

#[test]
fn a_command_for_a_tenant_another_partition_owns_is_forwarded_not_decided() {
    let owner = ledger_protocol::routing::owner(&tenant(), 4);
    let elsewhere = (owner + 1) % 4;
    let mut s = writer_of(elsewhere);
    let step = s.handle(envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(5), Utc::now());
    let Step::Forward(f) = step else { panic!("expected a forward, got {step:?}") };
    assert_eq!((f.to_partition, f.source.offset, f.epoch), (owner, 5, 1));
    assert_eq!(s.next_command_offset(), 6, "the command is not read here again");
    assert!(s.tenants.is_empty(), "nothing was decided against this partition's state");

    // The forward record reads back, and a rebuilt state resumes after it.
    let record = LogRecord::Forward(*f);
    let e = record.encode().expect("encodes");
    let headers: Vec<(String, Vec<u8>)> =
        e.headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into_bytes())).collect();
    let back = LogRecord::decode(&headers, &e.value).expect("decodes");
    assert_eq!(back, record);
    assert!(LogRecord::decode(&headers, &without_time(&e.value)).is_err(), "a forward without a time is not of 1970");
    let mut rebuilt = PartitionState::new(Duration::days(7)).owning(elsewhere, 4);
    rebuilt.apply(&claim(1));
    assert_eq!(rebuilt.apply(&back), Admit::Valid);
    assert_eq!(rebuilt.next_command_offset(), 6);

    // The owner decides it; a repeat of the same command id appends nothing.
    let mut owner_state = writer_of(owner);
    let env = || envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"}));
    assert!(matches!(owner_state.handle(env(), pos(0), Utc::now()), Step::Append(_)));
    assert!(matches!(owner_state.handle(env(), pos(1), Utc::now()), Step::Duplicate(_)));
}

#[test]
fn a_forward_by_a_superseded_writer_does_not_count() {
    let owner = ledger_protocol::routing::owner(&tenant(), 4);
    let mut old = writer_of((owner + 1) % 4);
    let Step::Forward(f) =
        old.handle(envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(0), Utc::now())
    else {
        panic!("expected a forward")
    };
    let mut fence = Fence::default();
    fence.admit(&claim(1));
    fence.admit(&claim(2));
    assert_eq!(fence.admit(&LogRecord::Forward(*f)), Admit::Superseded);
}

/// The headers of an encoded record as a Kafka client hands them back, with
/// `name` set to `value`.
fn headers_with(enc: &ledger_protocol::Encoded, name: &str, value: &str) -> Vec<(String, Vec<u8>)> {
    enc.headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), if *k == name { value.as_bytes().to_vec() } else { v.clone().into_bytes() }))
        .collect()
}

fn decode_error(headers: &[(String, Vec<u8>)], value: &[u8]) -> String {
    match LogRecord::decode(headers, value) {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected a decode error, got {r:?}"),
    }
}

#[test]
fn a_numeric_header_out_of_range_is_a_decode_error_not_a_wrapped_or_clamped_value() {
    use ledger_protocol::header;
    let mut s = writer();
    let d = LogRecord::Decision(decision_of(s.handle(
        envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})),
        pos(0),
        Utc::now(),
    )));
    let enc = d.encode().expect("encodes");
    assert_eq!(LogRecord::decode(&headers_with(&enc, header::EPOCH, "1"), &enc.value).expect("decodes"), d);
    for (name, value) in [
        (header::EPOCH, "-1"),
        (header::EPOCH, "18446744073709551616"),
        (header::COMMAND_PARTITION, "2147483648"),
        (header::COMMAND_PARTITION, "-2147483649"),
        (header::COMMAND_OFFSET, "9223372036854775808"),
    ] {
        let err = decode_error(&headers_with(&enc, name, value), &enc.value);
        assert!(err.contains(name) && err.contains("out of range"), "{name}={value}: {err}");
    }
    assert!(decode_error(&headers_with(&enc, header::EPOCH, "one"), &enc.value).contains("not a number"));

    let claimed = claim(2).encode().expect("encodes");
    let err = decode_error(&headers_with(&claimed, header::EPOCH, "-1"), &claimed.value);
    assert!(err.contains("out of range"), "a negative epoch is an error, not epoch 0: {err}");

    let owner = ledger_protocol::routing::owner(&tenant(), 4);
    let mut elsewhere = writer_of((owner + 1) % 4);
    let Step::Forward(f) =
        elsewhere.handle(envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(0), Utc::now())
    else {
        panic!("expected a forward")
    };
    let forwarded = LogRecord::Forward(*f).encode().expect("encodes");
    let err = decode_error(&headers_with(&forwarded, header::FORWARDED_TO, "4294967296"), &forwarded.value);
    assert!(err.contains(header::FORWARDED_TO) && err.contains("out of range"), "{err}");
}

#[test]
fn an_event_version_out_of_range_is_a_decode_error() {
    let mut s = writer();
    let d = LogRecord::Decision(decision_of(s.handle(
        envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})),
        pos(0),
        Utc::now(),
    )));
    let enc = d.encode().expect("encodes");
    let headers = headers_with(&enc, "none", "");
    let mut value: serde_json::Value = serde_json::from_slice(&enc.value).expect("json");
    assert_eq!(value["eventversion"], 1, "one event, written as a single CloudEvent");
    for bad in [json!(4_294_967_296_u64), json!(-1), json!("1")] {
        value["eventversion"] = bad.clone();
        let err = decode_error(&headers, &serde_json::to_vec(&value).expect("json"));
        assert!(err.contains("eventversion out of range"), "{bad}: {err}");
    }
}

#[test]
fn every_golden_event_fixture_reads_through_the_log_decoder() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/fixtures/events");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let ce = json!({
            "specversion": "1.0", "id": "x-0", "source": "contact-ledger", "type": fixture["type"],
            "time": "2026-11-24T05:00:00Z", "datacontenttype": "application/json", "data": fixture["data"],
            "eventversion": fixture["eventversion"], "commandtype": "Golden",
        });
        let headers: Vec<(String, Vec<u8>)> = [
            ("cl-record", "decision".to_owned()),
            ("cl-tenant", tenant().to_string()),
            ("cl-command-id", Ulid::from_parts(1, 9).to_string()),
            ("cl-command-topic", "commands".to_owned()),
            ("cl-command-partition", "0".to_owned()),
            ("cl-command-offset", "0".to_owned()),
            ("cl-epoch", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_bytes()))
        .collect();
        let record = LogRecord::decode(&headers, &serde_json::to_vec(&ce).expect("bytes"))
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
        let LogRecord::Decision(Decision { outcome: Outcome::Accepted { events, .. }, .. }) = record else {
            panic!("{} is not an accepted decision", path.display())
        };
        assert_eq!(events.len(), 1);
        assert_eq!(Some(events[0].event_type()), fixture["type"].as_str());
        seen += 1;
    }
    assert!(seen >= ledger_domain::upcast::EVENT_TYPES.len(), "a fixture per event type at least");
}

#[test]
fn a_decision_record_says_what_it_did_and_records_from_before_the_headers_still_read() {
    let mut s = writer();
    s.handle(envelope(1, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(0), Utc::now());
    let d = decision_of(s.handle(envelope(2, "UpsertContact", json!({"email": "u@x.io"})), pos(1), Utc::now()));
    let Outcome::Accepted { subject, created, .. } = &d.outcome else { panic!("accepted") };
    assert!(*created);
    let subject = subject.expect("a subject");
    let e = LogRecord::Decision(d.clone()).encode().expect("encodes");
    let all: Vec<(String, Vec<u8>)> =
        e.headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into_bytes())).collect();
    assert_eq!(LogRecord::decode(&all, &e.value).expect("decodes"), LogRecord::Decision(d.clone()));
    let legacy: Vec<(String, Vec<u8>)> =
        all.into_iter().filter(|(k, _)| k != "cl-created" && k != "cl-subject" && k != "cl-warnings").collect();
    let LogRecord::Decision(old) = LogRecord::decode(&legacy, &e.value).expect("decodes") else { panic!("decision") };
    assert!(matches!(old.outcome, Outcome::Accepted { subject: Some(s), created: true, .. } if s == subject));
}

/// An envelope with its own command id and issue time (seconds from the epoch base).
fn issued(id: u64, at_secs: i64, ty: &str, payload: serde_json::Value) -> Result<CommandEnvelope, EnvelopeError> {
    CommandEnvelope::from_json(&json!({
        "command_id": Ulid::from_parts(1_600_000_000_000 + id, u128::from(id)).to_string(),
        "tenant_id": tenant().to_string(),
        "type": ty,
        "issued_at": Utc.timestamp_opt(1_700_000_000 + at_secs, 0).unwrap(),
        "payload": payload,
    }))
}

#[test]
fn a_retried_command_id_is_recognised_within_the_window_and_refused_past_it_never_decided_twice() {
    let day = 24 * 3600;
    let mut s = PartitionState::new(Duration::days(7)).with_dedup_window(Duration::days(2));
    s.apply(&claim(1));
    s.become_writer(1);
    let mut log = vec![claim(1)];
    let mut offset = 0;
    let mut step = |s: &mut PartitionState, env, log: &mut Vec<LogRecord>| {
        offset += 1;
        let step = s.handle(env, pos(offset), Utc::now());
        if let Step::Append(d) = &step {
            log.push(LogRecord::Decision((**d).clone()));
        }
        step
    };
    decision_of(step(&mut s, issued(1, 0, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), &mut log));
    let create = |email: &str| json!({"kind": "contact", "email": email});
    decision_of(step(&mut s, issued(2, day, "CreateContact", create("x@a.io")), &mut log));
    // A day later: inside the window, the retry is recognised.
    decision_of(step(&mut s, issued(3, 2 * day, "CreateContact", create("y@a.io")), &mut log));
    assert!(matches!(step(&mut s, issued(2, day, "CreateContact", create("x@a.io")), &mut log), Step::Duplicate(_)));
    // Four days after the first: command 2 (issued at day 1) is now before
    // the window (day 4 - 2 days = day 2), and forgotten.
    decision_of(step(&mut s, issued(4, 4 * day, "CreateContact", create("z@a.io")), &mut log));
    assert_eq!(s.remembered_commands(), 2, "only the window's commands are kept (3 and 4)");
    let retried = decision_of(step(&mut s, issued(2, day, "CreateContact", create("x@a.io")), &mut log));
    match &retried.outcome {
        Outcome::Rejected { rejection: Rejection::Gone { code, .. } } => assert_eq!(code.as_str(), "command_too_old"),
        other => panic!("a retry past the window must be refused, not decided: {other:?}"),
    }
    // And a rebuild from the log remembers and refuses exactly the same.
    let mut rebuilt = PartitionState::new(Duration::days(7)).with_dedup_window(Duration::days(2));
    for r in &log {
        rebuilt.apply(r);
    }
    rebuilt.become_writer(1);
    assert_eq!(rebuilt.remembered_commands(), s.remembered_commands());
    assert!(matches!(
        rebuilt.handle(issued(4, 4 * day, "CreateContact", create("z@a.io")), pos(99), Utc::now()),
        Step::Duplicate(_)
    ));
    let again = decision_of(rebuilt.handle(issued(2, day, "CreateContact", create("x@a.io")), pos(100), Utc::now()));
    assert!(matches!(again.outcome, Outcome::Rejected { .. }), "{again:?}");
    let contacts: usize = log
        .iter()
        .filter(|r| matches!(r, LogRecord::Decision(d) if matches!(&d.outcome, Outcome::Accepted { events, .. } if events.iter().any(|e| matches!(e, Event::ContactCreated(_))))))
        .count();
    assert_eq!(contacts, 3, "x, y and z created once each");
}

#[test]
fn a_state_restored_from_a_snapshot_and_the_tail_equals_the_fold_from_offset_0() {
    let mut w = writer();
    let mut log = vec![claim(1)];
    let mut n = 0;
    let mut decide = |w: &mut PartitionState, ty: &str, payload: serde_json::Value| {
        n += 1;
        let d = decision_of(w.handle(envelope(n, ty, payload), pos(n as i64), Utc::now()));
        let created = match &d.outcome {
            Outcome::Accepted { events, .. } => events.iter().find_map(|e| match e {
                Event::ContactCreated(c) => Some(c.contact_id),
                _ => None,
            }),
            _ => None,
        };
        (LogRecord::Decision(d), created)
    };
    log.push(decide(&mut w, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})).0);
    log.push(
        decide(&mut w, "DefineAccessRole", json!({"reference": "r", "name": "R", "grant_rule": "email_verification"}))
            .0,
    );
    let mut ids = Vec::new();
    for i in 0..6 {
        let (r, id) = decide(
            &mut w,
            "CreateContact",
            json!({"kind": "user", "email": format!("u{i}@example.com"), "first_name": "U", "last_name": "V",
                   "external_id": format!("x-{i}"), "invite": true, "access_roles": ["r"], "tags": ["t"],
                   "metadata": {"i": i}}),
        );
        log.push(r);
        ids.push(id.expect("created"));
    }
    log.push(decide(&mut w, "DeleteContact", json!({"contact_id": ids[0].to_string()})).0);
    log.push(claim(2)); // a later writer takes over
    let mut second = PartitionState::new(Duration::days(7));
    for r in &log {
        second.apply(r);
    }
    second.become_writer(2);
    let mut n2 = 100;
    let mut decide2 = |w: &mut PartitionState, ty: &str, payload: serde_json::Value| {
        n2 += 1;
        LogRecord::Decision(decision_of(w.handle(envelope(n2, ty, payload), pos(n2 as i64), Utc::now())))
    };
    log.push(decide2(
        &mut second,
        "PatchContact",
        json!({"contact_id": ids[1].to_string(), "patch": {"first_name": "Patched"}}),
    ));
    log.push(decide2(
        &mut second,
        "CreateContact",
        json!({"kind": "guest", "email": "u2@example.com", "first_name": "G", "last_name": "H"}),
    ));

    let mut whole = PartitionState::new(Duration::days(7));
    for r in &log {
        if let LogRecord::Decision(d) = r
            && let Outcome::Rejected { rejection, .. } = &d.outcome
        {
            panic!("{} was rejected: {rejection:?}", d.command_type);
        }
        assert_ne!(whole.apply(r), Admit::Superseded);
    }
    assert_eq!(whole.tenants[&tenant()].contact_count(), 6, "five users left and a guest");
    assert_eq!(whole.tenants[&tenant()].contact(ids[1]).unwrap().profile.first_name.as_deref(), Some("Patched"));
    for cut in [0, 3, 9, log.len() - 1, log.len()] {
        let mut head = PartitionState::new(Duration::days(7));
        for r in &log[..cut] {
            head.apply(r);
        }
        let bytes = head.snapshot().expect("snapshot");
        let mut restored = PartitionState::new(Duration::days(7));
        restored.restore(&bytes).expect("restore");
        for r in &log[cut..] {
            restored.apply(r);
        }
        assert_eq!(restored.snapshot().unwrap(), whole.snapshot().unwrap(), "cut at {cut}");
        assert_eq!(restored.remembered_commands(), whole.remembered_commands());
        assert_eq!(restored.next_epoch(), 3);
    }
    // A restored writer keeps deciding by the same rules: a taken email is
    // refused, a retried command id appends nothing.
    let mut restored = PartitionState::new(Duration::days(7));
    restored.restore(&whole.snapshot().unwrap()).unwrap();
    restored.apply(&claim(3));
    restored.become_writer(3);
    let taken = restored.handle(
        envelope(
            200,
            "CreateContact",
            json!({"kind": "user", "email": "u3@example.com",
        "first_name": "A", "last_name": "B", "invite": true}),
        ),
        pos(200),
        Utc::now(),
    );
    assert!(matches!(decision_of(taken).outcome, Outcome::Rejected { .. }), "the email is still taken");
    assert!(matches!(
        restored.handle(envelope(3, "CreateContact", json!({"kind": "contact"})), pos(201), Utc::now()),
        Step::Duplicate(_)
    ));
    assert!(restored.restore(b"not a snapshot").is_err());
}

#[test]
fn a_command_issued_far_in_the_future_cannot_push_the_dedup_window_past_everyone_else() {
    let day = 24 * 3600;
    let mut s = PartitionState::new(Duration::days(7)).with_dedup_window(Duration::days(2));
    s.apply(&claim(1));
    s.become_writer(1);
    // The writer's clock stands at day 1 of the test's calendar.
    let now = Utc.timestamp_opt(1_700_000_000 + day, 0).unwrap();
    let mut log = vec![claim(1)];
    let decide = |s: &mut PartitionState, env, offset: i64, log: &mut Vec<LogRecord>| {
        let d = decision_of(s.handle(env, pos(offset), now));
        log.push(LogRecord::Decision(d.clone()));
        d
    };
    decide(&mut s, issued(1, 0, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), 0, &mut log);
    // A client whose clock says it is a year from now.
    let future = decide(
        &mut s,
        issued(2, 365 * day, "CreateContact", json!({"kind": "contact", "email": "f@a.io"})),
        1,
        &mut log,
    );
    assert_eq!(future.decided_at, now, "the decision records the writer's clock");
    // It is refused, not decided: its record carries no event.
    match &future.outcome {
        Outcome::Rejected { rejection: Rejection::Validation { errors } } => {
            assert_eq!((errors[0].field.as_str(), errors[0].code.as_str()), ("issued_at", "issued_in_future"))
        }
        other => panic!("a command from a year ahead must be refused: {other:?}"),
    }
    // Commands issued on time are still decided, not refused as too old.
    let on_time =
        decide(&mut s, issued(3, day, "CreateContact", json!({"kind": "contact", "email": "o@a.io"})), 2, &mut log);
    assert!(matches!(on_time.outcome, Outcome::Accepted { .. }), "{on_time:?}");
    // The refused command's id is not remembered (it would sit in the
    // window for a year): its retry is refused again, and still not decided.
    let retry = issued(2, 365 * day, "CreateContact", json!({"kind": "contact", "email": "f@a.io"}));
    let again = decision_of(s.handle(retry, pos(3), now));
    assert!(matches!(again.outcome, Outcome::Rejected { .. }), "{again:?}");
    assert_eq!(s.remembered_commands(), 2, "the tenant's and the on-time create's ids");
    // The writer's clock survives encoding, so a rebuild anchors the same way.
    let mut rebuilt = PartitionState::new(Duration::days(7)).with_dedup_window(Duration::days(2));
    for r in &log {
        let e = r.encode().unwrap();
        let headers: Vec<(String, Vec<u8>)> =
            e.headers.iter().map(|(k, v)| (k.to_string(), v.clone().into_bytes())).collect();
        let back = LogRecord::decode(&headers, &e.value).unwrap();
        assert_eq!(&back, r);
        rebuilt.apply(&back);
    }
    rebuilt.become_writer(1);
    let late = decision_of(rebuilt.handle(
        issued(4, day, "CreateContact", json!({"kind": "contact", "email": "l@a.io"})),
        pos(4),
        now,
    ));
    assert!(matches!(late.outcome, Outcome::Accepted { .. }), "{late:?}");
    assert_eq!(rebuilt.remembered_commands(), s.remembered_commands() + 1);
}

#[test]
fn events_carry_the_clients_time_within_the_skew_and_the_writers_clock_outside_it() {
    let day = 24 * 3600;
    let mut s = writer();
    // The writer's clock stands at day 1 of the test's calendar.
    let now = Utc.timestamp_opt(1_700_000_000 + day, 0).unwrap();
    let mut n = 0;
    let mut created_at = |s: &mut PartitionState, at_secs: i64| {
        n += 1;
        let payload = json!({"kind": "contact", "email": format!("c{n}@a.io")});
        let d = decision_of(s.handle(issued(100 + n, at_secs, "CreateContact", payload), pos(n as i64), now));
        match d.outcome {
            Outcome::Accepted { events, .. } => match &events[0] {
                Event::ContactCreated(c) => c.at,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    };
    decision_of(s.handle(issued(1, day, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(0), now));
    let at = |secs: i64| Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
    // 30 s behind or ahead: the client's time.
    assert_eq!(created_at(&mut s, day - 30), at(day - 30));
    assert_eq!(created_at(&mut s, day + 30), at(day + 30));
    // Back-dated by an hour (or delivered an hour late): the writer's clock.
    assert_eq!(created_at(&mut s, day - 3600), now);
    assert_eq!(ledger_protocol::CLOCK_SKEW, Duration::seconds(60));
    assert!(ledger_protocol::decision_time(at(day + 61), now).is_err());
    assert_eq!(ledger_protocol::decision_time(at(day + 60), now).unwrap(), at(day + 60));
}

#[test]
fn a_command_issued_too_far_ahead_is_refused_unremembered_even_with_an_unreadable_payload() {
    let day = 24 * 3600;
    let now = Utc.timestamp_opt(1_700_000_000 + day, 0).unwrap();
    for (ty, payload) in [
        ("CreateContact", json!({"kind": "contact", "email": "a@b.io"})),
        ("CreateContact", json!({"kind": "no such kind", "email": 7})),
    ] {
        let mut s = writer();
        decision_of(s.handle(issued(1, day, "CreateTenant", json!({"name": "a", "api_key_hash": "h"})), pos(0), now));
        let remembered = s.remembered_commands();
        // A year ahead: refused, and the id is not kept (it would sit in the
        // dedup window for a year).
        let d = decision_of(s.handle(issued(2, day + 365 * day, ty, payload.clone()), pos(1), now));
        assert!(d.refused_as_future(), "{payload}: {d:?}");
        assert_eq!(s.remembered_commands(), remembered, "{payload}");
        // Sent again with its time right, the same id is decided, not a duplicate.
        let again = s.handle(issued(2, day, ty, payload.clone()), pos(2), now);
        assert!(matches!(again, Step::Append(_)), "{payload}: {again:?}");
        assert_eq!(s.remembered_commands(), remembered + 1, "{payload}");
    }
}

#[test]
fn two_tenants_commands_with_one_id_are_two_commands() {
    let mut s = writer();
    let id = Ulid::from_parts(1_700_000_000_000, 7).to_string();
    let env = |tenant: TenantId, ty: &str, payload: serde_json::Value| {
        CommandEnvelope::from_json(&json!({
            "command_id": id, "tenant_id": tenant.to_string(), "type": ty,
            "issued_at": Utc::now(), "payload": payload,
        }))
    };
    let (a, b) = (TenantId(Ulid::from_parts(1, 1)), TenantId(Ulid::from_parts(1, 2)));
    let first =
        decision_of(s.handle(env(a, "CreateTenant", json!({"name": "a", "api_key_hash": "ha"})), pos(0), Utc::now()));
    assert!(matches!(first.outcome, Outcome::Accepted { .. }), "{first:?}");
    // Tenant b's command carries the same id: it is b's own, decided for b.
    let second =
        decision_of(s.handle(env(b, "CreateTenant", json!({"name": "b", "api_key_hash": "hb"})), pos(1), Utc::now()));
    assert!(matches!(second.outcome, Outcome::Accepted { .. }), "{second:?}");
    assert_eq!(s.remembered_commands(), 2);
    // Each tenant's retry is still its own duplicate.
    assert!(matches!(
        s.handle(env(a, "CreateTenant", json!({"name": "a", "api_key_hash": "ha"})), pos(2), Utc::now()),
        Step::Duplicate(_)
    ));
    assert!(matches!(
        s.handle(env(b, "CreateTenant", json!({"name": "b", "api_key_hash": "hb"})), pos(3), Utc::now()),
        Step::Duplicate(_)
    ));
}

/// A fixed state with something of everything a snapshot keeps: two tenants
/// (one with a rotated key), contacts of several kinds with profiles, tags,
/// metadata, addresses, grants and invites, a deletion, a password, the dedup
/// window and two claims. Every id and time is fixed.
fn golden_state() -> PartitionState {
    let mut s = PartitionState::new(Duration::days(7));
    s.apply(&claim(1));
    s.become_writer(1);
    let other = TenantId(Ulid::from_parts(2, 2));
    let mut n = 0u64;
    let mut decide = |s: &mut PartitionState, tenant: TenantId, ty: &str, payload: serde_json::Value| {
        n += 1;
        let mut env = envelope(n, ty, payload).expect("a readable command");
        env.tenant_id = tenant;
        let now = env.issued_at;
        let d = decision_of(s.handle(Ok(env), pos(n as i64), now));
        match &d.outcome {
            Outcome::Accepted { events, .. } => events.iter().find_map(|e| match e {
                Event::ContactCreated(c) => Some(c.contact_id),
                _ => None,
            }),
            Outcome::Rejected { rejection } => panic!("{ty} was rejected: {rejection:?}"),
        }
    };
    let t = tenant();
    decide(&mut s, t, "CreateTenant", json!({"name": "a", "api_key_hash": "a".repeat(64)}));
    decide(&mut s, other, "CreateTenant", json!({"name": "b", "api_key_hash": "b".repeat(64)}));
    decide(&mut s, t, "RotateApiKey", json!({"api_key_hash": "c".repeat(64), "previous_valid_secs": 3600}));
    decide(&mut s, t, "DefineAccessRole", json!({"reference": "r", "name": "R", "grant_rule": "email_verification"}));
    let user = decide(
        &mut s,
        t,
        "CreateContact",
        json!({"kind": "user", "email": "u@example.com", "first_name": "U", "last_name": "V",
               "external_id": "x-1", "invite": true, "access_roles": ["r"], "tags": ["t", "s"],
               "metadata": {"i": 1}, "company": "Acme", "title": "Boss", "phone": "+44 1",
               "address": {"line1": "1 Road", "city": "Town", "zip": "AB1 2CD", "country_code": "gb"}}),
    )
    .expect("created");
    decide(&mut s, t, "PatchContact", json!({"contact_id": user.to_string(), "patch": {"first_name": "W"}}));
    let gone =
        decide(&mut s, t, "CreateContact", json!({"kind": "contact", "email": "c@example.com"})).expect("created");
    decide(&mut s, t, "DeleteContact", json!({"contact_id": gone.to_string()}));
    decide(
        &mut s,
        other,
        "CreateContact",
        json!({"kind": "user", "email": "p@example.com", "first_name": "P", "last_name": "Q",
               "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}),
    );
    decide(
        &mut s,
        other,
        "CreateContact",
        json!({"kind": "branch", "email": "b@example.com", "name": "Branch", "company": "B Ltd"}),
    );
    s.apply(&claim(2));
    s
}

#[test]
fn the_snapshot_encoding_of_a_fixed_state_is_the_golden_one_for_its_format_number() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/golden/snapshot-v{}.hex", ledger_protocol::SNAPSHOT_FORMAT));
    let bytes = golden_state().snapshot().expect("snapshot");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let lines: Vec<&str> = hex.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let text = lines.join("\n") + "\n";
    if std::env::var_os("CL_BLESS_SNAPSHOT").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no golden snapshot for format {}: after raising SNAPSHOT_FORMAT for a new layout, write {} with \
             CL_BLESS_SNAPSHOT=1 cargo test -p ledger-protocol --test log the_snapshot_encoding",
            ledger_protocol::SNAPSHOT_FORMAT,
            path.display()
        )
    });
    assert!(
        golden == text,
        "the snapshot encoding changed but SNAPSHOT_FORMAT is still {}: a build would misread the snapshots \
         stored before. Raise SNAPSHOT_FORMAT (crates/protocol/src/partition.rs) and write the new golden file",
        ledger_protocol::SNAPSHOT_FORMAT
    );
    // The golden bytes read back into the same state.
    let mut restored = PartitionState::new(Duration::days(7));
    restored.restore(&bytes).expect("restore");
    assert_eq!(restored.snapshot().unwrap(), bytes);
}
