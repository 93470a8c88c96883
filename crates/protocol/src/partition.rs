//! The command handler's state for one partition, and its step function.
//! The Kafka adapter feeds it records (while rebuilding and tailing) and
//! commands, and appends what it returns; all the deciding happens here.
use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use ledger_domain::{Code, CommandId, Context, Rejection, TenantId, TenantSnapshot, TenantState, decide};
use serde::{Deserialize, Serialize};

use crate::{
    envelope::{CommandEnvelope, EnvelopeError},
    fence::{Admit, Fence},
    record::{CommandPosition, Decision, Forward, LogRecord, Outcome},
    routing,
};

#[derive(Debug)]
pub enum Step {
    /// Append this decision (already folded into the state).
    Append(Box<Decision>),
    /// This command id was decided before: append nothing.
    Duplicate(CommandId),
    /// Nobody can read it: send it to the dead-letter topic and move on.
    DeadLetter { reason: String },
    /// Another partition owns the command's tenant: pass the command on to
    /// that commands partition unchanged (provenance in its headers), and
    /// once it is there append this record, so the command is neither
    /// decided against this partition's state nor passed on twice.
    Forward(Box<Forward>),
}

#[derive(Debug)]
pub struct PartitionState {
    fence: Fence,
    writer_epoch: Option<u64>,
    pub tenants: HashMap<TenantId, TenantState>,
    decided: Decided,
    next_command_offset: i64,
    invite_ttl: Duration,
    /// (this partition, partition count): commands of tenants owned by
    /// another partition are forwarded. `None`: decide everything here.
    routing: Option<(i32, i32)>,
    pub records_applied: u64,
}

impl PartitionState {
    pub fn new(invite_ttl: Duration) -> Self {
        Self {
            fence: Fence::default(),
            writer_epoch: None,
            tenants: HashMap::new(),
            decided: Decided::new(DEDUP_WINDOW_DEFAULT),
            next_command_offset: 0,
            invite_ttl,
            routing: None,
            records_applied: 0,
        }
    }

    /// How far back in `issued_at` a retried command id is recognised
    /// (`Decided`).
    pub fn with_dedup_window(mut self, window: Duration) -> Self {
        self.decided = Decided::new(window);
        self
    }

    /// How many command ids are remembered now (bounded by the window).
    pub fn remembered_commands(&self) -> usize {
        self.decided.len()
    }

    /// This state is partition `partition` of `partitions`: commands of
    /// tenants another partition owns are forwarded (`Step::Forward`).
    pub fn owning(mut self, partition: i32, partitions: i32) -> Self {
        self.routing = Some((partition, partitions));
        self
    }

    /// Folds a record read from the events partition; returns how the fence
    /// judged it.
    pub fn apply(&mut self, record: &LogRecord) -> Admit {
        let admit = self.fence.admit(record);
        match (admit, record) {
            (Admit::Valid, LogRecord::Decision(d)) => self.fold(d),
            (Admit::Valid, LogRecord::Forward(f)) => self.fold_forward(f),
            _ => {}
        }
        admit
    }

    fn fold_forward(&mut self, f: &Forward) {
        self.records_applied += 1;
        self.next_command_offset = self.next_command_offset.max(f.source.offset + 1);
    }

    /// The partition owning `tenant`, when it is not this one.
    fn elsewhere(&self, tenant: &TenantId) -> Option<i32> {
        let (me, partitions) = self.routing?;
        let owner = routing::owner(tenant, partitions);
        (owner != me).then_some(owner)
    }

    /// `at`: the command's `issued_at` (the record's time; no clock here).
    fn forward(&mut self, env: (TenantId, CommandId, DateTime<Utc>), source: CommandPosition, to: i32) -> Step {
        let (tenant_id, command_id, at) = env;
        let forward = Forward {
            tenant_id,
            command_id,
            source,
            to_partition: to,
            epoch: self.writer_epoch.unwrap_or(0),
            forwarded_at: at,
        };
        self.fold_forward(&forward);
        Step::Forward(Box::new(forward))
    }

    /// A command issued before the dedup window: it may have been decided
    /// already and forgotten, so it is refused rather than decided again.
    fn reject_too_old(
        &mut self,
        env: (TenantId, CommandId, DateTime<Utc>),
        command_type: String,
        source: CommandPosition,
        rejection: Rejection,
        now: DateTime<Utc>,
    ) -> Step {
        let (tenant_id, command_id, issued_at) = env;
        let decision = Decision {
            tenant_id,
            command_id,
            command_type,
            issued_at,
            decided_at: now,
            at: time_of(issued_at, now),
            source,
            epoch: self.writer_epoch.unwrap_or(0),
            outcome: Outcome::Rejected { rejection },
        };
        self.fold(&decision);
        Step::Append(Box::new(decision))
    }

