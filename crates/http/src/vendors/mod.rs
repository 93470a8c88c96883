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
