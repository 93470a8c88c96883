//! The senders against the real thing: a small SMTP server on 127.0.0.1 (it
//! speaks just enough of RFC 5321 for one plain-text session) and a real
//! outbox folder.
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{TimeZone, Utc};
use ledger_domain::{InviteId, TenantId};
use ledger_mail::{FileSender, InviteMail, Security, Sender, SmtpConfig, SmtpSender, message_id};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};
use ulid::Ulid;

const FROM: &str = "Contact Ledger <no-reply@example.com>";
/// Longer than a mail line should be (76), as real links are.
const LINK: &str = "http://127.0.0.1:8080/invite/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn mail() -> InviteMail {
    InviteMail {
        to: "bob@example.com".into(),
        contact_name: "Bob Bobsworth".into(),
        tenant_name: "Acme".into(),
        link: LINK.into(),
        tenant_id: TenantId(Ulid::new()),
        invite_id: InviteId(Ulid::new()),
        expires_at: Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 0).single().unwrap(),
    }
}

/// Accepts SMTP sessions; answers `RCPT TO` with `rcpt_reply`; keeps every
/// message's DATA.
async fn smtp_server(rcpt_reply: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                    let reply = match verb.as_str() {
                        "EHLO" | "HELO" => "250 fake".to_owned(),
                        "RCPT" => rcpt_reply.to_owned(),
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            store.lock().unwrap().push(data);
                            "250 queued".to_owned()
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => "250 ok".to_owned(),
                    };
                    write.write_all(format!("{reply}\r\n").as_bytes()).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

fn plain_smtp(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: None,
        password: None,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn smtp_delivers_both_parts_with_the_message_id_of_the_invite() {
    let (port, received) = smtp_server("250 ok").await;
    let sender = SmtpSender::new(&plain_smtp(port), FROM).unwrap();
    let mail = mail();
    let id = sender.send(&mail).await.unwrap();
    assert_eq!(id, message_id(mail.tenant_id, mail.invite_id));
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let data = &received[0];
    assert!(
        data.contains(&format!("Message-ID: <invite-{}.{}@contact-ledger>", mail.invite_id, mail.tenant_id)),
        "{data}"
    );
    assert!(
        data.contains("To: \"Bob Bobsworth\" <bob@example.com>")
            || data.contains("To: Bob Bobsworth <bob@example.com>")
    );
    assert!(
        data.contains("From: \"Contact Ledger\" <no-reply@example.com>")
            || data.contains("From: Contact Ledger <no-reply@example.com>")
    );
    assert!(data.contains("text/plain") && data.contains("text/html"));
    assert!(data.contains(&format!("\n{LINK}\n")), "the link stays whole in the text part");
}

#[tokio::test]
async fn smtp_refusals_tell_whether_trying_again_can_help() {
    let (port, _) = smtp_server("550 5.1.1 no such user").await;
    let err = SmtpSender::new(&plain_smtp(port), FROM).unwrap().send(&mail()).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");

    let (port, _) = smtp_server("451 4.3.0 try again later").await;
    let err = SmtpSender::new(&plain_smtp(port), FROM).unwrap().send(&mail()).await.unwrap_err();
    assert!(!err.is_permanent(), "{err}");

    // Nobody listening: a transient failure too.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = SmtpSender::new(&plain_smtp(port), FROM).unwrap().send(&mail()).await.unwrap_err();
    assert!(!err.is_permanent(), "{err}");
}

#[tokio::test]
async fn a_bad_recipient_address_is_permanent_and_a_bad_from_is_refused_up_front() {
    let (port, _) = smtp_server("250 ok").await;
    let mut m = mail();
    m.to = "not an address".into();
    let err = SmtpSender::new(&plain_smtp(port), FROM).unwrap().send(&m).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(SmtpSender::new(&plain_smtp(port), "nobody").is_err());
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn the_file_sender_writes_one_eml_per_invite_into_the_outbox() {
    let dir = TempDir(std::env::temp_dir().join(format!("ledger-mail-{}", Ulid::new())));
    let outbox = dir.0.join("mail"); // created on first use
    let sender = FileSender::new(&outbox, FROM).unwrap();
    let mail = mail();
    let id = sender.send(&mail).await.unwrap();
    // A re-send replaces the file rather than adding one.
    assert_eq!(sender.send(&mail).await.unwrap(), id);
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, vec![std::ffi::OsString::from(format!("{}.{}.eml", mail.tenant_id, mail.invite_id))]);
    let eml = std::fs::read_to_string(sender.path_of(&mail)).unwrap();
    assert!(eml.contains(&format!("Message-ID: {id}")), "{eml}");
    assert!(eml.contains("Subject: Acme invited you: set your password"));
    assert!(eml.contains(&format!("\r\n{LINK}\r\n")), "{eml}");
}
