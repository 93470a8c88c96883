//! One ULID newtype per entity, so a contact id can never be passed where a
//! tenant id is expected. Each prints with a stable prefix (`contact_<ULID>`)
//! and parses with or without it.
use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

macro_rules! ulid_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn ulid(&self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $prefix.is_empty() {
                    write!(f, "{}", self.0)
                } else {
                    write!(f, "{}_{}", $prefix, self.0)
                }
            }
        }

        impl FromStr for $name {
            type Err = ulid::DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let raw = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .unwrap_or(s);
                Ulid::from_string(raw).map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "description": concat!("ULID, printed as ", $prefix, "_<ULID> when prefixed") })
            }
        }
    };
}

ulid_id!(TenantId, "tenant");

impl TenantId {
    /// The tenant's numeric organisation id (emnify's `{org_id}`): the low 53
    /// bits of its ULID (random bits, so unique in practice, and exact in a
    /// JSON number). Fixed when the tenant is created, as its id is.
    pub fn organisation_id(self) -> u64 {
        let low = (self.0.0 & ((1u128 << 53) - 1)) as u64;
        low.max(1)
    }
}
ulid_id!(ContactId, "contact");
ulid_id!(CommandId, "");
ulid_id!(InviteId, "invite");
ulid_id!(AddressId, "address");

/// Ids the handler mints while deciding are derived from the command id, so
/// deciding the same command twice mints the same ids (no randomness in decide).
pub fn derive_ulid(command: CommandId, salt: &str) -> Ulid {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in command.0.0.to_be_bytes().iter().chain(salt.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut x = h;
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let random = (u128::from(next()) << 64 | u128::from(next())) & ((1u128 << 80) - 1);
    Ulid::from_parts(command.0.timestamp_ms(), random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_ids_print_with_prefix_and_parse_both_ways() {
        let id = ContactId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap());
        assert_eq!(id.to_string(), "contact_01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!("contact_01ARZ3NDEKTSV4RRFFQ69G5FAV".parse::<ContactId>().unwrap(), id);
        assert_eq!("01ARZ3NDEKTSV4RRFFQ69G5FAV".parse::<ContactId>().unwrap(), id);
        assert!("contact_nope".parse::<ContactId>().is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_differ_by_salt() {
        let c = CommandId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap());
        assert_eq!(derive_ulid(c, "a"), derive_ulid(c, "a"));
        assert_ne!(derive_ulid(c, "a"), derive_ulid(c, "b"));
        assert_eq!(derive_ulid(c, "a").timestamp_ms(), c.0.timestamp_ms());
    }
}
