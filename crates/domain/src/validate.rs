//! Field rules and the per-kind required fields. Pure functions returning
//! every failure, never the first one only.
use crate::{
    contact::{Address, ContactKind, Profile},
    error::FieldError,
};

pub const EXTERNAL_ID_MAX: usize = 120;
pub const PURCHASE_ORDER_MAX: usize = 50;
pub const TEXT_MAX: usize = 200;
pub const METADATA_MAX_BYTES: usize = 16 * 1024;
pub const TAG_MAX: usize = 64;
pub const TAGS_MAX: usize = 100;
pub const INVOICE_CONTACT_TYPE: i64 = 6;
pub const PASSWORD_MIN: usize = 8;

/// The password rule from Evance: at least 8 characters, letters and digits.
/// Checked at the edge before hashing; the domain only ever sees the hash.
pub fn check_password(field: &str, password: &str) -> Result<(), FieldError> {
    let long = password.chars().count() >= PASSWORD_MIN;
    let letter = password.chars().any(char::is_alphabetic);
    let digit = password.chars().any(|c| c.is_ascii_digit());
    if long && letter && digit { Ok(()) } else { Err(FieldError::new(field, "weak_password", PASSWORD_RULE)) }
}

pub const PASSWORD_RULE: &str = "must be at least 8 characters long and contain both letters and numbers";

pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else { return false };
    let ok_chars = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    email.len() <= 254
        && local.len() <= 64
        && ok_chars(local)
        && ok_chars(domain)
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &Option<String>, max: usize) {
    if let Some(v) = value {
        if v.chars().count() > max {
            errors.push(FieldError::new(field, "too_long", format!("must be at most {max} characters")));
        }
        if v.chars().any(|c| c.is_control()) {
            errors.push(FieldError::new(field, "invalid_characters", "must not contain control characters"));
        }
    }
}

/// Formats and bounds of every profile field.
pub fn check_profile(p: &Profile, type_id: Option<i64>) -> Vec<FieldError> {
    let mut e = Vec::new();
    if let Some(x) = &p.external_id {
        let n = x.chars().count();
        if n == 0 || n > EXTERNAL_ID_MAX {
            e.push(FieldError::new("external_id", "invalid_length", "must be 1 to 120 characters"));
        }
    }
    if let Some(email) = &p.email
        && !is_valid_email(email.trim())
    {
        e.push(FieldError::new("email", "invalid_email", "must be a valid email address"));
    }
    for (f, v) in [
        ("first_name", &p.first_name),
        ("last_name", &p.last_name),
        ("name", &p.name),
        ("company", &p.company),
        ("title", &p.title),
        ("department", &p.department),
    ] {
        text(&mut e, f, v, TEXT_MAX);
    }
    for (f, v) in [("phone", &p.phone), ("mobile", &p.mobile)] {
        text(&mut e, f, v, 50);
    }
    if let Some(url) = &p.avatar_url {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() > 2048 || url.contains(char::is_whitespace) {
            e.push(FieldError::new("avatar_url", "invalid_url", "must be an http(s) URL of at most 2048 characters"));
        }
    }
    if let Some(po) = &p.purchase_order_number {
        text(&mut e, "purchase_order_number", &Some(po.clone()), PURCHASE_ORDER_MAX);
        if type_id != Some(INVOICE_CONTACT_TYPE) {
            e.push(FieldError::new(
                "purchase_order_number",
                "only_for_invoice_contacts",
                "may only be set on invoice contacts (type_id 6)",
            ));
        }
    }
    if let Some(a) = &p.address {
        check_address(&mut e, a);
    }
    if p.tags.len() > TAGS_MAX {
        e.push(FieldError::new("tags", "too_many", format!("at most {TAGS_MAX} tags")));
    }
    for t in &p.tags {
        if t.is_empty() || t.chars().count() > TAG_MAX || t.chars().any(char::is_control) {
            e.push(FieldError::new(
                "tags",
                "invalid_tag",
                format!("each tag must be 1 to {TAG_MAX} printable characters"),
            ));
            break;
        }
    }
    let meta_len = serde_json::to_vec(&p.metadata).map(|v| v.len()).unwrap_or(usize::MAX);
    if meta_len > METADATA_MAX_BYTES {
        e.push(FieldError::new(
            "metadata",
            "too_large",
            format!("must serialise to at most {METADATA_MAX_BYTES} bytes"),
        ));
    }
    e
}

fn check_address(e: &mut Vec<FieldError>, a: &Address) {
    for (f, v) in [
        ("address.line1", &a.line1),
        ("address.line2", &a.line2),
        ("address.line3", &a.line3),
        ("address.city", &a.city),
        ("address.region", &a.region),
        ("address.zip", &a.zip),
        ("address.first_name", &a.first_name),
        ("address.last_name", &a.last_name),
        ("address.company", &a.company),
    ] {
        text(e, f, v, TEXT_MAX);
    }
    if let Some(cc) = &a.country_code
        && !is_country_code(cc)
    {
        e.push(FieldError::new("address.country_code", "invalid_country", "must be an ISO 3166-1 alpha-2 code"));
    }
}

pub fn is_country_code(cc: &str) -> bool {
    cc.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == cc)
}

/// What each kind must carry (Evance's rules; `contact` from Zephr/orq.ai).
pub fn check_required(kind: ContactKind, p: &Profile) -> Vec<FieldError> {
    let mut e = Vec::new();
    let mut need = |field: &str, present: bool| {
        if !present {
            e.push(FieldError::new(field, "required", format!("is required for a {}", kind.as_str())));
        }
    };
    match kind {
        ContactKind::User | ContactKind::Guest => {
            need("first_name", p.first_name.is_some());
            need("last_name", p.last_name.is_some());
            need("email", p.email.is_some());
        }
        ContactKind::Branch => {
            need("company", p.company.is_some());
            need("email", p.email.is_some());
        }
        ContactKind::Recipient => need("email", p.email.is_some()),
        ContactKind::Contact => {
            if p.email.is_none() && p.external_id.is_none() {
                e.push(FieldError::new("email", "required", "an email or an external_id is required"));
            }
        }
    }
    e
}

const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_needs_eight_characters_letters_and_digits() {
        assert!(check_password("password", "abcdefg1").is_ok());
        assert!(check_password("password", "abcdefgh").is_err());
        assert!(check_password("password", "12345678").is_err());
        assert!(check_password("password", "abc1").is_err());
    }

    #[test]
    fn emails_are_checked_for_shape() {
        for ok in ["a@b.co", "Joe.Blow@Company.com", "x+y@sub.example.org"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "a@@b.co", "a b@c.de", "@b.co", "a@.co", "a@b..co"] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn country_codes_are_iso_alpha2() {
        assert!(is_country_code("GB"));
        assert!(!is_country_code("gb"));
        assert!(!is_country_code("XX"));
        assert!(!is_country_code("GBR"));
    }
}