    fn fold(&mut self, d: &Decision) {
        self.records_applied += 1;
        // A command refused for an `issued_at` ahead of the writer's clock
        // was not decided: its id is not remembered (it would stay until the
        // window passed that time), and it may be sent again once its clock
        // is right.
        if !d.refused_as_future() {
            self.decided.insert(&d.tenant_id, d.command_id, d.issued_at, d.decided_at);
        }
        self.next_command_offset = self.next_command_offset.max(d.source.offset + 1);
        if let Outcome::Accepted { events, .. } = &d.outcome {
            let tenant = self.tenants.entry(d.tenant_id).or_default();
            for e in events {
                tenant.apply(e);
            }
        }
    }

    /// The epoch a new claim must use.
    pub fn next_epoch(&self) -> u64 {
        self.fence.max_seen() + 1
    }

    /// Called once the writer has read its own claim back as the valid one.
    pub fn become_writer(&mut self, epoch: u64) {
        self.writer_epoch = Some(epoch);
    }

    pub fn current_epoch(&self) -> u64 {
        self.fence.epoch()
    }

    /// True once a later claim than ours has been read: stop writing.
    pub fn superseded(&self) -> bool {
        self.writer_epoch.is_some_and(|mine| self.fence.epoch() > mine)
    }

    /// The state as a snapshot keeps it: everything folded from the log (not
    /// the configuration, nor whether this process is the writer). Equal
    /// states give equal bytes. `next_offset` is the events offset the state
    /// stands at (the next record to fold), kept with it.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let mut tenants: Vec<(TenantId, TenantSnapshot)> =
            self.tenants.iter().map(|(t, s)| (*t, s.snapshot())).collect();
        tenants.sort_by_key(|(t, _)| *t);
        let mut decided: Vec<([u8; 32], i64)> = self.decided.live().collect();
        decided.sort();
        let snapshot = Snapshot {
            format: SNAPSHOT_FORMAT,
            epoch: self.fence.epoch(),
            max_seen: self.fence.max_seen(),
            tenants,
            decided,
            newest: self.decided.newest.map(|n| n.timestamp_micros()),
            next_command_offset: self.next_command_offset,
            records_applied: self.records_applied,
        };
        postcard::to_stdvec(&snapshot).map_err(|e| SnapshotError(e.to_string()))
    }

    /// A fresh state (its configuration kept) standing where `bytes` was
    /// taken; the caller folds the records after it. Not yet a writer.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let s: Snapshot = postcard::from_bytes(bytes).map_err(|e| SnapshotError(e.to_string()))?;
        if s.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError(format!("snapshot format {} (this build reads {SNAPSHOT_FORMAT})", s.format)));
        }
        self.fence = Fence::resumed(s.epoch, s.max_seen);
        self.writer_epoch = None;
        self.tenants = s.tenants.into_iter().map(|(t, ts)| (t, TenantState::restore(ts))).collect();
        self.decided.restore(s.decided, s.newest);
        self.next_command_offset = s.next_command_offset;
        self.records_applied = s.records_applied;
        Ok(())
    }

    /// Where to resume the commands partition: after the last decided command.
    pub fn next_command_offset(&self) -> i64 {
        self.next_command_offset
    }

    /// Decides one command read at `source`. `now` is the writer's clock,
    /// recorded in the decision: it caps how far a command's `issued_at`
    /// (the client's clock) moves the dedup window.
    pub fn handle(
        &mut self,
        input: Result<CommandEnvelope, EnvelopeError>,
        source: CommandPosition,
        now: DateTime<Utc>,
    ) -> Step {
        // Microseconds, as the record keeps it: a rebuild reads back exactly this.
        let now = now.trunc_subsecs(6);
        // Before `become_writer` a decision carries epoch 0, which no reader
        // accepts: only a writer whose claim won can write valid records.
        let epoch = self.writer_epoch.unwrap_or(0);
        let decision = match input {
            Err(EnvelopeError::Undecodable(reason)) => return Step::DeadLetter { reason },
            Err(EnvelopeError::InvalidPayload { command_id, tenant_id, issued_at, command_type, errors }) => {
                if self.decided.contains(&tenant_id, &command_id) {
                    return Step::Duplicate(command_id);
                }
                if let Some(rejection) = self.decided.too_old(issued_at) {
                    return self.reject_too_old(
                        (tenant_id, command_id, issued_at),
                        command_type,
                        source,
                        rejection,
                        now,
                    );
                }
                if let Some(to) = self.elsewhere(&tenant_id) {
                    return self.forward((tenant_id, command_id, issued_at), source, to);
                }
                // Its `issued_at` is judged as a readable command's is: too far
                // ahead is named first, and the refusal is not remembered.
                let mut errors = errors;
                if let Err(Rejection::Validation { errors: ahead }) = decision_time(issued_at, now) {
                    errors.splice(0..0, ahead);
                }
                Decision {
                    tenant_id,
                    command_id,
                    command_type,
                    issued_at,
                    decided_at: now,
                    at: time_of(issued_at, now),
                    source,
                    epoch,
                    outcome: Outcome::Rejected { rejection: Rejection::invalid(errors) },
                }
            }
            Ok(env) => {
                if self.decided.contains(&env.tenant_id, &env.command_id) {
                    return Step::Duplicate(env.command_id);
                }
                if let Some(rejection) = self.decided.too_old(env.issued_at) {
                    let command_type = env.command.command_type().to_owned();
                    return self.reject_too_old(
                        (env.tenant_id, env.command_id, env.issued_at),
                        command_type,
                        source,
                        rejection,
                        now,
                    );
                }
                if let Some(to) = self.elsewhere(&env.tenant_id) {
                    return self.forward((env.tenant_id, env.command_id, env.issued_at), source, to);
                }
                let at = time_of(env.issued_at, now);
                let outcome = match decision_time(env.issued_at, now) {
                    Err(rejection) => Outcome::Rejected { rejection },
                    Ok(at) => {
                        let mut ctx = Context::new(env.command_id, at);
                        ctx.invite_ttl = self.invite_ttl;
                        let empty = TenantState::default();
                        let state = self.tenants.get(&env.tenant_id).unwrap_or(&empty);
                        match decide(state, &env.command, &ctx) {
                            Ok(decided) => Outcome::from(decided),
                            Err(rejection) => Outcome::Rejected { rejection },
                        }
                    }
                };
                Decision {
                    tenant_id: env.tenant_id,
                    command_id: env.command_id,
                    command_type: env.command.command_type().to_owned(),
                    issued_at: env.issued_at,
                    decided_at: now,
                    at,
                    source,
                    epoch,
                    outcome,
                }
            }
        };
        self.fold(&decision);
        Step::Append(Box::new(decision))
    }
}

