//! Where a tenant's packed contacts live, and the indexes decisions look them
//! up by. Sized for a million contacts in one process:
//! - the packed contacts sit back to back in the tenant's arena, chunks of up
//!   to 64 KiB, not one heap allocation each (no allocator header, no size
//!   rounding, nothing for short-lived allocations to fragment around);
//! - a slot per contact holds its id and where its bytes are (24 bytes);
//! - the id, email and external-id indexes are hash tables of slot numbers
//!   (4 bytes an entry): the email or external id of an entry is read from
//!   the contact itself, so a table keeps no copy of any text, and a hash
//!   collision never confuses two contacts.
//!
//! A changed contact is written anew and its old bytes counted as garbage;
//! once the garbage outweighs the live bytes, the arena is copied afresh.
use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::{DefaultHashBuilder as RandomState, HashTable};

use crate::{
    contact::{ContactKind, normalize_email},
    packed::{self, EMAIL, EXTERNAL_ID, Head},
};

/// A contact id as the store keys it: its 16 bytes, big-endian, so keys sort
/// as the ids do.
pub(crate) type Key = [u8; 16];

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: Key,
    at: u32,
    /// `VACANT` for a slot free for reuse.
    len: u32,
}

const VACANT: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
pub(crate) struct ContactStore {
    slots: Vec<Slot>,
    vacant: Vec<u32>,
    arena: Arena,
    by_id: HashTable<u32>,
    /// Contacts found by email (hash of kind and normalised email).
    emails: HashTable<u32>,
    external_ids: HashTable<u32>,
    hasher: RandomState,
    /// How many times the arena was copied afresh.
    compactions: u32,
}

impl ContactStore {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    #[cfg(test)]
    pub fn compactions(&self) -> u32 {
        self.compactions
    }

    /// A store of these contacts; `true` marks a contact found by email.
    pub fn restore(contacts: Vec<(Key, Vec<u8>, bool)>) -> ContactStore {
        let mut store = ContactStore::default();
        let emails = contacts.iter().filter(|(_, p, by_email)| *by_email && packed::text_field(p, EMAIL).is_some());
        let emails = emails.count();
        let external_ids = contacts.iter().filter(|(_, p, _)| packed::text_field(p, EXTERNAL_ID).is_some()).count();
        store.slots.reserve_exact(contacts.len());
        store.by_id.reserve(contacts.len(), |_| 0);
        store.emails.reserve(emails, |_| 0);
        store.external_ids.reserve(external_ids, |_| 0);
        for (key, p, by_email) in contacts {
            store.remove(&key);
            store.add(key, &p, by_email);
        }
        store
    }

    /// The packed contact with this id.
    pub fn get(&self, key: &Key) -> Option<&[u8]> {
        let slot = self.slots.get(self.find(key)? as usize)?;
        Some(self.arena.get(slot.at, slot.len))
    }

