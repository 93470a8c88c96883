//! The mail adapter of Contact Ledger: the invite mail and the ways to send
//! it. `InviteMail` renders from the templates in `templates/` (values are
//! HTML-escaped in the HTML part); a `Sender` delivers it, either over SMTP
//! (`SmtpSender`, lettre) or, when no SMTP server is configured, as `.eml`
//! files in an outbox folder (`FileSender`, for development). Every mail
//! carries a `Message-ID` derived from the invite id, so a re-send after a
//! crash is recognisably the same message. No other adapter is known here.
mod config;
mod invite;
mod sender;

pub use config::{MailConfig, Security, SmtpConfig};
pub use invite::{InviteMail, Rendered, message_id};
pub use sender::{FileSender, SendError, Sender, SmtpSender};
