//! The server-rendered pages behind an invite link: the password form, the
//! page that confirms it, and the pages for a link that is used, expired or
//! not valid. They are the one place the API answers HTML, so they are kept
//! self-contained (inline CSS, no scripts, nothing loaded from elsewhere) and
//! every value from the read model is escaped. The token is in the URL, so no
//! page may be cached or leak its address to another site.
//!
//! Ids a browser test can rely on: `main` carries the page's id (`invite-form`,
//! `done`, `invite-used`, `invite-expired`, `invite-not-found`,
//! `invite-error`); the form page has `contact-name`, `contact-email`,
//! `contact-company`, `contact-address` (each only when the contact has it),
//! `password-rule`, `error` (only after a refused post), the inputs
//! `password` and `password_confirmation`, and the button `set-password`.
use std::fmt::Write;

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use ledger_domain::{Address, Code, Contact, rules::PASSWORD_RULE};
use ledger_text::escape_html as esc;

use crate::problem::Problem;

pub const HTML: &str = "text/html; charset=utf-8";
/// Nothing but the inline style; forms post back to this origin only.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the form page shows about the invited user.
pub struct Invitee<'a> {
    pub tenant_name: &'a str,
    pub contact: &'a Contact,
}

/// A rendered page with its status.
pub struct Page {
    status: StatusCode,
    html: String,
    retry_after: bool,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.html));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in [
            (header::CONTENT_TYPE, HTML),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::HeaderName::from_static("x-robots-tag"), "noindex"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// The password form; `errors` (already plain sentences) make it a 422.
pub fn form(who: &Invitee<'_>, errors: &[String], status: StatusCode) -> Page {
    let c = who.contact;
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1>\n<p class=\"lead\">You have been invited to set up your account. Choose a password to finish.</p>\n",
        esc(who.tenant_name)
    );
    body.push_str("<dl class=\"details\">\n");
    let mut row = |id: &str, label: &str, value_html: Option<String>| {
        if let Some(v) = value_html.filter(|v| !v.is_empty()) {
            let _ = writeln!(body, "<dt>{label}</dt><dd id=\"{id}\">{v}</dd>");
        }
    };
    row("contact-name", "Name", display_name(c).map(|n| esc(&n)));
    row("contact-email", "Email", c.profile.email.as_deref().map(esc));
    row("contact-company", "Company", c.profile.company.as_deref().map(esc));
    row("contact-address", "Address", c.profile.address.as_ref().map(address_html));
    body.push_str("</dl>\n");
    if !errors.is_empty() {
        body.push_str("<div id=\"error\" class=\"error\" role=\"alert\">\n");
        for e in errors {
            let _ = writeln!(body, "<p>{}</p>", esc(e));
        }
        body.push_str("</div>\n");
    }
    let invalid = if errors.is_empty() { "" } else { " aria-invalid=\"true\"" };
    let _ = write!(
        body,
        concat!(
            "<form method=\"post\" id=\"set-password-form\">\n",
            "<label for=\"password\">New password</label>\n",
            "<input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"new-password\" ",
            "aria-describedby=\"password-rule\"{invalid}>\n",
            "<p id=\"password-rule\" class=\"hint\">Your password {rule}.</p>\n",
            "<label for=\"password_confirmation\">Confirm password</label>\n",
            "<input type=\"password\" name=\"password_confirmation\" id=\"password_confirmation\" ",
            "autocomplete=\"new-password\"{invalid}>\n",
            "<button type=\"submit\" id=\"set-password\">Set password</button>\n",
            "</form>\n",
        ),
        invalid = invalid,
        rule = esc(PASSWORD_RULE),
    );
    page(status, "invite-form", &format!("Set your password · {}", who.tenant_name), &body)
}

/// After the password was set.
pub fn done(who: &Invitee<'_>) -> Page {
    let sign_in = match who.contact.profile.email.as_deref() {
        Some(email) => format!("You can now sign in as <strong>{}</strong>.", esc(email)),
        None => "You can now sign in.".to_owned(),
    };
    let body =
        format!("<h1>Your password is set</h1>\n<p>{sign_in}</p>\n<p class=\"muted\">{}</p>\n", esc(who.tenant_name));
    page(StatusCode::OK, "done", "Your password is set", &body)
}

pub fn used() -> Page {
    let body = concat!(
        "<h1>This link has already been used</h1>\n",
        "<p>The password for this account was set with this link, and each link works only once.</p>\n",
        "<p>If you have forgotten the password, ask whoever invited you to send a new invite.</p>\n",
    );
    page(StatusCode::GONE, "invite-used", "Link already used", body)
}

pub fn superseded() -> Page {
    let body = concat!(
        "<h1>This link has been replaced</h1>\n",
        "<p>A newer invite was sent to you after this one. Use the link in the latest email.</p>\n",
    );
    page(StatusCode::GONE, "invite-superseded", "Link replaced", body)
}

