//! Every rule about what a command may do, in one place: field formats and
//! bounds, what each kind must carry, passwords, the kinds refused by name,
//! uniqueness, what an upsert or a patch may change, and which roles exist.
//! Pure functions returning every failure, never the first one only.
//!
//! `decide` applies them. `admit` is its state-free half: the edge calls it
//! too, to refuse a body before paying for a password hash or a round trip
//! through the log, so a rule is checked there and in `decide` but written
//! only here.
use crate::{
    code::Code,
    command::{Command, CreateContact, DefineAccessRole, UpsertContact},
    contact::{Address, Contact, ContactKind, Profile},
    error::{FieldError, Rejection},
    ids::ContactId,
    patch::ProfilePatch,
    roles::GrantRequest,
    secret::Password,
    state::TenantState,
};

pub const EXTERNAL_ID_MAX: usize = 120;
pub const PURCHASE_ORDER_MAX: usize = 50;
pub const TEXT_MAX: usize = 200;
pub const METADATA_MAX_BYTES: usize = 16 * 1024;
pub const TAG_MAX: usize = 64;
pub const TAGS_MAX: usize = 100;
/// Role grants one request may carry.
pub const GRANTS_MAX: usize = 100;
pub const INVOICE_CONTACT_TYPE: i64 = 6;
pub const PASSWORD_MIN: usize = 8;
/// The longest a rotated-out API key keeps working: 30 days.
pub const KEY_OVERLAP_MAX_SECS: i64 = 30 * 24 * 3600;

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

/// The rules that need no state: a command that fails them fails whatever
/// the tenant holds.
pub fn admit(command: &Command) -> Vec<FieldError> {
    match command {
        Command::CreateContact(c) => create_rules(c),
        Command::UpsertContact(u) => upsert_rules(u),
        Command::DefineAccessRole(d) => role_rules(d),
        Command::RotateApiKey(r) => rotation_rules(r),
        _ => Vec::new(),
    }
}

/// A new API key is given as its SHA-256 (64 hex digits), and the keys it
/// replaces work for 0 to 30 days more.
fn rotation_rules(r: &crate::command::RotateApiKey) -> Vec<FieldError> {
    let mut e = Vec::new();
    if r.api_key_hash.len() != 64 || !r.api_key_hash.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
        e.push(FieldError::new("api_key_hash", "invalid_format", "must be the key's SHA-256: 64 lowercase hex digits"));
    }
    if !(0..=KEY_OVERLAP_MAX_SECS).contains(&r.previous_valid_secs) {
        e.push(FieldError::new(
            "previous_valid_secs",
            "out_of_range",
            format!("must be 0 to {KEY_OVERLAP_MAX_SECS} (30 days)"),
        ));
    }
    e
}

/// A branch ignores a password, a first name and a last name (Evance).
fn ignores_names_and_password(kind: ContactKind) -> bool {
    kind == ContactKind::Branch
}

/// The profile and password hash a create keeps once what its kind ignores
/// is dropped.
pub fn effective(c: &CreateContact) -> (Profile, Option<String>) {
    let mut profile = c.profile.clone();
    if ignores_names_and_password(c.kind) {
        profile.first_name = None;
        profile.last_name = None;
        return (profile, None);
    }
    (profile, c.password_hash.clone())
}

/// The names a profile keeps for an existing contact of `kind`.
pub fn keep_for_kind(kind: ContactKind, profile: &mut Profile) {
    if ignores_names_and_password(kind) {
        profile.first_name = None;
        profile.last_name = None;
    }
}

/// Takes the plaintext password out of a contact command, for the edge to
/// hash into `password_hash`; a branch's is dropped, as the kind ignores it.
pub fn take_password(command: &mut Command) -> Option<Password> {
    let c = match command {
        Command::CreateContact(c) => c,
        Command::UpsertContact(u) => &mut u.contact,
        _ => return None,
    };
    let password = c.password.take()?;
    (!ignores_names_and_password(c.kind)).then_some(password)
}

