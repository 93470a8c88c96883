//! The command handler's state for one partition, and its step function.
//! The Kafka adapter feeds it records (while rebuilding and tailing) and
//! commands, and appends what it returns; all the deciding happens here.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use ledger_domain::{CommandId, Context, Rejection, TenantId, TenantState, decide};

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
    decided: HashSet<CommandId>,
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
            decided: HashSet::new(),
            next_command_offset: 0,
            invite_ttl,
            routing: None,
            records_applied: 0,
        }
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

    fn fold(&mut self, d: &Decision) {
        self.records_applied += 1;
        self.decided.insert(d.command_id);
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

    /// Where to resume the commands partition: after the last decided command.
    pub fn next_command_offset(&self) -> i64 {
        self.next_command_offset
    }

    pub fn handle(&mut self, input: Result<CommandEnvelope, EnvelopeError>, source: CommandPosition) -> Step {
        // Before `become_writer` a decision carries epoch 0, which no reader
        // accepts: only a writer whose claim won can write valid records.
        let epoch = self.writer_epoch.unwrap_or(0);
        let decision = match input {
            Err(EnvelopeError::Undecodable(reason)) => return Step::DeadLetter { reason },
            Err(EnvelopeError::InvalidPayload { command_id, tenant_id, issued_at, command_type, errors }) => {
                if self.decided.contains(&command_id) {
                    return Step::Duplicate(command_id);
                }
                if let Some(to) = self.elsewhere(&tenant_id) {
                    return self.forward((tenant_id, command_id, issued_at), source, to);
                }
                Decision {
                    tenant_id,
                    command_id,
                    command_type,
                    issued_at,
                    source,
                    epoch,
                    outcome: Outcome::Rejected { rejection: Rejection::invalid(errors) },
                }
            }
            Ok(env) => {
                if self.decided.contains(&env.command_id) {
                    return Step::Duplicate(env.command_id);
                }
                if let Some(to) = self.elsewhere(&env.tenant_id) {
                    return self.forward((env.tenant_id, env.command_id, env.issued_at), source, to);
                }
                let mut ctx = Context::new(env.command_id, env.issued_at);
                ctx.invite_ttl = self.invite_ttl;
                let empty = TenantState::default();
                let state = self.tenants.get(&env.tenant_id).unwrap_or(&empty);
                let outcome = match decide(state, &env.command, &ctx) {
                    Ok(decided) => Outcome::from(decided),
                    Err(rejection) => Outcome::Rejected { rejection },
                };
                Decision {
                    tenant_id: env.tenant_id,
                    command_id: env.command_id,
                    command_type: env.command.command_type().to_owned(),
                    issued_at: env.issued_at,
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
