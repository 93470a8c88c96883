//! Records on the events topic. Every record is one CloudEvents 1.0 event or
//! a batch of them (JSON), plus headers that carry the fencing epoch and the
//! position of the command it answers:
//! - a **claim** (`WriterClaimed`): a handler takes the partition at an epoch;
//! - a **decision**: everything one command produced, in one record:
//!   its events, or `CommandRejected`, or `CommandUnchanged` (accepted, no change);
//! - a **forward** (`CommandForwarded`): a command that arrived on a partition
//!   that does not own its tenant was passed on to the owner's commands
//!   partition (and is decided there). It moves the commands position of this
//!   partition past the command and nothing else.
use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, ContactId, Decided, Event, Rejection, TenantId, Warning};
use serde_json::{Value, json};

pub mod header {
    pub const RECORD: &str = "cl-record";
    pub const TENANT: &str = "cl-tenant";
    pub const COMMAND_ID: &str = "cl-command-id";
    pub const COMMAND_TOPIC: &str = "cl-command-topic";
    pub const COMMAND_PARTITION: &str = "cl-command-partition";
    pub const COMMAND_OFFSET: &str = "cl-command-offset";
    pub const EPOCH: &str = "cl-epoch";
    pub const WRITER: &str = "cl-writer";
    pub const CONTACT_VERSIONS: &str = "cl-contact-versions";
    /// The writer's clock when it decided (RFC 3339): bounds how far one
    /// command's `issued_at` can move the dedup window.
    pub const DECIDED_AT: &str = "cl-decided-at";
    /// The command's `issued_at` when it is not the decision's time (the
    /// events' CloudEvents `time`): a command delivered late or back-dated.
    pub const ISSUED_AT: &str = "cl-issued-at";
    // What an accepted decision did (`ledger_domain::Decided`).
    pub const SUBJECT: &str = "cl-subject";
    pub const CREATED: &str = "cl-created";
    pub const WARNINGS: &str = "cl-warnings";
    pub const CONTENT_TYPE: &str = "content-type";
    // Dead-letter provenance.
    pub const DLQ_TOPIC: &str = "cl-dlq-topic";
    pub const DLQ_PARTITION: &str = "cl-dlq-partition";
    pub const DLQ_OFFSET: &str = "cl-dlq-offset";
    pub const DLQ_ERROR: &str = "cl-dlq-error";
    // On a command passed on to its owning partition: where it first arrived.
    pub const FORWARDED_FROM_TOPIC: &str = "cl-forwarded-from-topic";
    pub const FORWARDED_FROM_PARTITION: &str = "cl-forwarded-from-partition";
    pub const FORWARDED_FROM_OFFSET: &str = "cl-forwarded-from-offset";
    // On a forward record: the partition the command went to.
    pub const FORWARDED_TO: &str = "cl-forwarded-to";
}

pub const REJECTED: &str = "CommandRejected";
pub const UNCHANGED: &str = "CommandUnchanged";
pub const CLAIMED: &str = "WriterClaimed";
pub const FORWARDED: &str = "CommandForwarded";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub epoch: u64,
    pub writer_id: String,
    pub claimed_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted, with what `decide` said it did (`Decided`): no events means
    /// nothing changed; `subject` names the contact, `created` says it was
    /// made by this decision, `warnings` what was asked for and not done.
    /// Recorded in the decision's headers, so readers never work them out.
    Accepted {
        events: Vec<Event>,
        subject: Option<ContactId>,
        created: bool,
        warnings: Vec<Warning>,
    },
    Rejected {
        rejection: Rejection,
    },
}

