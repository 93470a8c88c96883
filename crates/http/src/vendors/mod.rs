//! Compatibility routes: each vendor's request, verbatim, becomes the same
//! domain command the native API publishes; the decision comes back in the
//! vendor's response and error shapes. A route maps shapes and names; the
//! domain decides (no rule lives here).
use std::{collections::HashSet, future::Future};

use axum::response::{IntoResponse, Response};
use ledger_domain::{FieldError, TenantId};

use crate::{
    idempotency::{self, Slot},
    middleware::InVendorShape,
    problem::{Problem, Reply},
    request::WriteRequest,
    state::AppState,
};

pub mod emnify;
pub mod evance;
pub mod orq;
pub mod zephr;

/// Marks a vendor route's answer, errors included, as meant in its shape.
pub fn in_vendor_shape(mut response: Response) -> Response {
    response.extensions_mut().insert(InVendorShape);
    response
}

/// The caller and the request of a vendor write, or the answer to their
/// problem in the vendor's shape.
#[allow(clippy::result_large_err, reason = "an answer, made once per request")]
pub fn unpack<C>(
    caller: Result<C, Problem>,
    req: Result<WriteRequest, Problem>,
    error: fn(&Problem) -> Reply,
) -> Result<(C, WriteRequest), Response> {
    match (caller, req) {
        (Ok(caller), Ok(req)) => Ok((caller, req)),
        (Err(p), _) | (_, Err(p)) => Err(in_vendor_shape(error(&p).into_response())),
    }
}

/// A vendor write run once per `Idempotency-Key`, every problem (the key's
/// and the work's) answered in the vendor's shape.
pub async fn idempotent<F, Fut>(
    state: &AppState,
    tenant: TenantId,
    req: &WriteRequest,
    error: fn(&Problem) -> Reply,
    work: F,
) -> Response
where
    F: FnOnce(Slot) -> Fut,
    Fut: Future<Output = Result<Reply, Problem>>,
{
    in_vendor_shape(idempotency::run_shaped(state, tenant, req, None, |p| error(&p), work).await)
}

/// The errors with the vendor's names for the native fields.
pub fn renamed(errors: &[FieldError], name: impl Fn(&str) -> String) -> Vec<FieldError> {
    errors
        .iter()
        .map(|e| FieldError { field: name(&e.field), code: e.code.clone(), message: e.message.clone() })
        .collect()
}

/// Keys of a vendor body the route does not know, as `unknown_field` errors.
pub fn unknown_keys(body: &serde_json::Map<String, serde_json::Value>, known: &[&str]) -> Vec<FieldError> {
    body.keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown_field", "is not a known field"))
        .collect()
}

/// The vendor's own shape errors (already in its names), then the native
/// wire and rule errors renamed into its names, leaving out fields that
/// already failed: one answer naming every failing field once.
pub fn merged(shape: Vec<FieldError>, native: &[FieldError], name: impl Fn(&str) -> String) -> Vec<FieldError> {
    let native = renamed(native, name);
    let failed: HashSet<&str> = shape.iter().map(|e| e.field.as_str()).collect();
    // A field is covered when it, or a field it is inside (`a` for `a.b`
    // and `a[0]`), already failed: one lookup per prefix, so the cost is
    // the errors' length, not the product of the two lists.
    let covered = |field: &str| {
        failed.contains(field)
            || field.char_indices().any(|(i, c)| (c == '.' || c == '[') && failed.contains(&field[..i]))
    };
    let kept: Vec<FieldError> = native.into_iter().filter(|e| !covered(&e.field)).collect();
    let mut all = shape;
    all.extend(kept);
    all.sort_by(|a, b| a.field.cmp(&b.field));
    all.dedup();
    all
}

/// The native errors of a body whose vendor-required identifier is missing,
/// without the one the missing identifier implies (a `contact` with neither
/// email nor external id), which the vendor's own `required` names instead.
pub fn without_implied_identifier(native: Vec<FieldError>) -> Vec<FieldError> {
    native.into_iter().filter(|e| !(e.field == "email" && e.code == "required")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(field: &str, code: &str) -> FieldError {
        FieldError::new(field, code, "m")
    }

    #[test]
    fn a_native_error_inside_a_field_that_failed_its_shape_is_left_out() {
        let shape = vec![e("contact.address", "invalid_type"), e("contact.tags", "invalid_type")];
        let native = [
            e("address.city", "too_long"),
            e("tags[0]", "invalid_tag"),
            e("tagsx", "required"),
            e("email", "required"),
        ];
        let out = merged(shape, &native, |f| format!("contact.{f}"));
        let fields: Vec<_> = out.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("contact.address", "invalid_type"),
                ("contact.email", "required"),
                ("contact.tags", "invalid_type"),
                ("contact.tagsx", "required"),
            ]
        );
    }
}
