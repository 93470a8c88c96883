//! The invite mailer: events topic -> invite mail -> an outcome command.
//!
//! For every valid `InviteRequested` it makes a single-use token (only its
//! hash is stored), mails the link, and reports `RecordInviteSent` or, after
//! its retries, `RecordInviteDeliveryFailed` through the commands topic: the
//! handler stays the only writer of the events topic.
//!
//! Why nothing is mailed twice: a replay or rebuild rewinds the projector,
//! never the mailer, which keeps its own positions; and a re-read (a crash
//! before the positions were stored) meets the invite's token row, which is
//! marked `sent` right after the SMTP server accepts the mail. Only a crash
//! between that accept and the mark re-sends, once, under the same
//! `Message-ID`. Outcome commands carry an id derived from the invite id, so
//! reporting again (which a re-read does, in case the first report was lost)
//! is de-duplicated by the handler.
use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use chrono::Utc;
use ledger_domain::{
    Command, CommandId, Contact, InviteId, TenantId,
    command::{RecordInviteDeliveryFailed, RecordInviteSent},
    event::{Event, InviteRequested},
    ids::derive_ulid,
};
use ledger_kafka::{EventReader, KafkaConfig, shared::SharedConsumer};
use ledger_mail::{InviteMail, MailConfig, Sender, message_id};
use ledger_ports::{CommandBus, Commands, Contacts, InviteState, Tenants};
use ledger_protocol::{Admit, CommandEnvelope, Decision, Fence, LogRecord, Outcome};
use ledger_store::{InviteTicket, MailerPosition, Store, TokenState};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::projector::Gap;

pub const BATCH_MAX: usize = 500;

/// How long the mailer waits for an invite's decision to be projected (the
/// names in the mail come from the read model).
const PROJECTION_WAIT: Duration = Duration::from_secs(30);

/// The longest pause between two attempts, however many there are.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Shutdown was asked for while waiting; the batch is left for next time.
#[derive(Debug, thiserror::Error)]
#[error("the mailer was stopped")]
pub struct Stopped;

/// What happened to one `InviteRequested`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Sent before (a re-read): not mailed again, its outcome reported again.
    AlreadySent,
    Failed,
    /// Past `expires_at` before it could be mailed.
    Expired,
    /// A newer invite of the contact was requested before this one could be
    /// mailed: its link would only answer 410, so it is not sent.
    Superseded,
}

#[derive(Clone, Debug)]
pub struct Retry {
    /// Attempts per invite (at least 1).
    pub attempts: u32,
    /// The pause after the first failed attempt; doubled after each further one.
    pub base: Duration,
}

impl Retry {
    /// The pause after failed attempt `attempt` (counting from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

#[derive(Clone)]
pub struct Mailer {
    store: Store,
    bus: Arc<dyn CommandBus>,
    sender: Arc<dyn Sender>,
    mail: MailConfig,
    retry: Retry,
    topic: String,
    shutdown: watch::Receiver<bool>,
    /// The one partition this mailer reads, and the consumer it reads it
    /// through (`None`: every partition, through a consumer of its own).
    partition: Option<(i32, Arc<SharedConsumer>)>,
}

impl Mailer {
    pub fn new(
        store: Store,
        bus: Arc<dyn CommandBus>,
        sender: Arc<dyn Sender>,
        mail: MailConfig,
        retry: Retry,
        topic: &str,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let retry = Retry { attempts: retry.attempts.max(1), ..retry };
        Mailer { store, bus, sender, mail, retry, topic: topic.to_owned(), shutdown, partition: None }
    }

    /// The same mailer reading only `partition` until `stop` reads `true`
    /// (the pool runs one per partition it holds).
    pub fn of_partition(&self, partition: i32, shared: Arc<SharedConsumer>, stop: watch::Receiver<bool>) -> Mailer {
        Mailer { partition: Some((partition, shared)), shutdown: stop, ..self.clone() }
    }

    /// A reader at the mailer's stored positions.
    pub async fn reader(&self, cfg: &KafkaConfig) -> anyhow::Result<EventReader> {
        let positions = self.store.mailer_positions(&self.topic).await?;
        let positions: std::collections::HashMap<i32, i64> =
            positions.iter().map(|(p, at)| (*p, at.next_offset)).collect();
        Ok(match &self.partition {
            Some((p, shared)) => EventReader::on_shared(cfg, shared.clone(), *p, positions.get(p).copied())?,
            None => EventReader::new(cfg, &positions)?,
        })
    }

