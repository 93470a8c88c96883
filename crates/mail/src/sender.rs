//! Delivering an invite mail: over SMTP, or into an outbox folder when no
//! SMTP server is configured (development: open the `.eml` or click the
//! logged link).
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::{
    Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Body, Mailbox, MultiPart, SinglePart, header::ContentTransferEncoding},
    transport::smtp::authentication::Credentials,
};

use crate::{
    config::{Security, SmtpConfig},
    invite::InviteMail,
};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("invalid mail address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("SMTP: {message}")]
    Smtp { message: String, permanent: bool },
    #[error("outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

impl SendError {
    /// Trying again cannot help (a bad address, a 5xx answer).
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Address { .. } | SendError::Build(_) => true,
            SendError::Smtp { permanent, .. } => *permanent,
            SendError::Outbox(_) => false,
        }
    }
}

#[async_trait]
pub trait Sender: Send + Sync + 'static {
    /// Hands the mail over; `Ok` once the SMTP server accepted it (or the
    /// outbox holds it). Returns the `Message-ID` it went out with.
    async fn send(&self, mail: &InviteMail) -> Result<String, SendError>;
}

fn mailbox(s: &str) -> Result<Mailbox, SendError> {
    s.parse()
        .map_err(|e: lettre::address::AddressError| SendError::Address { address: s.to_owned(), reason: e.to_string() })
}

/// The whole message: both parts, the recipient's name, the derived `Message-ID`.
pub(crate) fn build(from: &Mailbox, mail: &InviteMail) -> Result<Message, SendError> {
    let address: Address = mail.to.trim().parse().map_err(|e: lettre::address::AddressError| SendError::Address {
        address: mail.to.clone(),
        reason: e.to_string(),
    })?;
    let rendered = mail.render();
    let name = rendered_name(&mail.contact_name);
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(name, address))
        .subject(rendered.subject)
        .message_id(Some(mail.message_id()))
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(plain_body(rendered.text)))
                .singlepart(SinglePart::html(rendered.html)),
        )
        .map_err(|e| SendError::Build(e.to_string()))
}

/// Plain ASCII text goes out as 7bit even with lines past 76 characters (the
/// hard limit is 998), so the link stays on one line in the raw message: an
/// `.eml` opened in an editor, or a test reading the SMTP data, sees it
/// whole. Other text gets lettre's choice (quoted-printable).
fn plain_body(text: String) -> Body {
    if text.is_ascii() && text.lines().all(|l| l.len() <= 998) {
        let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text)
    }
}

fn rendered_name(name: &str) -> Option<String> {
    let name: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    pub fn new(cfg: &SmtpConfig, from: &str) -> Result<Self, SendError> {
        let smtp_error =
            |e: lettre::transport::smtp::Error| SendError::Smtp { message: e.to_string(), permanent: true };
        let builder = match cfg.security {
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host).map_err(smtp_error)?
            }
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(smtp_error)?,
        };
        let mut builder = builder.port(cfg.port).timeout(Some(cfg.timeout));
        if let Some(username) = &cfg.username {
            builder = builder.credentials(Credentials::new(username.clone(), cfg.password.clone().unwrap_or_default()));
        }
        Ok(SmtpSender { transport: builder.build(), from: mailbox(from)? })
    }
}

#[async_trait]
impl Sender for SmtpSender {
    async fn send(&self, mail: &InviteMail) -> Result<String, SendError> {
        let message = build(&self.from, mail)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| SendError::Smtp { message: e.to_string(), permanent: e.is_permanent() })?;
        Ok(mail.message_id())
    }
}

/// Writes `<outbox>/<tenant id>.<invite id>.eml` (a re-send replaces the file). It logs
/// the invite's id and the file; the recipient and the link (which holds the
/// token) only when told to (`dev`, so a developer can follow it).
pub struct FileSender {
    dir: PathBuf,
    from: Mailbox,
    log_links: bool,
}

impl FileSender {
    pub fn new(dir: &Path, from: &str) -> Result<Self, SendError> {
        Ok(FileSender { dir: dir.to_owned(), from: mailbox(from)?, log_links: false })
    }

    /// Also log each mail's recipient and link.
    pub fn logging_links(mut self, log_links: bool) -> Self {
        self.log_links = log_links;
        self
    }

    pub fn path_of(&self, mail: &InviteMail) -> PathBuf {
        self.dir.join(format!("{}.{}.eml", mail.tenant_id, mail.invite_id))
    }
}

#[async_trait]
impl Sender for FileSender {
    async fn send(&self, mail: &InviteMail) -> Result<String, SendError> {
        let message = build(&self.from, mail)?;
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.path_of(mail);
        // Written aside and renamed, so a reader never sees half a mail.
        let partial = self.dir.join(format!(".{}.{}.partial.eml", mail.tenant_id, mail.invite_id));
        tokio::fs::write(&partial, message.formatted()).await?;
        tokio::fs::rename(&partial, &path).await?;
        if self.log_links {
            tracing::info!(
                to = %mail.to,
                path = %path.display(),
                link = %mail.link,
                "no SMTP server configured: invite mail written to the outbox"
            );
        } else {
            tracing::info!(invite = %mail.invite_id, path = %path.display(), "invite mail written to the outbox");
        }
        Ok(mail.message_id())
    }
}