/// Evance does not allow adding an hq contact: the kind refused by name.
pub fn refused_kind(name: &str) -> Option<FieldError> {
    (name == "hq").then(|| FieldError::new("kind", "kind_not_allowed", "an hq contact cannot be added"))
}

/// The rules a contact body's fields meet whatever its kind: what the edge
/// can still say about a body whose kind is missing or wrong.
pub fn field_rules(profile: &Profile, type_id: Option<i64>, password: Option<&Password>) -> Vec<FieldError> {
    let mut errors = check_profile(profile, type_id);
    if let Some(Err(e)) = password.map(|p| check_password("password", p.expose())) {
        errors.push(e);
    }
    errors
}

/// The password rules of a create: a plaintext must be strong; a user needs
/// a password or an invite; only users have one, and only users are invited.
fn password_rules(c: &CreateContact, hash: Option<&String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let user = c.kind == ContactKind::User;
    let plain = c.password.as_ref().filter(|_| !ignores_names_and_password(c.kind));
    if let Some(Err(e)) = plain.map(|p| check_password("password", p.expose())) {
        errors.push(e);
    }
    let given = hash.is_some() || plain.is_some();
    if errors.is_empty() && user && !given && !c.invite {
        errors.push(FieldError::new("password", "required", "a user needs a password or \"invite\": true"));
    }
    if errors.is_empty() && !user && given {
        errors.push(FieldError::new("password", "not_allowed", "only users have a password"));
    }
    if c.invite && !user {
        errors.push(FieldError::new("invite", "only_for_users", "only users can be invited"));
    }
    errors
}

/// The state-free rules of a create: formats, required fields per kind,
/// password and invite.
pub fn create_rules(c: &CreateContact) -> Vec<FieldError> {
    let (profile, hash) = effective(c);
    let mut errors = check_profile(&profile, c.type_id);
    errors.extend(check_required(c.kind, c.type_id, &profile));
    errors.extend(password_rules(c, hash.as_ref()));
    errors
}

/// The state-free rules of an upsert: formats, and a plaintext password's
/// strength. What it must carry depends on whether it creates, which only
/// the state tells; so does an invoice contact's type when none is given.
fn upsert_rules(u: &UpsertContact) -> Vec<FieldError> {
    let c = &u.contact;
    let plain = c.password.as_ref().filter(|_| !ignores_names_and_password(c.kind));
    let mut errors = field_rules(&c.profile, c.type_id, plain);
    if c.type_id.is_none() {
        errors.retain(|e| e.code != "only_for_invoice_contacts");
    }
    errors
}

fn role_rules(d: &DefineAccessRole) -> Vec<FieldError> {
    reference_rule(&d.reference).into_iter().collect()
}

/// A role's reference must be a slug.
pub fn reference_rule(reference: &str) -> Option<FieldError> {
    (!is_reference(reference)).then(|| {
        FieldError::new(
            "reference",
            "invalid_reference",
            "must be a slug: lowercase letters, digits, - and _, at most 64",
        )
    })
}

