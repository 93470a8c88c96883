//! How the handler keeps a contact in memory: the fields decisions read, and
//! the profile in a compact binary form decoded when a decision needs it.
//! An unpacked `Contact` costs 1-3 KB (its profile struct alone is ~500
//! bytes before any text); a packed one is its text plus ~60 bytes.
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use crate::contact::{Address, Contact, ContactKind, Profile};
use crate::ids::ContactId;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Packed {
    pub number: u64,
    pub version: u64,
    /// Microseconds since the epoch (what PostgreSQL keeps too).
    pub created_at: i64,
    pub updated_at: i64,
    pub kind: ContactKind,
    pub registered: bool,
    profile: Box<[u8]>,
}

impl Packed {
    pub fn of(c: &Contact) -> Packed {
        Packed {
            number: c.number,
            version: c.version,
            created_at: c.created_at.timestamp_micros(),
            updated_at: c.updated_at.timestamp_micros(),
            kind: c.kind,
            registered: c.registered,
            profile: encode(&c.profile).into_boxed_slice(),
        }
    }

    pub fn unpack(&self, id: ContactId, type_id: Option<i64>) -> Contact {
        let at = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap_or_default();
        Contact {
            id,
            number: self.number,
            kind: self.kind,
            type_id,
            profile: decode(&self.profile),
            registered: self.registered,
            version: self.version,
            created_at: at(self.created_at),
            updated_at: at(self.updated_at),
        }
    }
}

// Tags of the encoding: one per present field, each followed by its value.
const ADDRESS: u8 = 12;
const TAGS: u8 = 13;
const METADATA: u8 = 14;

/// The profile's text fields in a fixed order: the index is the field's tag.
fn texts(p: &Profile) -> [&Option<String>; 12] {
    [
        &p.external_id,
        &p.email,
        &p.first_name,
        &p.last_name,
        &p.name,
        &p.company,
        &p.title,
        &p.department,
        &p.phone,
        &p.mobile,
        &p.avatar_url,
        &p.purchase_order_number,
    ]
}

fn texts_mut(p: &mut Profile) -> [&mut Option<String>; 12] {
    [
        &mut p.external_id,
        &mut p.email,
        &mut p.first_name,
        &mut p.last_name,
        &mut p.name,
        &mut p.company,
        &mut p.title,
        &mut p.department,
        &mut p.phone,
        &mut p.mobile,
        &mut p.avatar_url,
        &mut p.purchase_order_number,
    ]
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    varint(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

/// Tag, length and bytes per present field; the address and the metadata
/// (rare, or free-form) as JSON.
pub(crate) fn encode(p: &Profile) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    for (tag, text) in texts(p).into_iter().enumerate() {
        if let Some(t) = text {
            out.push(tag as u8);
            put(&mut out, t.as_bytes());
        }
    }
    if let Some(a) = &p.address {
        out.push(ADDRESS);
        put(&mut out, &serde_json::to_vec(a).unwrap_or_default());
    }
    if !p.tags.is_empty() {
        out.push(TAGS);
        varint(&mut out, p.tags.len());
        for t in &p.tags {
            put(&mut out, t.as_bytes());
        }
    }
    if !p.metadata.is_empty() {
        out.push(METADATA);
        put(&mut out, &serde_json::to_vec(&p.metadata).unwrap_or_default());
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn chunk(&mut self) -> Option<&'a [u8]> {
        let n = self.varint()?;
        let (chunk, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(chunk)
    }

    fn varint(&mut self) -> Option<usize> {
        let mut n = 0usize;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 56 {
                return None;
            }
        }
        Some(n)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.chunk()?.to_vec()).ok()
    }
}

/// The inverse of `encode` (only ever given what `encode` wrote).
pub(crate) fn decode(bytes: &[u8]) -> Profile {
    let mut p = Profile::default();
    let mut r = Reader(bytes);
    while let Some(tag) = r.byte() {
        match tag {
            t if usize::from(t) < 12 => *texts_mut(&mut p)[usize::from(t)] = r.text(),
            ADDRESS => p.address = r.chunk().and_then(|j| serde_json::from_slice::<Address>(j).ok()),
            TAGS => {
                let count = r.varint().unwrap_or(0);
                for _ in 0..count {
                    if let Some(t) = r.text() {
                        p.tags.insert(t);
                    }
                }
            }
            METADATA => p.metadata = r.chunk().and_then(|j| serde_json::from_slice(j).ok()).unwrap_or_default(),
            _ => break,
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_profile_field_survives_packing() {
        let full: Profile = serde_json::from_value(json!({
            "external_id": "x-1", "email": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
            "name": "Ada L.", "company": "Engines", "title": "Countess", "department": "Maths", "phone": "+44 1",
            "mobile": "+44 2", "avatar_url": "https://example.com/a.png", "purchase_order_number": "PO-9",
            "address": {"line1": "1 Street", "city": "London", "country_code": "GB"},
            "tags": ["a", "b", "ünïcode"], "metadata": {"n": 1, "nested": {"x": [1.5, null, "s"]}}
        }))
        .unwrap();
        // Every field is set, so a field the encoding forgot would read back empty.
        let as_json = serde_json::to_value(&full).unwrap();
        for f in crate::contact::PROFILE_FIELDS {
            assert!(as_json.get(*f).is_some_and(|v| !v.is_null()), "the test profile leaves {f} unset");
        }
        assert_eq!(decode(&encode(&full)), full);
        assert_eq!(decode(&encode(&Profile::default())), Profile::default());
        let long = Profile { name: Some("n".repeat(300)), ..Profile::default() };
        assert_eq!(decode(&encode(&long)), long, "lengths past one varint byte");
    }

    #[test]
    fn a_packed_profile_is_smaller_than_its_json() {
        let p: Profile = serde_json::from_value(
            json!({"email": "bench123456@example.com", "name": "Bench 123456", "tags": ["bench"], "metadata": {"i": 1}}),
        )
        .unwrap();
        assert!(encode(&p).len() * 3 < serde_json::to_vec(&p).unwrap().len() * 2, "{}", encode(&p).len());
    }
}
