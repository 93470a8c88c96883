//! Event versions and the upcaster hook. Every event type has a current
//! schema version; a record keeps the version it was written with, and
//! reading passes older versions through `upcast` step by step (v1 -> v2 ->
//! ... current) before the data meets today's Rust type, so a log written by
//! any earlier release stays readable forever. A version newer than this
//! build knows is refused rather than misread.
//!
//! To change an event's shape: bump its entry in `current_version`, add the
//! step from the previous version in `step`, keep the old golden fixture in
//! `schemas/fixtures/events/` and add one for the new version.
use serde_json::Value;

/// Every event type name (`Event::TYPES`, from the one list in `event.rs`).
pub const EVENT_TYPES: &[&str] = crate::Event::TYPES;

/// The version this build writes for `event_type` (None: not an event type).
pub fn current_version(event_type: &str) -> Option<u32> {
    EVENT_TYPES.contains(&event_type).then_some(1)
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type} v{version} is newer than this build reads (v{current}); upgrade before reading this log")]
    TooNew { event_type: String, version: u32, current: u32 },
    #[error("{event_type} has no version {version}")]
    NoSuchVersion { event_type: String, version: u32 },
}

/// `data` as written at `version`, brought to the current version.
pub fn upcast(event_type: &str, version: u32, mut data: Value) -> Result<Value, UpcastError> {
    let current = current_version(event_type).ok_or_else(|| UpcastError::UnknownType(event_type.to_owned()))?;
    if version == 0 {
        return Err(UpcastError::NoSuchVersion { event_type: event_type.to_owned(), version });
    }
    if version > current {
        return Err(UpcastError::TooNew { event_type: event_type.to_owned(), version, current });
    }
    for from in version..current {
        data = step(event_type, from, data)?;
    }
    Ok(data)
}

/// One step, `from` -> `from + 1`. No event has a second version yet.
fn step(event_type: &str, from: u32, _data: Value) -> Result<Value, UpcastError> {
    Err(UpcastError::NoSuchVersion { event_type: event_type.to_owned(), version: from + 1 })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_current_version_passes_through_and_others_are_refused_by_name() {
        assert_eq!(upcast("RoleRevoked", 1, json!({"a": 1})), Ok(json!({"a": 1})));
        assert!(matches!(upcast("RoleRevoked", 2, json!({})), Err(UpcastError::TooNew { version: 2, current: 1, .. })));
        assert!(matches!(upcast("RoleRevoked", 0, json!({})), Err(UpcastError::NoSuchVersion { .. })));
        assert!(matches!(upcast("Nope", 1, json!({})), Err(UpcastError::UnknownType(_))));
    }
}
