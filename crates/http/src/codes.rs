//! The one table of problem codes: every `code` a client can see (the
//! domain's `Code` enum) with its HTTP status and title. Codes are part of the
//! API contract: add new ones, never rename or re-purpose one. A domain
//! rejection answers with its code's row here too (`decision.rs`): there is
//! no second mapping.
//! Field codes inside `errors` (such as `unknown_role`) and the codes of
//! `warnings` in a 2xx body (see `warnings.rs`) are not problem codes.
use axum::http::StatusCode;
use ledger_domain::Code;

/// The status and title of a code: an exhaustive match, so a new code
/// cannot compile without its row here.
pub fn meta(code: Code) -> (StatusCode, &'static str) {
    let (status, title): (u16, &'static str) = match code {
        Code::BadRequest => (400, "Bad Request"),
        Code::MalformedJson => (400, "Malformed JSON"),
        Code::UnsupportedContentType => (400, "Unsupported Content Type"),
        Code::UnreadableBody => (400, "Unreadable Body"),
        Code::InvalidHeader => (400, "Invalid Header"),
        Code::Unauthorized => (401, "Unauthorized"),
        Code::NotFound => (404, "Not Found"),
        Code::MethodNotAllowed => (405, "Method Not Allowed"),
        Code::PayloadTooLarge => (413, "Payload Too Large"),
        Code::ValidationFailed => (422, "Validation Failed"),
        Code::IdempotencyKeyReused => (422, "Idempotency Key Reused"),
        Code::PreconditionFailed => (412, "Precondition Failed"),
        Code::TenantMismatch => (403, "Tenant Mismatch"),
        Code::CommandNotAllowed => (403, "Command Not Allowed"),
        Code::ContactCaptureDisabled => (403, "Contact Capture Disabled"),
        Code::ContactNotFound => (404, "Contact Not Found"),
        Code::CommandNotFound => (404, "Command Not Found"),
        Code::TenantNotFound => (404, "Tenant Not Found"),
        Code::RoleNotFound => (404, "Access Role Not Found"),
        Code::GrantNotFound => (404, "Grant Not Found"),
        Code::InviteNotFound => (404, "Invite Not Found"),
        Code::EmailTaken => (409, "Email Taken"),
        Code::ExternalIdTaken => (409, "External Id Taken"),
        Code::EmailBelongsToUser => (409, "Email Belongs To A User"),
        Code::RegisteredUser => (409, "Registered User"),
        Code::ContactIdTaken => (409, "Contact Id Taken"),
        Code::TenantExists => (409, "Tenant Exists"),
        Code::RoleExists => (409, "Access Role Exists"),
        Code::VersionMismatch => (412, "Version Mismatch"),
        Code::InviteUsed => (410, "Invite Used"),
        Code::InviteExpired => (410, "Invite Expired"),
        Code::InviteSuperseded => (410, "Invite Superseded"),
        Code::CommandTooOld => (410, "Command Too Old"),
        Code::InternalError => (500, "Internal Server Error"),
        Code::ServiceUnavailable => (503, "Service Unavailable"),
        Code::DecisionPending => (503, "Decision Pending"),
        Code::NotReady => (503, "Not Ready"),
    };
    (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_error_status_and_a_title() {
        for code in Code::ALL {
            let (status, title) = meta(*code);
            assert!((400..600).contains(&status.as_u16()), "{code}: {status}");
            assert!(!title.is_empty(), "{code}");
        }
    }
}