    /// Handles one batch of the events topic and stores the positions after
    /// it; returns how many records it read. Offsets must follow on from the
    /// stored ones (as in the projector): a jump is a `Gap` error, and the
    /// caller re-reads from the stored positions.
    pub async fn process_next(&self, reader: &EventReader) -> anyhow::Result<usize> {
        let batch = reader.next_batch(BATCH_MAX, Duration::from_millis(100)).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let lock = self
            .until_stopped(self.store.begin_mailer_batch_of(&self.topic, self.partition.as_ref().map(|(p, _)| *p)))
            .await??;
        let mut partitions: BTreeMap<i32, (i64, Fence)> =
            lock.positions().iter().map(|(p, at)| (*p, (at.next_offset, Fence::at(at.epoch)))).collect();
        // Only the partitions of this batch are stored: another mailer's may
        // be moving on meanwhile.
        let touched: std::collections::BTreeSet<i32> = batch.iter().map(|r| r.partition).collect();
        partitions.retain(|p, _| touched.contains(p));
        for read in &batch {
            let (next, fence) = partitions.entry(read.partition).or_insert((0, Fence::default()));
            if read.offset < *next {
                continue; // handled before (by us, or by another mailer)
            }
            if read.offset > *next {
                return Err(Gap { partition: read.partition, offset: read.offset, expected: *next }.into());
            }
            *next = read.offset + 1;
            // Undecodable records are the projector's to dead-letter.
            let Ok(record) = &read.record else { continue };
            if let (Admit::Valid, LogRecord::Decision(d)) = (fence.admit(record), record) {
                for invite in requested_invites(d) {
                    self.deliver(d, invite).await?;
                }
            }
        }
        let positions = partitions
            .into_iter()
            .map(|(p, (next_offset, fence))| (p, MailerPosition { next_offset, epoch: fence.epoch() }))
            .collect();
        lock.commit(&positions).await?;
        Ok(batch.len())
    }

    /// Mails one invite (unless it was mailed before) and reports the outcome.
    pub async fn deliver(&self, d: &Decision, invite: &InviteRequested) -> anyhow::Result<Delivery> {
        let (tenant, invite_id) = (d.tenant_id, invite.invite_id);
        if invite.expires_at <= Utc::now() {
            info!(invite = %invite_id, "invite expired before it was mailed; not sending it");
            return Ok(Delivery::Expired);
        }
        if self.store.invite_token_state(tenant, invite_id).await? == Some(TokenState::Sent) {
            return self.already_sent(tenant, invite_id).await;
        }
        let projected =
            self.until_stopped(self.store.wait_for_command(tenant, d.command_id, PROJECTION_WAIT)).await??;
        if projected.is_none() {
            anyhow::bail!("invite {invite_id}: its decision was not projected within {PROJECTION_WAIT:?}");
        }
        if self.store.invite_state(tenant, invite_id).await? == Some(InviteState::Superseded) {
            info!(invite = %invite_id, "a newer invite replaced this one before it was mailed; not sending it");
            return Ok(Delivery::Superseded);
        }
        let contact = self.store.contact(tenant, invite.contact_id).await?;
        let Some((to, contact_name)) = contact.as_ref().and_then(recipient) else {
            warn!(invite = %invite_id, contact = %invite.contact_id, "invite not mailed: the contact has no email address");
            self.report_failed(tenant, invite_id, "the contact has no email address".into(), 0).await?;
            return Ok(Delivery::Failed);
        };
        let tenant_name = self.store.tenant(tenant).await?.map(|t| t.name).unwrap_or_default();
        let ticket =
            InviteTicket { tenant_id: tenant, invite_id, contact_id: invite.contact_id, expires_at: invite.expires_at };
        let Some(token) = self.store.begin_invite(&ticket).await? else {
            return self.already_sent(tenant, invite_id).await;
        };
        let mail = InviteMail {
            to,
            contact_name,
            tenant_name,
            link: self.mail.invite_link(token.expose()),
            tenant_id: tenant,
            invite_id,
            expires_at: invite.expires_at,
        };
        drop(token);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sender.send(&mail).await {
                Ok(message_id) => {
                    // First, before anything can fail: from here on a re-read never re-sends.
                    self.store.mark_invite_sent(tenant, invite_id).await?;
                    info!(invite = %invite_id, contact = %invite.contact_id, attempt, "invite mail sent");
                    self.report_sent(tenant, invite_id, message_id).await?;
                    return Ok(Delivery::Sent);
                }
                Err(e) if attempt >= self.retry.attempts || e.is_permanent() => {
                    warn!(invite = %invite_id, attempt, error = %e, "invite mail could not be delivered; giving up");
                    self.report_failed(tenant, invite_id, e.to_string(), attempt).await?;
                    return Ok(Delivery::Failed);
                }
                Err(e) => {
                    let pause = self.retry.backoff(attempt);
                    warn!(invite = %invite_id, attempt, error = %e, ?pause, "invite mail not sent; will retry");
                    self.until_stopped(tokio::time::sleep(pause)).await?;
                }
            }
        }
    }

    /// The mail went out before; its report may not have (a crash right after
    /// the send), so it is made again: the handler drops it if it has it.
    async fn already_sent(&self, tenant: TenantId, invite: InviteId) -> anyhow::Result<Delivery> {
        debug!(invite = %invite, "invite mailed before; not sending it again");
        self.report_sent(tenant, invite, message_id(tenant, invite)).await?;
        Ok(Delivery::AlreadySent)
    }

    async fn report_sent(&self, tenant: TenantId, invite_id: InviteId, message_id: String) -> anyhow::Result<()> {
        let command = Command::RecordInviteSent(RecordInviteSent { invite_id, message_id });
        self.report(tenant, invite_id, "sent", command).await
    }

