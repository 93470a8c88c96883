//! The invite mail: what it says (rendered from `templates/`) and how it is
//! identified (`Message-ID` from the invite id).
use std::fmt;

use chrono::{DateTime, Utc};
use ledger_domain::{InviteId, TenantId};
use ledger_text::escape_html;

const SUBJECT: &str = include_str!("../templates/invite.subject.txt");
const TEXT: &str = include_str!("../templates/invite.txt");
const HTML: &str = include_str!("../templates/invite.html");

/// The `Message-ID` of an invite's mail: the same for every (re-)send of one
/// invite, so a receiver can recognise and drop a repeat. Invite ids are per
/// tenant, so the tenant is part of it.
pub fn message_id(tenant: TenantId, invite: InviteId) -> String {
    format!("<invite-{invite}.{tenant}@contact-ledger>")
}

/// One invite mail, ready to render. `link` holds the token: `Debug` does not
/// show it.
#[derive(Clone)]
pub struct InviteMail {
    /// The recipient's address.
    pub to: String,
    pub contact_name: String,
    pub tenant_name: String,
    /// `{public_base_url}/invite/{token}`.
    pub link: String,
    pub tenant_id: TenantId,
    pub invite_id: InviteId,
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for InviteMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InviteMail")
            .field("to", &self.to)
            .field("contact_name", &self.contact_name)
            .field("tenant_name", &self.tenant_name)
            .field("link", &"<redacted>")
            .field("invite_id", &self.invite_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl InviteMail {
    pub fn message_id(&self) -> String {
        message_id(self.tenant_id, self.invite_id)
    }

    pub fn render(&self) -> Rendered {
        let expires = self.expires_at.format("%-d %B %Y, %H:%M UTC").to_string();
        let values = [
            ("tenant_name", one_line(&self.tenant_name)),
            ("contact_name", one_line(&self.contact_name)),
            ("link", self.link.clone()),
            ("expires", expires),
        ];
        let html_values = values.clone().map(|(k, v)| (k, escape_html(&v)));
        Rendered {
            subject: one_line(&fill(SUBJECT, &values)).trim().to_owned(),
            text: fill(TEXT, &values),
            html: fill(HTML, &html_values),
        }
    }
}

/// Names go into headers and one-line sentences: control characters
/// (newlines above all) become spaces.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Replaces each `{{name}}` with its value in one pass, so a value that itself
/// looks like a placeholder is left as it is. Unknown names stay as written.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| Some((end, values.iter().find(|(k, _)| *k == &after[..end])?))) {
            Some((end, (_, value))) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ulid::Ulid;

    use super::*;

    fn mail() -> InviteMail {
        InviteMail {
            to: "bob@example.com".into(),
            contact_name: "Bob <script>alert(1)</script>".into(),
            tenant_name: "Acme & \"Sons\"".into(),
            link: "http://127.0.0.1:8080/invite/abc123?x=1&y=2".into(),
            tenant_id: TenantId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAX").unwrap()),
            invite_id: InviteId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap()),
            expires_at: Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 0).single().unwrap(),
        }
    }

    #[test]
    fn the_html_part_escapes_every_value() {
        let r = mail().render();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("Bob &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.html.contains("<strong>Acme &amp; &quot;Sons&quot;</strong>"));
        assert!(r.html.contains(r#"href="http://127.0.0.1:8080/invite/abc123?x=1&amp;y=2""#));
        assert!(!r.html.contains("{{"), "every placeholder is filled");
    }

    #[test]
    fn the_text_part_and_subject_carry_the_values_as_they_are() {
        let r = mail().render();
        assert!(r.text.starts_with("Hello Bob <script>alert(1)</script>,"));
        assert!(r.text.contains("\nhttp://127.0.0.1:8080/invite/abc123?x=1&y=2\n"));
        assert!(r.text.contains("expires on 2 January 2030, 03:04 UTC"));
        assert_eq!(r.subject, "Acme & \"Sons\" invited you: set your password");
        assert!(!r.text.contains("{{"));
    }

    #[test]
    fn names_cannot_break_a_header_or_inject_a_placeholder() {
        let mut m = mail();
        m.tenant_name = "Evil\r\nBcc: victim@example.com".into();
        m.contact_name = "{{link}}".into();
        let r = m.render();
        assert_eq!(r.subject, "Evil  Bcc: victim@example.com invited you: set your password");
        assert!(r.text.starts_with("Hello {{link}},"), "a value is never expanded again");
    }

    #[test]
    fn the_message_id_is_derived_from_the_tenant_and_the_invite_id() {
        let m = mail();
        assert_eq!(
            m.message_id(),
            format!("<invite-invite_01ARZ3NDEKTSV4RRFFQ69G5FAV.{}@contact-ledger>", m.tenant_id)
        );
        assert_eq!(m.message_id(), message_id(m.tenant_id, m.invite_id));
        let other = InviteId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAW").unwrap());
        assert_ne!(message_id(m.tenant_id, other), m.message_id());
        let other_tenant = TenantId(Ulid::from_string("01ARZ3NDEKTSV4RRFFQ69G5FAY").unwrap());
        assert_ne!(message_id(other_tenant, m.invite_id), m.message_id(), "another tenant's invite with the same id");
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_left_alone() {
        let values = [("a", "1".to_owned())];
        assert_eq!(fill("{{a}} {{b}} {{ {{a}}", &values), "1 {{b}} {{ 1");
        assert_eq!(fill("x {{a", &values), "x {{a");
    }
}
