//! The query string of `GET /v1/contacts`. Bad parameters get the same 422
//! as bad body fields, all listed at once; the cursor is opaque to clients
//! (it encodes the last id of the previous page, ordered by id).
use ledger_domain::{ContactId, ContactKind, FieldError};
use ledger_ports::ContactFilter;
use ulid::Ulid;

use crate::problem::Problem;

pub const LIMIT_DEFAULT: u32 = 20;
pub const LIMIT_MAX: u32 = 100;
const CURSOR_VERSION: &str = "1";
const KNOWN: [&str; 6] = ["email", "kind", "tag", "external_id", "limit", "cursor"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: ContactFilter,
    pub limit: u32,
    pub after: Option<ContactId>,
}

impl ListQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<ListQuery, Problem> {
        let mut errors = Vec::new();
        let mut q = ListQuery { filter: ContactFilter::default(), limit: LIMIT_DEFAULT, after: None };
        for (i, (key, value)) in pairs.iter().enumerate() {
            if !KNOWN.contains(&key.as_str()) {
                errors.push(FieldError::new(key.clone(), "unknown_field", "is not a known query parameter"));
                continue;
            }
            if pairs[..i].iter().any(|(k, _)| k == key) {
                errors.push(FieldError::new(key.clone(), "duplicate_parameter", "may be given once"));
                continue;
            }
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "email" => q.filter.email = Some(value.to_owned()),
                "tag" => q.filter.tag = Some(value.to_owned()),
                "external_id" => q.filter.external_id = Some(value.to_owned()),
                "kind" => match ContactKind::parse(value) {
                    Some(kind) => q.filter.kind = Some(kind),
                    None => errors.push(FieldError::new(
                        "kind",
                        "invalid_value",
                        "must be one of user, guest, branch, recipient, contact",
                    )),
                },
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=LIMIT_MAX).contains(&n) => q.limit = n,
                    _ => errors.push(FieldError::new(
                        "limit",
                        "invalid_value",
                        format!("must be an integer from 1 to {LIMIT_MAX}"),
                    )),
                },
                _ => match Self::decode_cursor(value) {
                    Some(id) => q.after = Some(id),
                    None => errors.push(FieldError::new(
                        "cursor",
                        "invalid_cursor",
                        "must be a next_cursor from a previous page",
                    )),
                },
            }
        }
        if errors.is_empty() { Ok(q) } else { Err(Problem::validation(errors)) }
    }

    pub fn cursor(last: ContactId) -> String {
        format!("{CURSOR_VERSION}{}", hex::encode(last.ulid().to_bytes()))
    }

    fn decode_cursor(cursor: &str) -> Option<ContactId> {
        let bytes: [u8; 16] = hex::decode(cursor.strip_prefix(CURSOR_VERSION)?).ok()?.try_into().ok()?;
        Some(ContactId(Ulid::from_bytes(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = ContactId(Ulid::new());
        let q = ListQuery::parse(&pairs(&[("cursor", &ListQuery::cursor(id))])).unwrap();
        assert_eq!(q.after, Some(id));
        assert!(ListQuery::parse(&pairs(&[("cursor", "nope")])).is_err());
    }

    #[test]
    fn every_bad_parameter_is_listed() {
        let err =
            ListQuery::parse(&pairs(&[("limit", "0"), ("kind", "hq"), ("colour", "red"), ("tag", "a"), ("tag", "b")]))
                .unwrap_err()
                .to_json();
        let fields: Vec<&str> =
            err["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["limit", "kind", "colour", "tag"]);
    }

    #[test]
    fn defaults_apply_and_empty_values_count_as_absent() {
        let q = ListQuery::parse(&pairs(&[("email", ""), ("kind", "user")])).unwrap();
        assert_eq!(q.limit, LIMIT_DEFAULT);
        assert_eq!(q.filter, ContactFilter { kind: Some(ContactKind::User), ..ContactFilter::default() });
    }
}