    /// Every contact, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &[u8])> {
        self.slots.iter().filter(|s| s.len != VACANT).map(|s| (&s.key, self.arena.get(s.at, s.len)))
    }

    /// The contacts whose kind and normalised email hash as these do (the
    /// caller compares the emails themselves).
    pub fn by_email(&self, kind: ContactKind, email: &str) -> impl Iterator<Item = (&Key, &[u8])> {
        let hash = email_hash(&self.hasher, kind, email);
        self.emails.iter_hash(hash).filter_map(|i| self.at(*i))
    }

    /// The same for external ids.
    pub fn by_external_id(&self, external_id: &str) -> impl Iterator<Item = (&Key, &[u8])> {
        let hash = self.hasher.hash_one(external_id);
        self.external_ids.iter_hash(hash).filter_map(|i| self.at(*i))
    }

    /// Stores a contact (replacing one with its id) and indexes it: by email
    /// only if `by_email`.
    pub fn insert(&mut self, key: Key, packed: &[u8], by_email: bool) {
        self.remove(&key);
        self.add(key, packed, by_email);
        self.compact_if_due();
    }

    /// Rewrites a contact's header; its email and external id stay as they
    /// are, and so do its index entries.
    pub fn repack(&mut self, key: &Key, change: impl FnOnce(&mut Head)) {
        let Some(i) = self.find(key) else { return };
        let Some(slot) = self.slots.get(i as usize).copied() else { return };
        let Some(new) = packed::repack(self.arena.get(slot.at, slot.len), change) else { return };
        self.arena.free(slot.at, slot.len);
        let at = self.arena.put(&new);
        if let Some(s) = self.slots.get_mut(i as usize) {
            (s.at, s.len) = (at, new.len() as u32);
        }
        self.compact_if_due();
    }

    /// Removes a contact and its index entries; whether there was one.
    pub fn remove(&mut self, key: &Key) -> bool {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        let Ok(entry) = self.by_id.find_entry(hash, |i| slots.get(*i as usize).is_some_and(|s| s.key == *key)) else {
            return false;
        };
        let (i, _) = entry.remove();
        let Some(slot) = self.slots.get(i as usize).copied() else { return false };
        let p = self.arena.get(slot.at, slot.len);
        if let Some(hash) = stored_email_hash(&self.hasher, p)
            && let Ok(entry) = self.emails.find_entry(hash, |j| *j == i)
        {
            entry.remove();
        }
        if let Some(hash) = stored_external_id_hash(&self.hasher, p)
            && let Ok(entry) = self.external_ids.find_entry(hash, |j| *j == i)
        {
            entry.remove();
        }
        self.arena.free(slot.at, slot.len);
        if let Some(s) = self.slots.get_mut(i as usize) {
            *s = Slot { key: [0; 16], at: 0, len: VACANT };
        }
        self.vacant.push(i);
        true
    }

    fn find(&self, key: &Key) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.by_id.find(hash, |i| self.slots.get(*i as usize).is_some_and(|s| s.key == *key)).copied()
    }

    fn at(&self, i: u32) -> Option<(&Key, &[u8])> {
        let s = self.slots.get(i as usize).filter(|s| s.len != VACANT)?;
        Some((&s.key, self.arena.get(s.at, s.len)))
    }

    /// Stores a contact whose id is not stored.
    fn add(&mut self, key: Key, p: &[u8], by_email: bool) {
        let slot = Slot { key, at: self.arena.put(p), len: p.len() as u32 };
        let i = match self.vacant.pop() {
            Some(i) if (i as usize) < self.slots.len() => {
                self.slots[i as usize] = slot;
                i
            }
            _ => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let (slots, arena, hasher) = (&self.slots, &self.arena, &self.hasher);
        let packed_of = |i: u32| slots.get(i as usize).map_or(&[][..], |s| arena.get(s.at, s.len));
        self.by_id
            .insert_unique(hasher.hash_one(key), i, |j| slots.get(*j as usize).map_or(0, |s| hasher.hash_one(s.key)));
        if by_email && let Some(hash) = stored_email_hash(hasher, p) {
            self.emails.insert_unique(hash, i, |j| stored_email_hash(hasher, packed_of(*j)).unwrap_or(0));
        }
        if let Some(hash) = stored_external_id_hash(hasher, p) {
            self.external_ids.insert_unique(hash, i, |j| stored_external_id_hash(hasher, packed_of(*j)).unwrap_or(0));
        }
    }

    /// Copies the live contacts into a fresh arena once the garbage
    /// outweighs them: amortised O(1) per change, at most 2x the live bytes.
    fn compact_if_due(&mut self) {
        if self.arena.garbage < CHUNK || self.arena.garbage < self.arena.live {
            return;
        }
        let mut fresh = Arena::default();
        for s in self.slots.iter_mut().filter(|s| s.len != VACANT) {
            s.at = fresh.put(self.arena.get(s.at, s.len));
        }
        self.arena = fresh;
        self.compactions += 1;
    }
}

/// The hash of a kind and an email as `normalize_email` gives it; a short
/// ASCII email (almost all) is lowercased on the stack rather than in a new
/// `String` (a table's growth hashes every entry again).
fn email_hash(hasher: &RandomState, kind: ContactKind, email: &str) -> u64 {
    let mut h = hasher.build_hasher();
    kind.hash(&mut h);
    let trimmed = email.trim();
    let mut buf = [0u8; 128];
    match buf.get_mut(..trimmed.len()) {
        Some(lower) if trimmed.is_ascii() => {
            lower.copy_from_slice(trimmed.as_bytes());
            lower.make_ascii_lowercase();
            h.write(lower);
        }
        _ => h.write(normalize_email(email).as_bytes()),
    }
    h.finish()
}

fn stored_email_hash(hasher: &RandomState, p: &[u8]) -> Option<u64> {
    let (head, _) = Head::read(p)?;
    Some(email_hash(hasher, head.kind, packed::text_field(p, EMAIL)?))
}

fn stored_external_id_hash(hasher: &RandomState, p: &[u8]) -> Option<u64> {
    packed::text_field(p, EXTERNAL_ID).map(|x| hasher.hash_one(x))
}

/// Chunks of at most `CHUNK` bytes, each a `Vec` that grows by doubling
/// until full; a place is the chunk's number (high bits) and the offset in it
/// (low 16 bits). A contact too big for a chunk, or past `MAX_CHUNKS`, gets
/// its own allocation, marked by the `BIG` bit.
#[derive(Clone, Debug, Default)]
struct Arena {
    chunks: Vec<Vec<u8>>,
    big: Vec<Option<Box<[u8]>>>,
    big_free: Vec<u32>,
    live: usize,
    garbage: usize,
}

const CHUNK: usize = 1 << 16;
const MAX_CHUNKS: usize = 1 << 15;
const BIG: u32 = 1 << 31;

impl Arena {
    fn put(&mut self, bytes: &[u8]) -> u32 {
        self.live += bytes.len();
        if let Some(at) = self.put_in_chunk(bytes) {
            return at;
        }
        let boxed: Box<[u8]> = bytes.into();
        match self.big_free.pop() {
            Some(i) if (i as usize) < self.big.len() => {
                self.big[i as usize] = Some(boxed);
                BIG | i
            }
            _ => {
                self.big.push(Some(boxed));
                BIG | (self.big.len() - 1) as u32
            }
        }
    }

