use std::time::Duration;

use async_trait::async_trait;
use ledger_domain::{CommandId, ContactId, Rejection, TenantId, Warning};
use serde::Serialize;

use crate::{EventView, Unavailable};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    Accepted,
    Rejected,
}

/// A decided command as the projector recorded it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandView {
    pub command_id: CommandId,
    pub tenant_id: TenantId,
    pub command_type: String,
    pub status: CommandStatus,
    pub contact_id: Option<ContactId>,
    /// The events (type, version, data; secrets removed) when accepted.
    pub events: Vec<EventView>,
    /// Whether the decision created `contact_id` (its record says so).
    pub created: bool,
    /// What the decision did less than asked.
    pub warnings: Vec<Warning>,
    /// The rejection, when rejected.
    pub rejection: Option<Rejection>,
}

impl CommandView {
    /// The contact this decision created, folded from its own events: each
    /// event's `data` read in the schema version it was written in (not the
    /// contact's version). `None` when it created nothing, or an event does
    /// not read back (no schema version known, or secrets removed).
    pub fn created_contact(&self, id: ContactId) -> Option<ledger_domain::Contact> {
        if !self.created {
            return None;
        }
        let mut folded = ledger_domain::TenantState::default();
        for e in &self.events {
            folded.apply(&ledger_domain::Event::from_parts(&e.event_type, e.schema_version?, e.data.clone()).ok()?);
        }
        folded.contact(id)
    }
}

/// Commands and their decisions: what the projector recorded, waiting for
/// it, and the ids the API submitted (so an undecided one reads `pending`).
#[async_trait]
pub trait Commands: Send + Sync + 'static {
    async fn command(&self, tenant: TenantId, id: CommandId) -> Result<Option<CommandView>, Unavailable>;
    /// Waits until the projector has recorded the command's outcome (so the
    /// read model already shows it), or the timeout passes.
    async fn wait_for_command(
        &self,
        tenant: TenantId,
        id: CommandId,
        timeout: Duration,
    ) -> Result<Option<CommandView>, Unavailable>;
    /// Remembers that the API accepted this command id (for `pending`).
    async fn record_submitted(&self, tenant: TenantId, id: CommandId) -> Result<(), Unavailable>;
    async fn was_submitted(&self, tenant: TenantId, id: CommandId) -> Result<bool, Unavailable>;
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ledger_domain::{CommandId, Context, Decided, TenantState, decide, wire};
    use serde_json::json;

    use super::*;

    fn decided(state: &mut TenantState, n: u64, ty: &str, payload: serde_json::Value) -> Decided {
        let command = wire::parse(ty, &payload).expect("a valid command");
        let ctx = Context::new(CommandId(ulid::Ulid::from_parts(n, 1)), Utc::now());
        let decided = decide(state, &command, &ctx).expect("accepted");
        decided.events.iter().for_each(|e| state.apply(e));
        decided
    }

    /// What the store keeps of a decision's events: `version` is the
    /// contact's, `schema_version` the event type's.
    fn views(decided: &Decided) -> Vec<EventView> {
        decided
            .events
            .iter()
            .map(|e| EventView {
                event_type: e.event_type().into(),
                version: e.contact_version().unwrap_or(0),
                time: Utc::now(),
                command_id: CommandId(ulid::Ulid::from_parts(1, 1)),
                data: e.data().expect("JSON"),
                schema_version: Some(e.event_version()),
            })
            .collect()
    }

    #[test]
    fn a_created_contact_folds_from_events_read_by_their_schema_version_not_the_contacts() {
        let mut state = TenantState::default();
        decided(&mut state, 0, "CreateTenant", json!({"name": "Acme", "api_key_hash": "a".repeat(64)}));
        let created = decided(
            &mut state,
            1,
            "CreateContact",
            json!({"kind": "user", "email": "ada@example.com", "first_name": "Ada", "last_name": "L", "invite": true}),
        );
        let id = created.subject.expect("a contact");
        let invited = decided(&mut state, 2, "RequestInvite", json!({"contact_id": id.to_string()}));
        let mut events = views(&created);
        events.extend(views(&invited));
        assert!(events.iter().any(|e| e.version == 2), "a contact version other than 1 is in play");
        let view = CommandView {
            command_id: CommandId(ulid::Ulid::from_parts(1, 1)),
            tenant_id: TenantId(ulid::Ulid::from_parts(9, 9)),
            command_type: "CreateContact".into(),
            status: CommandStatus::Accepted,
            contact_id: Some(id),
            events,
            created: true,
            warnings: vec![],
            rejection: None,
        };
        let contact = view.created_contact(id).expect("folds");
        assert_eq!((contact.id, contact.version), (id, 2));

        // Without the schema version (outcomes stored before it was kept):
        // nothing is guessed, the caller reads the contact back.
        let mut unknown = view.clone();
        unknown.events.iter_mut().for_each(|e| e.schema_version = None);
        assert_eq!(unknown.created_contact(id), None);
        assert_eq!(CommandView { created: false, ..view }.created_contact(id), None);
    }
}
