//! What the mailer needs to know to send: the SMTP server (or none, for the
//! outbox folder), the sender address, and the public URL links point to.
use std::{fmt, path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use crate::sender::{FileSender, SendError, Sender, SmtpSender};

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Security {
    /// Plain text (a local relay or a test server only).
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl Security {
    /// The usual port for the mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::StartTls => 587,
            Security::Tls => 465,
        }
    }
}

impl FromStr for Security {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Security::None),
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            other => Err(format!("unknown SMTP security {other:?} (none, starttls or tls)")),
        }
    }
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// For each SMTP command.
    pub timeout: Duration,
}

// By hand, so that the password never reaches a log line.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct MailConfig {
    /// `None`: write `.eml` files to `outbox` instead of sending.
    pub smtp: Option<SmtpConfig>,
    /// The `From` mailbox, e.g. `Contact Ledger <no-reply@example.com>`.
    pub from: String,
    /// Where the invite page is served, e.g. `https://ledger.example.com`.
    pub public_base_url: String,
    pub outbox: PathBuf,
    /// Log each file-written invite's recipient and link (a live token), so
    /// a developer can follow it: `dev` only.
    pub log_links: bool,
}

impl MailConfig {
    /// `{public_base_url}/invite/{token}`.
    pub fn invite_link(&self, token: &str) -> String {
        format!("{}/invite/{token}", self.public_base_url.trim_end_matches('/'))
    }

    /// The SMTP sender when a server is configured, else the outbox folder.
    /// Fails on a `from` that is not a mailbox, or an unusable SMTP host.
    pub fn sender(&self) -> Result<Arc<dyn Sender>, SendError> {
        Ok(match &self.smtp {
            Some(smtp) => Arc::new(SmtpSender::new(smtp, &self.from)?),
            None => Arc::new(FileSender::new(&self.outbox, &self.from)?.logging_links(self.log_links)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_join_the_base_url_with_or_without_a_trailing_slash() {
        let mut cfg = MailConfig {
            smtp: None,
            from: "a@b.c".into(),
            public_base_url: "http://127.0.0.1:8080/".into(),
            outbox: PathBuf::from("x"),
            log_links: false,
        };
        assert_eq!(cfg.invite_link("t0k"), "http://127.0.0.1:8080/invite/t0k");
        cfg.public_base_url = "https://x.io/ledger".into();
        assert_eq!(cfg.invite_link("t0k"), "https://x.io/ledger/invite/t0k");
    }

    #[test]
    fn the_password_is_not_shown_in_debug_output() {
        let smtp = SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::StartTls,
            username: Some("me".into()),
            password: Some("hunter22".into()),
            timeout: Duration::from_secs(10),
        };
        let shown = format!("{smtp:?}");
        assert!(shown.contains("smtp.example.com") && !shown.contains("hunter22"), "{shown}");
        assert_eq!("STARTTLS".parse::<Security>().unwrap(), Security::StartTls);
        assert!("ssl".parse::<Security>().is_err());
    }
}