    fn put_in_chunk(&mut self, bytes: &[u8]) -> Option<u32> {
        // An empty value still takes a byte's place, so an offset stays below CHUNK.
        let len = bytes.len().max(1);
        if len > CHUNK {
            return None;
        }
        if self.chunks.last().is_none_or(|c| c.len() + len > CHUNK) {
            if self.chunks.len() >= MAX_CHUNKS {
                return None;
            }
            self.chunks.push(Vec::new());
        }
        let number = self.chunks.len() - 1;
        let chunk = self.chunks.last_mut()?;
        let end = chunk.len() + len;
        if end > chunk.capacity() {
            // The first chunk grows from small (most tenants are small); a
            // tenant that filled one gets whole chunks from then on.
            let grown = if number == 0 { end.next_power_of_two().clamp(256, CHUNK) } else { CHUNK };
            chunk.reserve_exact(grown - chunk.len());
        }
        let offset = chunk.len();
        chunk.extend_from_slice(bytes);
        chunk.resize(offset + len, 0);
        Some(((number as u32) << 16) | offset as u32)
    }

    fn get(&self, at: u32, len: u32) -> &[u8] {
        if at & BIG != 0 {
            return self.big.get((at & !BIG) as usize).and_then(|b| b.as_deref()).unwrap_or_default();
        }
        let (number, offset) = ((at >> 16) as usize, (at & 0xffff) as usize);
        self.chunks.get(number).and_then(|c| c.get(offset..offset + len as usize)).unwrap_or_default()
    }

    fn free(&mut self, at: u32, len: u32) {
        self.live = self.live.saturating_sub(len as usize);
        if at & BIG != 0 {
            if let Some(b) = self.big.get_mut((at & !BIG) as usize) {
                *b = None;
                self.big_free.push(at & !BIG);
            }
        } else {
            self.garbage += len as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        [n; 16]
    }

    #[test]
    fn an_email_hashes_as_its_normal_form_does() {
        let h = RandomState::default();
        let long = format!("{}@Example.com", "A".repeat(200));
        for (a, b) in [
            (" Ada@Example.COM\t", "ada@example.com"),
            ("\u{b}x@y.z", "x@y.z"),
            ("ÄDA@Example.com ", "äda@example.com"),
            ("AΣ@x.y", "aς@x.y"),
            (long.as_str(), long.to_lowercase().as_str()),
        ] {
            assert_eq!(normalize_email(a), normalize_email(b), "the test's pairs are equal once normalised");
            assert_eq!(email_hash(&h, ContactKind::User, a), email_hash(&h, ContactKind::User, b), "{a:?}");
        }
        assert_ne!(email_hash(&h, ContactKind::User, "a@x.y"), email_hash(&h, ContactKind::Guest, "a@x.y"));
    }

    #[test]
    fn an_arena_gives_back_what_it_was_given_across_chunks_and_big_values() {
        let mut a = Arena::default();
        let values: Vec<Vec<u8>> = (0..3000u32).map(|i| vec![(i % 251) as u8; 1 + (i as usize * 7) % 90]).collect();
        let mut at = Vec::new();
        for v in &values {
            at.push(a.put(v));
        }
        let big = vec![7u8; CHUNK + 1];
        let big_at = a.put(&big);
        assert!(a.chunks.len() > 2, "the values span chunks");
        assert_ne!(big_at & BIG, 0, "a value over a chunk is kept on its own");
        for (v, at) in values.iter().zip(&at) {
            assert_eq!(a.get(*at, v.len() as u32), &v[..]);
        }
        assert_eq!(a.get(big_at, big.len() as u32), &big[..]);
        a.free(big_at, big.len() as u32);
        assert_eq!(a.get(big_at, big.len() as u32), &[] as &[u8]);
        assert!(a.chunks.iter().all(|c| c.len() <= CHUNK));
    }

    #[test]
    fn the_arena_is_compacted_once_garbage_outweighs_the_live_contacts() {
        let mut s = ContactStore::default();
        let p = |n: u8| {
            let mut v = vec![0u8, n, 1, 0, 0];
            v.extend(std::iter::repeat_n(n, 200));
            v
        };
        for round in 0..1000u32 {
            for k in 0..4u8 {
                s.insert(key(k), &p((round % 200) as u8 + k), false);
            }
        }
        assert_eq!(s.len(), 4);
        assert!(s.arena.garbage < CHUNK.max(s.arena.live) + 4 * 205, "garbage {}", s.arena.garbage);
        assert!(s.arena.chunks.len() <= 3, "{} chunks", s.arena.chunks.len());
        for k in 0..4u8 {
            assert_eq!(s.get(&key(k)), Some(&p((999 % 200) as u8 + k)[..]));
        }
        assert!(s.remove(&key(2)) && !s.remove(&key(2)));
        assert_eq!((s.len(), s.get(&key(2))), (3, None));
        s.insert(key(9), &p(9), false);
        assert_eq!(s.slots.len(), 4, "the vacant slot is reused");
    }
}