/// A role reference: a slug of lowercase letters, digits, `-` and `_`, at most 64.
pub fn is_reference(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A request carries at most [`GRANTS_MAX`] grants (checked before any of
/// them is read).
pub fn too_many_grants(field: &str, count: usize) -> Option<FieldError> {
    (count > GRANTS_MAX).then(|| FieldError::new(field, "too_many", format!("at most {GRANTS_MAX} roles per request")))
}

/// Grants name roles of the catalogue: roles cannot be created while granting.
pub fn unknown_roles(state: &TenantState, requests: &[GrantRequest]) -> Vec<FieldError> {
    requests
        .iter()
        .enumerate()
        .filter(|(_, r)| !state.roles.contains_key(&r.reference))
        .map(|(i, r)| {
            FieldError::new(
                format!("access_roles[{i}]"),
                "unknown_role",
                format!("no access role {:?}: roles cannot be created while granting", r.reference),
            )
        })
        .collect()
}

/// Only users are invited.
pub fn invitable(contact: &Contact) -> Result<(), Rejection> {
    if contact.kind == ContactKind::User {
        return Ok(());
    }
    Err(Rejection::invalid(vec![FieldError::new("contact_id", "only_for_users", "only users can be invited")]))
}

/// An external id is unique in the tenant; an email among contacts of the
/// same kind (guests excepted); a recipient may not take a user's email.
pub fn check_unique(
    state: &TenantState,
    kind: ContactKind,
    p: &Profile,
    this: Option<ContactId>,
) -> Result<(), Rejection> {
    let other = |c: &Contact| Some(c.id) != this;
    if let Some(x) = &p.external_id
        && state.by_external_id(x).filter(|c| other(c)).is_some()
    {
        return Err(Rejection::conflict(Code::ExternalIdTaken, "external_id", "another contact has this external_id"));
    }
    if let Some(email) = &p.email {
        if kind.email_is_unique() && state.with_email(kind, email).any(|c| other(&c)) {
            return Err(Rejection::conflict(
                Code::EmailTaken,
                "email",
                format!("another {} has this email", kind.as_str()),
            ));
        }
        if kind == ContactKind::Recipient && state.with_email(ContactKind::User, email).next().is_some() {
            return Err(Rejection::conflict(Code::EmailBelongsToUser, "email", "a user has this email"));
        }
    }
    Ok(())
}

/// A registered user is never upserted over (Zephr).
pub fn registered(email: &str) -> Rejection {
    Rejection::conflict(Code::RegisteredUser, "email", format!("User {email} already exists"))
}

/// What an upsert that matched `existing` may not do: change the kind or
/// the type, set a password or request an invite, or update a registered user.
pub fn upsert_update_rules(existing: &Contact, c: &CreateContact) -> Result<(), Rejection> {
    if existing.kind != c.kind {
        return Err(Rejection::invalid(vec![FieldError::new(
            "kind",
            "kind_mismatch",
            format!("the matching contact is a {}", existing.kind.as_str()),
        )]));
    }
    if existing.kind == ContactKind::User && existing.registered {
        return Err(registered(existing.profile.email.as_deref().unwrap_or("")));
    }
    let mut errors = Vec::new();
    if c.password_hash.is_some() || c.password.is_some() {
        errors.push(FieldError::new(
            "password",
            "not_on_update",
            "a password can only be given when the upsert creates",
        ));
    }
    if c.invite {
        errors.push(FieldError::new(
            "invite",
            "not_on_update",
            "an invite can only be requested when the upsert creates",
        ));
    }
    if c.type_id.is_some() && c.type_id != existing.type_id {
        errors.push(FieldError::new("type_id", "immutable_field", "is fixed at creation"));
    }
    if errors.is_empty() { Ok(()) } else { Err(Rejection::invalid(errors)) }
}

/// A patch may repeat `kind` and `type_id` but not change them.
pub fn patch_rules(existing: &Contact, patch: &ProfilePatch) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if patch.kind.is_some_and(|k| k != existing.kind) {
        errors.push(FieldError::new("kind", "immutable_field", "is fixed at creation"));
    }
    if patch.type_id.is_some_and(|t| t != existing.type_id) {
        errors.push(FieldError::new("type_id", "immutable_field", "is fixed at creation"));
    }
    errors
}

/// The rules a contact's profile must meet after any change: formats, and
/// what its kind must carry.
pub fn profile_rules(kind: ContactKind, type_id: Option<i64>, profile: &Profile) -> Vec<FieldError> {
    let mut errors = check_profile(profile, type_id);
    errors.extend(check_required(kind, type_id, profile));
    errors
}

pub fn is_country_code(cc: &str) -> bool {
    cc.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == cc)
}

/// What each kind must carry (Evance's rules; `contact` from Zephr/orq.ai).
/// An organisation contact (a `contact` with a `type_id`, emnify's) needs
/// only its type.
pub fn check_required(kind: ContactKind, type_id: Option<i64>, p: &Profile) -> Vec<FieldError> {
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
            if p.email.is_none() && p.external_id.is_none() && type_id.is_none() {
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
