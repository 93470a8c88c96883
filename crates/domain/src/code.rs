//! Every problem code a client can see, in one enum: the domain's rejections
//! carry one, and the HTTP adapter maps each (exhaustively) to a status and a
//! title, so a code that is not listed cannot compile. Codes are part of the
//! API and of the log (rejections are recorded with their code, as the
//! snake_case string): add new ones, never rename or re-purpose one.
//! Field codes inside a validation error's list (`required`, `unknown_role`)
//! are not problem codes.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($variant:ident => $text:literal,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum Code {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl Code {
            pub const ALL: &[Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    // The request itself.
    BadRequest => "bad_request",
    MalformedJson => "malformed_json",
    UnsupportedContentType => "unsupported_content_type",
    UnreadableBody => "unreadable_body",
    InvalidHeader => "invalid_header",
    Unauthorized => "unauthorized",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    PayloadTooLarge => "payload_too_large",
    ValidationFailed => "validation_failed",
    IdempotencyKeyReused => "idempotency_key_reused",
    PreconditionFailed => "precondition_failed",
    // Permissions.
    TenantMismatch => "tenant_mismatch",
    CommandNotAllowed => "command_not_allowed",
    ContactCaptureDisabled => "contact_capture_disabled",
    // Things that do not exist for this tenant.
    ContactNotFound => "contact_not_found",
    CommandNotFound => "command_not_found",
    TenantNotFound => "tenant_not_found",
    RoleNotFound => "role_not_found",
    GrantNotFound => "grant_not_found",
    InviteNotFound => "invite_not_found",
    // Decisions of the domain.
    EmailTaken => "email_taken",
    ExternalIdTaken => "external_id_taken",
    EmailBelongsToUser => "email_belongs_to_user",
    RegisteredUser => "registered_user",
    ContactIdTaken => "contact_id_taken",
    TenantExists => "tenant_exists",
    RoleExists => "role_exists",
    VersionMismatch => "version_mismatch",
    InviteUsed => "invite_used",
    InviteExpired => "invite_expired",
    InviteSuperseded => "invite_superseded",
    CommandTooOld => "command_too_old",
    // The service.
    InternalError => "internal_error",
    ServiceUnavailable => "service_unavailable",
    DecisionPending => "decision_pending",
    NotReady => "not_ready",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_listed_once_and_reads_back() {
        for (i, code) in Code::ALL.iter().enumerate() {
            let text = code.as_str();
            assert!(text.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{text}");
            assert!(Code::ALL[i + 1..].iter().all(|c| c.as_str() != text), "{text} listed twice");
            let json = serde_json::to_value(code).expect("serialises");
            assert_eq!(json, serde_json::json!(text));
            assert_eq!(serde_json::from_value::<Code>(json).expect("reads back"), *code);
        }
    }
}
