//! Resident memory of the handler's partition state per contact: folds N
//! created contacts (the benchmark's shape: kind, email, name, a tag and a
//! metadata key, over 100 tenants) through the partition state machine and
//! prints the growth of resident memory. `cargo run --release -p
//! ledger-protocol --example state_memory -- 1000000`
use chrono::{Duration, TimeZone, Utc};
use ledger_domain::TenantId;
use ledger_protocol::{Claim, CommandEnvelope, CommandPosition, LogRecord, PartitionState, Step};
use serde_json::json;
use ulid::Ulid;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut s = PartitionState::new(Duration::days(7));
    s.apply(&LogRecord::Claim(Claim { epoch: 1, writer_id: "w".into(), claimed_at: Utc::now() }));
    s.become_writer(1);
    let tenants: Vec<TenantId> = (0..100).map(|t| TenantId(Ulid::from_parts(1, t))).collect();
    let mut offset = 0;
    let mut handle = |s: &mut PartitionState, tenant: TenantId, ty: &str, payload: serde_json::Value| {
        offset += 1;
        let env = CommandEnvelope::from_json(&json!({
            "command_id": Ulid::from_parts(1_700_000_000_000 + offset, u128::from(offset)).to_string(),
            "tenant_id": tenant.to_string(),
            "type": ty,
            "issued_at": Utc.timestamp_opt(1_700_000_000 + offset as i64 / 1000, 0).unwrap(),
            "payload": payload,
        }));
        let pos = CommandPosition { topic: "commands".into(), partition: 0, offset: offset as i64 };
        match s.handle(env, pos, chrono::Utc::now()) {
            Step::Append(_) => {}
            other => panic!("{other:?}"),
        }
    };
    for t in &tenants {
        handle(&mut s, *t, "CreateTenant", json!({"name": "t", "api_key_hash": "h"}));
    }
    let before = rss_bytes();
    let started = std::time::Instant::now();
    for i in 0..n {
        let t = tenants[(i % 100) as usize];
        handle(
            &mut s,
            t,
            "CreateContact",
            json!({"kind": "contact", "email": format!("bench{i}@example.com"), "name": format!("Bench {i}"),
                   "tags": ["bench"], "metadata": {"i": i}}),
        );
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "{{\"contacts\": {n}, \"rss_before_mb\": {:.1}, \"rss_after_mb\": {:.1}, \"bytes_per_contact\": {per:.0}, \
         \"remembered_commands\": {}, \"decide_per_second\": {:.0}}}",
        before as f64 / 1e6,
        after as f64 / 1e6,
        s.remembered_commands(),
        n as f64 / started.elapsed().as_secs_f64()
    );
}
