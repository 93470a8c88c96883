//! How the handler keeps a contact in memory: one byte string per contact,
//! the fields decisions read most (kind, version, number, times) in a short
//! header and then the profile in a compact binary form, decoded when a
//! decision needs it. An unpacked `Contact` costs 1-3 KB (its profile struct
//! alone is ~500 bytes before any text); a packed one is its text plus ~20
//! bytes, kept in the tenant's arena (see `store`).
use chrono::DateTime;

use crate::contact::{Address, Contact, ContactKind, Profile};
use crate::ids::ContactId;

/// The header of a packed contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub kind: ContactKind,
    pub registered: bool,
    pub number: u64,
    pub version: u64,
    /// Microseconds since the epoch (what PostgreSQL keeps too).
    pub created_at: i64,
    pub updated_at: i64,
}

const REGISTERED: u8 = 0x80;

impl Head {
    fn of(c: &Contact) -> Head {
        Head {
            kind: c.kind,
            registered: c.registered,
            number: c.number,
            version: c.version,
            created_at: c.created_at.timestamp_micros(),
            updated_at: c.updated_at.timestamp_micros(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let kind = ContactKind::ALL.iter().position(|k| *k == self.kind).unwrap_or_default() as u8;
        out.push(kind | if self.registered { REGISTERED } else { 0 });
        varint(out, self.number);
        varint(out, self.version);
        varint(out, zigzag(self.created_at));
        varint(out, zigzag(self.updated_at.wrapping_sub(self.created_at)));
    }

    /// The header and the packed profile after it.
    pub fn read(packed: &[u8]) -> Option<(Head, &[u8])> {
        let mut r = Reader(packed);
        let first = r.byte()?;
        let kind = *ContactKind::ALL.get(usize::from(first & !REGISTERED))?;
        let number = r.varint()?;
        let version = r.varint()?;
        let created_at = unzigzag(r.varint()?);
        let updated_at = created_at.wrapping_add(unzigzag(r.varint()?));
        let head = Head { kind, registered: first & REGISTERED != 0, number, version, created_at, updated_at };
        Some((head, r.0))
    }
}

/// A contact, packed.
pub(crate) fn pack(c: &Contact) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    Head::of(c).write(&mut out);
    encode_into(&c.profile, &mut out);
    out
}

/// The same contact with another header (its profile bytes copied as they are).
pub(crate) fn repack(packed: &[u8], change: impl FnOnce(&mut Head)) -> Option<Vec<u8>> {
    let (mut head, profile) = Head::read(packed)?;
    change(&mut head);
    let mut out = Vec::with_capacity(packed.len() + 4);
    head.write(&mut out);
    out.extend_from_slice(profile);
    Some(out)
}

/// The inverse of `pack` (only ever given what `pack` wrote).
pub(crate) fn unpack(packed: &[u8], id: ContactId, type_id: Option<i64>) -> Option<Contact> {
    let (head, profile) = Head::read(packed)?;
    let at = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap_or_default();
    Some(Contact {
        id,
        number: head.number,
        kind: head.kind,
        type_id,
        profile: decode(profile),
        registered: head.registered,
        version: head.version,
        created_at: at(head.created_at),
        updated_at: at(head.updated_at),
    })
}

/// The external id (tag 0) or the email (tag 1) of a packed contact, read
/// without decoding the rest.
pub(crate) fn text_field(packed: &[u8], tag: u8) -> Option<&str> {
    let (_, profile) = Head::read(packed)?;
    let mut r = Reader(profile);
    // Fields are written in tag order, and these two come first.
    while let Some(t) = r.byte() {
        if t > tag {
            return None;
        }
        let chunk = r.chunk()?;
        if t == tag {
            return std::str::from_utf8(chunk).ok();
        }
    }
    None
}

pub(crate) const EXTERNAL_ID: u8 = 0;
pub(crate) const EMAIL: u8 = 1;

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

// Tags of the encoding: one per present field, each followed by its value.
const TEXT_FIELDS: usize = 12;
const ADDRESS: u8 = 12;
const TAGS: u8 = 13;
const METADATA: u8 = 14;

/// The profile's text fields in a fixed order: the index is the field's tag.
fn texts(p: &Profile) -> [&Option<String>; TEXT_FIELDS] {
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

fn texts_mut(p: &mut Profile) -> [&mut Option<String>; TEXT_FIELDS] {
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
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
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
#[cfg(test)]
fn encode(p: &Profile) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    encode_into(p, &mut out);
    out
}

fn encode_into(p: &Profile, out: &mut Vec<u8>) {
    for (tag, text) in texts(p).into_iter().enumerate() {
        if let Some(t) = text {
            out.push(tag as u8);
            put(out, t.as_bytes());
        }
    }
    if let Some(a) = &p.address {
        out.push(ADDRESS);
        put(out, &serde_json::to_vec(a).unwrap_or_default());
    }
    if !p.tags.is_empty() {
        out.push(TAGS);
        varint(out, p.tags.len() as u64);
        for t in &p.tags {
            put(out, t.as_bytes());
        }
    }
    if !p.metadata.is_empty() {
        out.push(METADATA);
        put(out, &serde_json::to_vec(&p.metadata).unwrap_or_default());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn chunk(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        let (chunk, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(chunk)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        Some(n)
    }

    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.chunk()?.to_vec()).ok()
    }
}

/// The inverse of `encode_into` (only ever given what it wrote).
fn decode(bytes: &[u8]) -> Profile {
    let mut p = Profile::default();
    let mut r = Reader(bytes);
    while let Some(tag) = r.byte() {
        match tag {
            t if usize::from(t) < TEXT_FIELDS => *texts_mut(&mut p)[usize::from(t)] = r.text(),
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
    fn a_packed_contact_reads_back_whole_and_its_header_changes_alone() {
        use chrono::TimeZone;
        let profile = Profile {
            external_id: Some("x-9".into()),
            email: Some("A@b.c".into()),
            name: Some("A".into()),
            ..Profile::default()
        };
        let at = |s: i64| chrono::Utc.timestamp_opt(s, 123_000).single().unwrap();
        for (kind, registered, created, updated) in
            [(ContactKind::User, true, 1_700_000_000, 1_700_000_500), (ContactKind::Contact, false, -86_400, -90_000)]
        {
            let c = Contact {
                number: 300,
                kind,
                type_id: Some(4),
                profile: profile.clone(),
                registered,
                version: u64::MAX,
                created_at: at(created),
                updated_at: at(updated),
                ..c0()
            };
            let p = pack(&c);
            assert_eq!(unpack(&p, c.id, c.type_id), Some(c.clone()));
            assert_eq!((text_field(&p, EXTERNAL_ID), text_field(&p, EMAIL)), (Some("x-9"), Some("A@b.c")));
            let bumped = repack(&p, |h| {
                h.version = 2;
                h.registered = !registered;
            })
            .unwrap();
            let back = unpack(&bumped, c.id, c.type_id).unwrap();
            assert_eq!((back.version, back.registered), (2, !registered));
            assert_eq!(Contact { version: c.version, registered, ..back }, c, "nothing else changed");
        }
        let no_email = pack(&Contact { profile: Profile { name: Some("n".into()), ..Profile::default() }, ..c0() });
        assert_eq!((text_field(&no_email, EMAIL), text_field(&no_email, EXTERNAL_ID)), (None, None));
        assert_eq!(unpack(&[], c0().id, None), None, "an empty value is no contact");
    }

    fn c0() -> Contact {
        Contact {
            id: ContactId(ulid::Ulid::from_parts(1, 1)),
            number: 1,
            kind: ContactKind::Guest,
            type_id: None,
            profile: Profile::default(),
            registered: false,
            version: 1,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        }
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