/// How far a command's `issued_at` (the client's clock) may differ from the
/// writer's clock and still be the time of what it decides.
pub const CLOCK_SKEW: Duration = Duration::seconds(60);

/// The time a command's events carry, from its `issued_at` and the writer's
/// clock `now`: `issued_at` within [`CLOCK_SKEW`] of `now`; `now` for a
/// command issued earlier (delivered late: its events happen now, not in
/// the past); a command issued further ahead is refused and not decided.
pub fn decision_time(issued_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Rejection> {
    if issued_at > now + CLOCK_SKEW {
        return Err(Rejection::invalid(vec![ledger_domain::FieldError::new(
            "issued_at",
            ISSUED_IN_FUTURE,
            format!(
                "is {issued_at}, more than {} s ahead of the writer's clock ({now}): send it when it is due",
                CLOCK_SKEW.num_seconds()
            ),
        )]));
    }
    Ok(if issued_at < now - CLOCK_SKEW { now } else { issued_at })
}

/// The field code of a command refused for an `issued_at` too far ahead.
pub const ISSUED_IN_FUTURE: &str = "issued_in_future";

/// The time of a decision about a command issued at `issued_at` and decided
/// at `now` (a refusal's too).
fn time_of(issued_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    decision_time(issued_at, now).unwrap_or(now)
}

/// Bumped whenever the snapshot layout changes: an older snapshot is then
/// ignored (the claim folds from offset 0) rather than misread.
/// 2: the dedup window's anchor is capped by the writer's clock.
/// 3: a contact is one packed byte string (header and profile).
/// 4: remembered command ids are keyed by tenant and id.
/// 5: a tenant's API key version.
/// A golden test (`tests/log.rs`, `tests/golden/`) holds a fixed state's bytes
/// for the current number: a change to the encoding fails it until this is
/// raised.
pub const SNAPSHOT_FORMAT: u32 = 5;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    epoch: u64,
    max_seen: u64,
    tenants: Vec<(TenantId, TenantSnapshot)>,
    decided: Vec<([u8; 32], i64)>,
    newest: Option<i64>,
    next_command_offset: i64,
    records_applied: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("unreadable snapshot: {0}")]
pub struct SnapshotError(String);

/// The default dedup window: a week of `issued_at`.
pub const DEDUP_WINDOW_DEFAULT: Duration = Duration::days(7);