pub fn expired() -> Page {
    let body = concat!(
        "<h1>This link has expired</h1>\n",
        "<p>Invite links are only valid for a limited time. Ask whoever invited you to send a new invite.</p>\n",
    );
    page(StatusCode::GONE, "invite-expired", "Link expired", body)
}

pub fn not_found() -> Page {
    let body = concat!(
        "<h1>This link is not valid</h1>\n",
        "<p>Check that you opened the whole link from your email, or ask for a new invite.</p>\n",
    );
    page(StatusCode::NOT_FOUND, "invite-not-found", "Link not valid", body)
}

/// The page for a problem met on the way (the JSON routes answer the same
/// problem as problem+json).
pub fn for_problem(problem: &Problem) -> Page {
    match problem.code() {
        Code::InviteNotFound => not_found(),
        Code::InviteUsed => used(),
        Code::InviteExpired => expired(),
        Code::InviteSuperseded => superseded(),
        Code::DecisionPending => trouble(
            StatusCode::SERVICE_UNAVAILABLE,
            "Your password is still being saved. Wait a moment, then open your invite link again: if it says the \
             link was already used, your password is set.",
        ),
        _ if problem.status() == StatusCode::SERVICE_UNAVAILABLE => trouble(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is busy right now and nothing was changed. Please try again in a moment.",
        ),
        _ => trouble(
            problem.status(),
            "Something went wrong on our side and it has been logged. Please try again later.",
        ),
    }
}

fn trouble(status: StatusCode, message: &str) -> Page {
    let body = format!("<h1>We could not finish that</h1>\n<p>{}</p>\n", esc(message));
    let mut rendered = page(status, "invite-error", "Please try again", &body);
    rendered.retry_after = status == StatusCode::SERVICE_UNAVAILABLE;
    rendered
}

fn page(status: StatusCode, id: &str, title: &str, body: &str) -> Page {
    let html = format!(
        concat!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n<style>{STYLE}</style>\n",
            "</head>\n<body>\n<main id=\"{id}\" class=\"card\">\n{body}</main>\n</body>\n</html>\n",
        ),
        title = esc(title),
        STYLE = STYLE,
        id = id,
        body = body,
    );
    Page { status, html, retry_after: false }
}

/// `name`, else first and last name.
fn display_name(c: &Contact) -> Option<String> {
    let p = &c.profile;
    if let Some(name) = p.name.as_deref().filter(|n| !n.trim().is_empty()) {
        return Some(name.to_owned());
    }
    let parts: Vec<&str> = [p.first_name.as_deref(), p.last_name.as_deref()].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// One escaped line per filled part, joined by `<br>`.
fn address_html(a: &Address) -> String {
    let town: Vec<&str> = [a.city.as_deref(), a.region.as_deref(), a.zip.as_deref()].into_iter().flatten().collect();
    let town = town.join(" ");
    [a.line1.as_deref(), a.line2.as_deref(), a.line3.as_deref(), Some(town.as_str()), a.country_code.as_deref()]
        .into_iter()
        .flatten()
        .filter(|l| !l.trim().is_empty())
        .map(esc)
        .collect::<Vec<_>>()
        .join("<br>")
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f4f5f7;color:#1d2330}\
.card{width:100%;max-width:28rem;margin:2rem 1rem;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}\
h1{font-size:1.4rem;line-height:1.3;margin:0 0 .75rem}\
.lead,.muted,.hint{color:#4a5263}.hint{font-size:.875rem;margin:.35rem 0 1rem}\
.details{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:1.25rem 0;padding:1rem;\
background:#f8f9fb;border-radius:8px}\
.details dt{font-weight:600;color:#4a5263}.details dd{margin:0;overflow-wrap:anywhere}\
.error{margin:1rem 0;padding:.75rem 1rem;border:1px solid #e3a3a3;border-radius:8px;background:#fdf0f0;color:#8a1c1c}\
.error p{margin:0}.error p+p{margin-top:.35rem}\
label{display:block;font-weight:600;margin-top:1rem}\
input{display:block;width:100%;margin-top:.35rem;padding:.6rem .75rem;font:inherit;border:1px solid #c4c9d4;\
border-radius:8px}\
input:focus{outline:3px solid #9cc3ff;border-color:#2f6fde}\
input[aria-invalid=true]{border-color:#c43b3b}\
button{margin-top:1.5rem;width:100%;padding:.7rem 1rem;font:inherit;font-weight:600;color:#fff;background:#2f6fde;\
border:0;border-radius:8px;cursor:pointer}\
button:hover{background:#2459b8}button:focus{outline:3px solid #9cc3ff}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_shows_its_filled_lines_only() {
        let a = Address {
            line1: Some("1 Main St".into()),
            city: Some("Leeds".into()),
            zip: Some("LS1 <1>".into()),
            country_code: Some("GB".into()),
            ..Address::default()
        };
        assert_eq!(address_html(&a), "1 Main St<br>Leeds LS1 &lt;1&gt;<br>GB");
    }
}
