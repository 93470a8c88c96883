//! What of an event may be shown. The log carries a contact's password hash
//! and a tenant's API key hash because the command handler needs them; no read
//! model and no view ever does, so event data passes through here on its way
//! into a table. Secret-bearing events are allow-listed field by field, so a
//! field added to them later stays hidden until someone decides otherwise.
use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, Event};
use serde_json::{Value, json};

/// The event's data with every secret removed.
pub fn public_data(event: &Event) -> Result<Value, serde_json::Error> {
    Ok(match event {
        Event::PasswordSet(e) => json!({ "contact_id": e.contact_id, "version": e.version }),
        Event::TenantCreated(e) => json!({ "name": e.name, "contact_capture": e.contact_capture, "at": e.at }),
        _ => event.data()?,
    })
}

/// The version an event view shows: the contact's version after the event,
/// or 0 for tenant events, which have none.
pub(crate) fn view_version(event: &Event) -> u64 {
    event.contact_version().unwrap_or(0)
}

/// One element of `command_outcomes.events`, the JSON form of an `EventView`.
pub(crate) fn event_json(
    event: &Event,
    time: DateTime<Utc>,
    command_id: CommandId,
) -> Result<Value, serde_json::Error> {
    Ok(json!({
        "type": event.event_type(),
        "version": view_version(event),
        "time": time,
        "command_id": command_id,
        "schema_version": event.event_version(),
        "data": public_data(event)?,
    }))
}
