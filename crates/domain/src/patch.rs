//! A patch of a contact's profile: a JSON merge patch (RFC 7386) that the
//! wire has read field by field, so every key is a profile field holding a
//! value of that field's type (trimmed like any other input), or null to
//! clear it. `decide` applies it; it never reads JSON itself.
use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::{Map, Value};

use crate::contact::{ContactKind, Profile};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfilePatch {
    fields: Map<String, Value>,
    /// `kind` as the patch repeats it: fixed at creation.
    pub kind: Option<ContactKind>,
    /// `type_id` as the patch repeats it (`Some(None)`: null): fixed at creation.
    pub type_id: Option<Option<i64>>,
}

impl ProfilePatch {
    /// Only the wire builds one, from fields it has checked.
    pub(crate) fn new(fields: Map<String, Value>, kind: Option<ContactKind>, type_id: Option<Option<i64>>) -> Self {
        Self { fields, kind, type_id }
    }

    /// The profile with this patch applied. An error here means a patch the
    /// wire should not have let through.
    pub fn apply(&self, profile: &Profile) -> Result<Profile, serde_json::Error> {
        let mut doc = serde_json::to_value(profile)?;
        merge_patch(&mut doc, &Value::Object(self.fields.clone()));
        serde_json::from_value(doc)
    }
}

/// Written back as the merge patch it was read from.
impl Serialize for ProfilePatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let extra = usize::from(self.kind.is_some()) + usize::from(self.type_id.is_some());
        let mut map = s.serialize_map(Some(self.fields.len() + extra))?;
        if let Some(kind) = self.kind {
            map.serialize_entry("kind", &kind)?;
        }
        if let Some(type_id) = self.type_id {
            map.serialize_entry("type_id", &type_id)?;
        }
        for (k, v) in &self.fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
