//! Compatibility routes: each vendor's request, verbatim, becomes the same
//! domain command the native API publishes; the decision comes back in the
//! vendor's response and error shapes. A route maps shapes and names; the
//! domain decides (no rule lives here).
use axum::response::Response;
use ledger_domain::FieldError;

use crate::middleware::InVendorShape;

pub mod emnify;
pub mod evance;
pub mod orq;
pub mod zephr;

/// Marks a vendor route's answer, errors included, as meant in its shape.
pub fn in_vendor_shape(mut response: Response) -> Response {
    response.extensions_mut().insert(InVendorShape);
    response
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
    let failed: Vec<String> = shape.iter().map(|e| e.field.clone()).collect();
    let covered = |field: &str| {
        failed.iter().any(|f| field == f || field.starts_with(&format!("{f}.")) || field.starts_with(&format!("{f}[")))
    };
    let mut all = shape;
    all.extend(renamed(native, name).into_iter().filter(|e| !covered(&e.field)));
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