    async fn report_failed(
        &self,
        tenant: TenantId,
        invite_id: InviteId,
        reason: String,
        attempts: u32,
    ) -> anyhow::Result<()> {
        let command = Command::RecordInviteDeliveryFailed(RecordInviteDeliveryFailed { invite_id, reason, attempts });
        self.report(tenant, invite_id, "failed", command).await
    }

    async fn report(&self, tenant: TenantId, invite: InviteId, outcome: &str, command: Command) -> anyhow::Result<()> {
        let envelope = CommandEnvelope {
            command_id: outcome_command_id(invite, outcome),
            tenant_id: tenant,
            issued_at: Utc::now(),
            command,
        };
        self.bus.submit(&envelope).await?;
        Ok(())
    }

    /// Runs `f` unless shutdown is asked for first.
    async fn until_stopped<F: Future>(&self, f: F) -> Result<F::Output, Stopped> {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            out = f => Ok(out),
            _ = shutdown.wait_for(|stop| *stop) => Err(Stopped),
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// The id of the command reporting an invite's outcome: the same for every
/// report of one outcome, so the handler keeps only the first.
pub fn outcome_command_id(invite: InviteId, outcome: &str) -> CommandId {
    CommandId(derive_ulid(CommandId(invite.0), outcome))
}

fn requested_invites(d: &Decision) -> impl Iterator<Item = &InviteRequested> {
    let events = match &d.outcome {
        Outcome::Accepted { events, .. } => events.as_slice(),
        Outcome::Rejected { .. } => &[],
    };
    events.iter().filter_map(|e| match e {
        Event::InviteRequested(i) => Some(i),
        _ => None,
    })
}

/// The address to mail and the name to greet: "first last", else the name
/// field, else the address itself.
fn recipient(contact: &Contact) -> Option<(String, String)> {
    let p = &contact.profile;
    let email = p.email.as_deref().map(str::trim).filter(|e| !e.is_empty())?.to_owned();
    let full = [p.first_name.as_deref(), p.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let name = Some(full)
        .filter(|n| !n.is_empty())
        .or_else(|| p.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| email.clone());
    Some((email, name))
}

/// Runs until shutdown; after an error it re-reads from the stored positions.
pub async fn run(mailer: Mailer, cfg: KafkaConfig) {
    while !mailer.stopping() {
        match run_once(&mailer, &cfg).await {
            Ok(()) => {}
            Err(e) if e.is::<Stopped>() => return,
            Err(e) if e.is::<Gap>() => info!(error = %e, "mailer re-reading from its stored positions"),
            Err(e) => {
                warn!(error = %e, "mailer failed; restarting from its stored positions");
                if mailer.until_stopped(tokio::time::sleep(Duration::from_millis(500))).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn run_once(mailer: &Mailer, cfg: &KafkaConfig) -> anyhow::Result<()> {
    let reader = mailer.reader(cfg).await?;
    while !mailer.stopping() {
        mailer.process_next(&reader).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ledger_domain::{ContactId, ContactKind, Profile};
    use ulid::Ulid;

    use super::*;

    fn contact(profile: Profile) -> Contact {
        let at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap();
        Contact {
            id: ContactId(Ulid::new()),
            number: 1,
            kind: ContactKind::User,
            type_id: None,
            profile,
            registered: false,
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn the_backoff_doubles_from_the_base_and_is_capped() {
        let retry = Retry { attempts: 20, base: Duration::from_millis(100) };
        let pauses: Vec<u128> = (1..=4).map(|a| retry.backoff(a).as_millis()).collect();
        assert_eq!(pauses, vec![100, 200, 400, 800]);
        assert_eq!(retry.backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn outcome_reports_have_one_id_per_invite_and_outcome() {
        let invite = InviteId(Ulid::new());
        assert_eq!(outcome_command_id(invite, "sent"), outcome_command_id(invite, "sent"));
        assert_ne!(outcome_command_id(invite, "sent"), outcome_command_id(invite, "failed"));
        assert_ne!(outcome_command_id(invite, "sent"), outcome_command_id(InviteId(Ulid::new()), "sent"));
    }

    #[test]
    fn the_greeting_uses_the_full_name_then_the_name_then_the_address() {
        let mut p = Profile {
            email: Some(" bob@example.com ".into()),
            first_name: Some("Bob".into()),
            last_name: Some("Bobsworth".into()),
            ..Profile::default()
        };
        assert_eq!(recipient(&contact(p.clone())), Some(("bob@example.com".into(), "Bob Bobsworth".into())));
        p.first_name = None;
        assert_eq!(recipient(&contact(p.clone())).unwrap().1, "Bobsworth");
        p.last_name = Some(" ".into());
        p.name = Some("B. B.".into());
        assert_eq!(recipient(&contact(p.clone())).unwrap().1, "B. B.");
        p.name = None;
        assert_eq!(recipient(&contact(p.clone())).unwrap().1, "bob@example.com");
        p.email = None;
        assert_eq!(recipient(&contact(p)), None);
    }
}