impl From<Decided> for Outcome {
    fn from(d: Decided) -> Self {
        Outcome::Accepted { events: d.events, subject: d.subject, created: d.created, warnings: d.warnings }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
    pub command_type: String,
    pub issued_at: DateTime<Utc>,
    /// The writer's clock when it decided (not the client's): a record
    /// written before this field existed reads back with `issued_at`.
    pub decided_at: DateTime<Utc>,
    /// When what it decided happened, the time its events carry (the
    /// records' CloudEvents `time`): `issued_at` within
    /// [`crate::CLOCK_SKEW`] of the writer's clock, else the writer's clock
    /// (see [`crate::decision_time`]). A record written before this field
    /// existed reads back with `issued_at`, which its events carried.
    pub at: DateTime<Utc>,
    pub source: CommandPosition,
    pub epoch: u64,
    pub outcome: Outcome,
}

impl Decision {
    /// Refused because its `issued_at` was too far ahead of the writer's
    /// clock: not decided, so its id is not remembered.
    pub fn refused_as_future(&self) -> bool {
        matches!(&self.outcome, Outcome::Rejected { rejection: Rejection::Validation { errors } }
            if errors.iter().any(|e| e.field == "issued_at" && e.code == crate::partition::ISSUED_IN_FUTURE))
    }
}

/// A command passed on, unread by `decide`, to the partition owning its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    pub tenant_id: TenantId,
    pub command_id: CommandId,
    /// Where the command arrived (this partition's commands topic).
    pub source: CommandPosition,
    pub to_partition: i32,
    pub epoch: u64,
    pub forwarded_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRecord {
    Claim(Claim),
    Decision(Decision),
    Forward(Forward),
}

/// A record ready for any Kafka client: key, headers, value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub key: String,
    pub headers: Vec<(&'static str, String)>,
    pub value: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
#[error("undecodable log record: {0}")]
pub struct DecodeError(pub String);

/// A record whose value could not be written as JSON. Nothing is appended
/// then: an empty value would be a record nobody can read.
#[derive(Debug, thiserror::Error)]
#[error("could not encode log record: {0}")]
pub struct EncodeError(#[from] pub serde_json::Error);

fn cloud_event(
    id: String,
    ty: &str,
    time: DateTime<Utc>,
    subject: Option<String>,
    data: Value,
) -> serde_json::Map<String, Value> {
    let mut ce = serde_json::Map::new();
    ce.insert("specversion".into(), json!("1.0"));
    ce.insert("id".into(), json!(id));
    ce.insert("source".into(), json!("contact-ledger"));
    ce.insert("type".into(), json!(ty));
    ce.insert("time".into(), json!(time));
    if let Some(s) = subject {
        ce.insert("subject".into(), json!(s));
    }
    ce.insert("datacontenttype".into(), json!("application/json"));
    ce.insert("data".into(), data);
    ce
}

impl Decision {
    fn cloud_events(&self) -> Result<Vec<Value>, serde_json::Error> {
        let ext = |mut ce: serde_json::Map<String, Value>| {
            ce.insert("tenantid".into(), json!(self.tenant_id));
            ce.insert("commandid".into(), json!(self.command_id));
            ce.insert("commandtype".into(), json!(self.command_type));
            ce.insert("epoch".into(), json!(self.epoch));
            ce
        };
        let id = |i: usize| format!("{}-{i}", self.command_id);
        match &self.outcome {
            Outcome::Rejected { rejection } => {
                let data = json!({ "rejection": rejection });
                Ok(vec![Value::Object(ext(cloud_event(id(0), REJECTED, self.at, None, data)))])
            }
            Outcome::Accepted { events, subject, .. } if events.is_empty() => {
                let ce = cloud_event(id(0), UNCHANGED, self.at, subject.map(|s| s.to_string()), json!({}));
                Ok(vec![Value::Object(ext(ce))])
            }
            Outcome::Accepted { events, .. } => events
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let mut ce =
                        cloud_event(id(i), e.event_type(), self.at, e.contact_id().map(|c| c.to_string()), e.data()?);
                    ce.insert("eventversion".into(), json!(e.event_version()));
                    if let Some(v) = e.contact_version() {
                        ce.insert("contactversion".into(), json!(v));
                    }
                    Ok(Value::Object(ext(ce)))
                })
                .collect(),
        }
    }
}

impl LogRecord {
    pub fn encode(&self) -> Result<Encoded, EncodeError> {
        Ok(match self {
            LogRecord::Claim(c) => {
                let ce = cloud_event(
                    format!("claim-{}-{}", c.epoch, c.writer_id),
                    CLAIMED,
                    c.claimed_at,
                    None,
                    json!({ "epoch": c.epoch, "writer_id": c.writer_id }),
                );
                Encoded {
                    key: String::new(),
                    headers: vec![
                        (header::RECORD, "claim".into()),
                        (header::EPOCH, c.epoch.to_string()),
                        (header::WRITER, c.writer_id.clone()),
                        (header::CONTENT_TYPE, "application/cloudevents+json".into()),
                    ],
                    value: serde_json::to_vec(&ce)?,
                }
            }
            LogRecord::Forward(f) => {
                let mut ce = cloud_event(
                    format!("{}-forward", f.command_id),
                    FORWARDED,
                    f.forwarded_at,
                    None,
                    json!({ "to_partition": f.to_partition }),
                );
                ce.insert("tenantid".into(), json!(f.tenant_id));
                ce.insert("commandid".into(), json!(f.command_id));
                ce.insert("epoch".into(), json!(f.epoch));
                Encoded {
                    key: f.tenant_id.to_string(),
                    headers: command_headers("forward", f.tenant_id, f.command_id, &f.source, f.epoch)
                        .into_iter()
                        .chain([
                            (header::FORWARDED_TO, f.to_partition.to_string()),
                            (header::CONTENT_TYPE, "application/cloudevents+json".into()),
                        ])
                        .collect(),
                    value: serde_json::to_vec(&ce)?,
                }
            }
            LogRecord::Decision(d) => {
                let mut events = d.cloud_events()?;
                let (value, content_type) = if events.len() == 1 {
                    (events.remove(0), "application/cloudevents+json")
                } else {
                    (Value::Array(events), "application/cloudevents-batch+json")
                };
                let mut what: Vec<(&'static str, String)> = Vec::new();
                if let Outcome::Accepted { subject, created, warnings, .. } = &d.outcome {
                    if let Some(subject) = subject {
                        what.push((header::SUBJECT, subject.to_string()));
                    }
                    what.push((header::CREATED, created.to_string()));
                    if !warnings.is_empty() {
                        what.push((header::WARNINGS, serde_json::to_string(warnings)?));
                    }
                }
                let versions: Vec<String> = match &d.outcome {
                    Outcome::Accepted { events, .. } => {
                        let mut v: Vec<String> = events
                            .iter()
                            .filter_map(|e| Some(format!("{}={}", e.contact_id()?, e.contact_version()?)))
                            .collect();
                        v.dedup();
                        v
                    }
                    Outcome::Rejected { .. } => vec![],
                };
                if d.issued_at != d.at {
                    what.push((header::ISSUED_AT, d.issued_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
                }
                Encoded {
                    key: d.tenant_id.to_string(),
                    headers: command_headers("decision", d.tenant_id, d.command_id, &d.source, d.epoch)
                        .into_iter()
                        .chain([
                            (header::CONTACT_VERSIONS, versions.join(",")),
                            (header::DECIDED_AT, d.decided_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                            (header::CONTENT_TYPE, content_type.into()),
                        ])
                        .chain(what)
                        .collect(),
                    value: serde_json::to_vec(&value)?,
                }
            }
        })
    }

    /// Reads a record back from its headers and value.
    pub fn decode(headers: &[(String, Vec<u8>)], value: &[u8]) -> Result<LogRecord, DecodeError> {
        let h = |name: &str| -> Option<String> {
            headers.iter().find(|(k, _)| k == name).and_then(|(_, v)| String::from_utf8(v.clone()).ok())
        };
        let need = |name: &str| h(name).ok_or_else(|| DecodeError(format!("missing header {name}")));
        let epoch: u64 = number(header::EPOCH, &need(header::EPOCH)?)?;
        let body: Value = serde_json::from_slice(value).map_err(|e| DecodeError(format!("value is not JSON: {e}")))?;
        match need(header::RECORD)?.as_str() {
            "claim" => Ok(LogRecord::Claim(Claim {
                epoch,
                writer_id: need(header::WRITER)?,
                claimed_at: need_time(&body, "claim")?,
            })),
            "decision" => {
                let events = match body {
                    Value::Array(items) => items,
                    one @ Value::Object(_) => vec![one],
                    _ => return Err(DecodeError("value is neither an event nor a batch".into())),
                };
                let first = events.first().ok_or_else(|| DecodeError("empty batch".into()))?;
                let text = |ce: &Value, k: &str| ce.get(k).and_then(Value::as_str).map(str::to_owned);
                let command_type = text(first, "commandtype").unwrap_or_default();
                let at = time_of(first).ok_or_else(|| DecodeError("event without time".into()))?;
                let ty = text(first, "type").unwrap_or_default();
                let outcome = if ty == REJECTED {
                    let rejection = first
                        .get("data")
                        .and_then(|d| d.get("rejection"))
                        .cloned()
                        .and_then(|r| serde_json::from_value(r).ok())
                        .ok_or_else(|| DecodeError("rejection without a readable reason".into()))?;
                    Outcome::Rejected { rejection }
                } else if ty == UNCHANGED {
                    let subject = text(first, "subject").and_then(|s| s.parse().ok());
                    accepted(&h, vec![], subject)?
                } else {
                    let mut out = Vec::with_capacity(events.len());
                    for ce in &events {
                        let ty = text(ce, "type").unwrap_or_default();
                        let version = event_version(ce, &ty)?;
                        let data = ce.get("data").cloned().unwrap_or(Value::Null);
                        let event = Event::from_parts(&ty, version, data)
                            .map_err(|e| DecodeError(format!("event {ty}: {e}")))?;
                        out.push(event);
                    }
                    let subject = out.iter().find_map(Event::contact_id);
                    accepted(&h, out, subject)?
                };
                let (tenant_id, command_id, source) = command_of(&need)?;
                let issued_at = match h(header::ISSUED_AT) {
                    Some(t) => DateTime::parse_from_rfc3339(&t)
                        .map_err(|e| DecodeError(format!("bad {} header: {e}", header::ISSUED_AT)))?
                        .with_timezone(&Utc),
                    None => at,
                };
                let decided_at = match h(header::DECIDED_AT) {
                    Some(t) => DateTime::parse_from_rfc3339(&t)
                        .map_err(|e| DecodeError(format!("bad {} header: {e}", header::DECIDED_AT)))?
                        .with_timezone(&Utc),
                    None => issued_at,
                };
                Ok(LogRecord::Decision(Decision {
                    tenant_id,
                    command_id,
                    command_type,
                    issued_at,
                    decided_at,
                    at,
                    source,
                    epoch,
                    outcome,
                }))
            }
            "forward" => {
                let (tenant_id, command_id, source) = command_of(&need)?;
                Ok(LogRecord::Forward(Forward {
                    tenant_id,
                    command_id,
                    source,
                    to_partition: number(header::FORWARDED_TO, &need(header::FORWARDED_TO)?)?,
                    epoch,
                    forwarded_at: need_time(&body, "forward")?,
                }))
            }
            other => Err(DecodeError(format!("unknown record kind {other:?}"))),
        }
    }
}

/// The headers every decision and forward carry: the record kind, which
/// command of which tenant, where it was read, and the writer's epoch.
fn command_headers(
    kind: &str,
    tenant: TenantId,
    command: CommandId,
    source: &CommandPosition,
    epoch: u64,
) -> Vec<(&'static str, String)> {
    vec![
        (header::RECORD, kind.to_owned()),
        (header::TENANT, tenant.to_string()),
        (header::COMMAND_ID, command.to_string()),
        (header::COMMAND_TOPIC, source.topic.clone()),
        (header::COMMAND_PARTITION, source.partition.to_string()),
        (header::COMMAND_OFFSET, source.offset.to_string()),
        (header::EPOCH, epoch.to_string()),
    ]
}

/// What `command_headers` wrote, read back.
fn command_of(
    need: &dyn Fn(&str) -> Result<String, DecodeError>,
) -> Result<(TenantId, CommandId, CommandPosition), DecodeError> {
    let tenant = need(header::TENANT)?.parse().map_err(|_| DecodeError("bad tenant header".into()))?;
    let command = need(header::COMMAND_ID)?.parse().map_err(|_| DecodeError("bad command id header".into()))?;
    let source = CommandPosition {
        topic: need(header::COMMAND_TOPIC)?,
        partition: number(header::COMMAND_PARTITION, &need(header::COMMAND_PARTITION)?)?,
        offset: number(header::COMMAND_OFFSET, &need(header::COMMAND_OFFSET)?)?,
    };
    Ok((tenant, command, source))
}

/// A numeric header as the type its field has. It is read wide first so that a
/// value the type cannot hold (a negative epoch, a partition past `i32`) is a
/// decode error, never wrapped, clamped or truncated.
fn number<T: TryFrom<i128>>(name: &str, raw: &str) -> Result<T, DecodeError> {
    let n: i128 = raw.trim().parse().map_err(|_| DecodeError(format!("header {name} is not a number")))?;
    T::try_from(n).map_err(|_| DecodeError(format!("header {name} is out of range: {n}")))
}

/// `eventversion` of one event: absent means version 1 (records written before
/// it existed); present, it must be a whole number a `u32` holds.
fn event_version(ce: &Value, ty: &str) -> Result<u32, DecodeError> {
    match ce.get("eventversion") {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| DecodeError(format!("event {ty}: eventversion out of range: {v}"))),
    }
}

/// An accepted outcome as its headers record it. Records written before the
/// headers existed (no `cl-created`) get what their events say: the first
/// contact they name, created when one of them is its `ContactCreated`, no
/// warnings. `legacy_subject` is that first contact.
fn accepted(
    h: &dyn Fn(&str) -> Option<String>,
    events: Vec<Event>,
    legacy_subject: Option<ContactId>,
) -> Result<Outcome, DecodeError> {
    let Some(created) = h(header::CREATED) else {
        let created =
            events.iter().any(|e| matches!(e, Event::ContactCreated(c) if Some(c.contact_id) == legacy_subject));
        return Ok(Outcome::Accepted { events, subject: legacy_subject, created, warnings: vec![] });
    };
    let created = match created.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(DecodeError(format!("header {} is {other:?}", header::CREATED))),
    };
    let subject = match h(header::SUBJECT) {
        Some(s) => Some(s.parse().map_err(|_| DecodeError(format!("bad {} header", header::SUBJECT)))?),
        None => None,
    };
    let warnings = match h(header::WARNINGS) {
        Some(w) => {
            serde_json::from_str(&w).map_err(|e| DecodeError(format!("bad {} header: {e}", header::WARNINGS)))?
        }
        None => vec![],
    };
    Ok(Outcome::Accepted { events, subject, created, warnings })
}

/// A claim's or a forward's time: a record without a readable one is an
/// error (dead-lettered by its readers), never the epoch.
fn need_time(ce: &Value, kind: &str) -> Result<DateTime<Utc>, DecodeError> {
    time_of(ce).ok_or_else(|| DecodeError(format!("a {kind} record without a readable \"time\"")))
}

fn time_of(ce: &Value) -> Option<DateTime<Utc>> {
    ce.get("time")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}