/// The command ids this partition decided, remembered for a window of
/// `issued_at` behind the newest decided one: memory is bounded by the
/// commands of one window, not by the whole history.
///
/// The guarantee: a command id is never decided twice. Retried while its
/// `issued_at` is within the window of the anchor, it is recognised
/// (`Step::Duplicate`). Arriving with an `issued_at` older than that, it may
/// have been decided and forgotten, so it is refused as `command_too_old`
/// (a rejection recorded like any other) and never decided.
///
/// The anchor is the newest `min(issued_at, decided_at)`: the client's clock,
/// but never ahead of the writer's. So a command issued far in the future
/// cannot drag the window forward and make every other command "too old";
/// its own id is kept until the window passes its `issued_at`. Everything
/// here comes from the log (`issued_at` and the recorded `decided_at` of the
/// decisions), so a rebuild remembers exactly what the writer did.
#[derive(Debug)]
struct Decided {
    window: Duration,
    /// Per tenant (ids are per tenant, so two tenants' commands with one id
    /// are two commands), command id -> `issued_at` in microseconds. A map
    /// per tenant keeps an entry at 24 bytes, as a global map of
    /// (tenant, id) keys would not (40). Ids behind the horizon count as
    /// forgotten at once and are swept out in bulk.
    ids: HashMap<TenantId, HashMap<[u8; 16], i64>>,
    newest: Option<DateTime<Utc>>,
    /// The horizon at the last sweep.
    swept: Option<DateTime<Utc>>,
}

impl Decided {
    fn new(window: Duration) -> Self {
        Self { window, ids: HashMap::new(), newest: None, swept: None }
    }

    fn contains(&self, tenant: &TenantId, id: &CommandId) -> bool {
        let horizon = self.horizon().map_or(i64::MIN, |h| h.timestamp_micros());
        self.ids.get(tenant).and_then(|ids| ids.get(&id.0.to_bytes())).is_some_and(|at| *at >= horizon)
    }

    /// The remembered ids with their `issued_at` (microseconds), each keyed
    /// by its tenant's 16 bytes and then its own.
    fn live(&self) -> impl Iterator<Item = ([u8; 32], i64)> + '_ {
        let horizon = self.horizon().map_or(i64::MIN, |h| h.timestamp_micros());
        self.ids.iter().flat_map(move |(tenant, ids)| {
            ids.iter().filter(move |(_, at)| **at >= horizon).map(move |(id, at)| {
                let mut key = [0u8; 32];
                key[..16].copy_from_slice(&tenant.0.to_bytes());
                key[16..].copy_from_slice(id);
                (key, *at)
            })
        })
    }

    fn restore(&mut self, ids: Vec<([u8; 32], i64)>, newest: Option<i64>) {
        self.ids = HashMap::new();
        for (key, at) in ids {
            let (mut tenant, mut id) = ([0u8; 16], [0u8; 16]);
            tenant.copy_from_slice(&key[..16]);
            id.copy_from_slice(&key[16..]);
            self.ids.entry(TenantId(ulid::Ulid::from_bytes(tenant))).or_default().insert(id, at);
        }
        self.newest = newest.and_then(DateTime::from_timestamp_micros);
        self.swept = self.horizon();
    }

    /// How many ids are remembered (within the window).
    fn len(&self) -> usize {
        let horizon = self.horizon().map_or(i64::MIN, |h| h.timestamp_micros());
        self.ids.values().map(|ids| ids.values().filter(|at| **at >= horizon).count()).sum()
    }

    fn horizon(&self) -> Option<DateTime<Utc>> {
        self.newest.map(|n| n - self.window)
    }

    /// The rejection for a command issued before the window, if it is.
    fn too_old(&self, issued_at: DateTime<Utc>) -> Option<Rejection> {
        let horizon = self.horizon()?;
        (issued_at < horizon).then(|| Rejection::Gone {
            code: Code::CommandTooOld,
            message: format!(
                "issued at {issued_at}, before this partition's dedup window (from {horizon}): \
                 it may have been decided already, so it is not decided again; send it with a new command id"
            ),
        })
    }

    fn insert(&mut self, tenant: &TenantId, id: CommandId, issued_at: DateTime<Utc>, decided_at: DateTime<Utc>) {
        self.ids.entry(*tenant).or_default().entry(id.0.to_bytes()).or_insert(issued_at.timestamp_micros());
        let anchor = issued_at.min(decided_at);
        self.newest = Some(self.newest.map_or(anchor, |n| n.max(anchor)));
        let Some(horizon) = self.horizon() else { return };
        // Sweep once the horizon has moved on by an eighth of the window:
        // amortised O(1) per command, and at most 1/8 more ids kept.
        let due = self.swept.is_none_or(|s| horizon - s >= self.window / 8);
        if due {
            let h = horizon.timestamp_micros();
            self.ids.retain(|_, ids| {
                ids.retain(|_, at| *at >= h);
                !ids.is_empty()
            });
            self.swept = Some(horizon);
        }
    }
}
