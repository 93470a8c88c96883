//! The one table of problem codes: every `code` a client can see, with its
//! HTTP status and title. Codes are part of the API contract: add new ones,
//! never rename or re-purpose one. Domain rejections carry their own codes;
//! the ones the domain uses today are listed here too, and an unknown one
//! still gets the status of its rejection kind (see `decision.rs`).
//! Field codes inside `errors` (such as `unknown_role`) and the codes of
//! `warnings` in a 2xx body (see `warnings.rs`) are not problem codes.
use axum::http::StatusCode;

/// `(code, status, title)`.
pub const CODES: &[(&str, u16, &str)] = &[
    // The request itself.
    ("bad_request", 400, "Bad Request"),
    ("malformed_json", 400, "Malformed JSON"),
    ("unsupported_content_type", 400, "Unsupported Content Type"),
    ("unreadable_body", 400, "Unreadable Body"),
    ("invalid_header", 400, "Invalid Header"),
    ("unauthorized", 401, "Unauthorized"),
    ("not_found", 404, "Not Found"),
    ("method_not_allowed", 405, "Method Not Allowed"),
    ("payload_too_large", 413, "Payload Too Large"),
    ("validation_failed", 422, "Validation Failed"),
    ("idempotency_key_reused", 422, "Idempotency Key Reused"),
    ("precondition_failed", 412, "Precondition Failed"),
    // Permissions.
    ("tenant_mismatch", 403, "Tenant Mismatch"),
    ("command_not_allowed", 403, "Command Not Allowed"),
    ("contact_capture_disabled", 403, "Contact Capture Disabled"),
    // Things that do not exist for this tenant.
    ("contact_not_found", 404, "Contact Not Found"),
    ("command_not_found", 404, "Command Not Found"),
    ("tenant_not_found", 404, "Tenant Not Found"),
    ("role_not_found", 404, "Access Role Not Found"),
    ("grant_not_found", 404, "Grant Not Found"),
    ("invite_not_found", 404, "Invite Not Found"),
    // Decisions of the domain.
    ("email_taken", 409, "Email Taken"),
    ("external_id_taken", 409, "External Id Taken"),
    ("email_belongs_to_user", 409, "Email Belongs To A User"),
    ("registered_user", 409, "Registered User"),
    ("contact_id_taken", 409, "Contact Id Taken"),
    ("tenant_exists", 409, "Tenant Exists"),
    ("role_exists", 409, "Access Role Exists"),
    ("version_mismatch", 412, "Version Mismatch"),
    ("invite_used", 410, "Invite Used"),
    ("invite_expired", 410, "Invite Expired"),
    ("invite_superseded", 410, "Invite Superseded"),
    // The service.
    ("internal_error", 500, "Internal Server Error"),
    ("service_unavailable", 503, "Service Unavailable"),
    ("decision_pending", 503, "Decision Pending"),
    ("not_ready", 503, "Not Ready"),
];

/// The status and title of a known code.
pub fn lookup(code: &str) -> Option<(StatusCode, &'static str)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .and_then(|(_, status, title)| StatusCode::from_u16(*status).ok().map(|s| (s, *title)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_with_a_valid_status() {
        for (i, (code, status, _)) in CODES.iter().enumerate() {
            assert!(StatusCode::from_u16(*status).is_ok(), "{code}");
            assert!(CODES[i + 1..].iter().all(|(c, _, _)| c != code), "{code} listed twice");
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{code}");
        }
    }
}
