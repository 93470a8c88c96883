//! How the access-role enums of the domain are spelled in the tables (the
//! same snake_case words as in the events, and as the migration's CHECKs
//! allow). One place for both directions, so writes and reads agree.
use ledger_domain::roles::{GrantRule, GrantStatus};

use crate::error::{Error, Result};

pub(crate) fn rule_str(rule: GrantRule) -> &'static str {
    match rule {
        GrantRule::Automatic => "automatic",
        GrantRule::EmailVerification => "email_verification",
        GrantRule::ManualApproval => "manual_approval",
    }
}

pub(crate) fn parse_rule(s: &str) -> Result<GrantRule> {
    GrantRule::parse(s).ok_or_else(|| Error::corrupt("access_roles", format!("grant_rule {s:?}")))
}

pub(crate) fn status_str(status: GrantStatus) -> &'static str {
    match status {
        GrantStatus::Active => "active",
        GrantStatus::Pending => "pending",
    }
}

pub(crate) fn parse_status(s: &str) -> Result<GrantStatus> {
    match s {
        "active" => Ok(GrantStatus::Active),
        "pending" => Ok(GrantStatus::Pending),
        other => Err(Error::corrupt("contact_roles", format!("status {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back_as_written() {
        for rule in [GrantRule::Automatic, GrantRule::EmailVerification, GrantRule::ManualApproval] {
            assert_eq!(parse_rule(rule_str(rule)).unwrap(), rule);
            // The same word the events use.
            assert_eq!(serde_json::to_value(rule).unwrap(), rule_str(rule));
        }
        for status in [GrantStatus::Active, GrantStatus::Pending] {
            assert_eq!(parse_status(status_str(status)).unwrap(), status);
            assert_eq!(serde_json::to_value(status).unwrap(), status_str(status));
        }
        assert!(parse_status("expired").is_err());
        assert!(parse_rule("sometimes").is_err());
    }
}
