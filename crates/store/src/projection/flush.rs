//! Writes a folded batch with one statement per table (rows travel as arrays
//! and come apart with UNNEST). Every statement tolerates being replayed:
//! inserts skip rows that exist, updates only move a contact forward (its
//! version, and `updated_at` with it), and grant changes count only above
//! the contact's stored version (`roles`).
use std::sync::LazyLock;

use sqlx::PgConnection;

use super::{invites, pending::Pending, roles};
use crate::{
    error::Result,
    profile_columns::{PROFILE_COLUMNS, ProfileArrays},
};

/// `UNNEST($n::t[], ...) AS u(a, ...)` over the given columns.
fn unnest(first_param: usize, cols: &[(&str, &str)]) -> String {
    let params: Vec<String> =
        cols.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}[]", first_param + i)).collect();
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    format!("UNNEST({}) AS u({})", params.join(", "), names.join(", "))
}

/// The profile columns with the element types of their bound arrays.
fn profile_params() -> impl Iterator<Item = (&'static str, &'static str)> {
    PROFILE_COLUMNS.iter().map(|c| (c.name, c.kind.bind_type()))
}

static INSERT_CONTACTS: LazyLock<String> = LazyLock::new(|| {
    let mut cols =
        vec![("tenant_id", "text"), ("contact_id", "text"), ("number", "int8"), ("kind", "text"), ("type_id", "int8")];
    cols.extend(profile_params());
    cols.extend_from_slice(&[("version", "int8"), ("at", "timestamptz")]);
    let names: Vec<&str> = PROFILE_COLUMNS.iter().map(|c| c.name).collect();
    let values: Vec<String> = PROFILE_COLUMNS.iter().map(|c| c.unnested_value()).collect();
    format!(
        "INSERT INTO contacts (tenant_id, contact_id, number, kind, type_id, {}, registered, version, created_at, updated_at) \
         SELECT u.tenant_id, u.contact_id, u.number, u.kind, u.type_id, {}, false, u.version, u.at, u.at FROM {} \
         ON CONFLICT (tenant_id, contact_id) DO NOTHING",
        names.join(", "),
        values.join(", "),
        unnest(1, &cols),
    )
});

static UPDATE_PROFILES: LazyLock<String> = LazyLock::new(|| {
    let mut cols = vec![("tenant_id", "text"), ("contact_id", "text")];
    cols.extend(profile_params());
    cols.extend_from_slice(&[("version", "int8"), ("at", "timestamptz")]);
    let sets: Vec<String> = PROFILE_COLUMNS.iter().map(|c| format!("{} = {}", c.name, c.unnested_value())).collect();
    format!(
        "UPDATE contacts c SET {}, version = u.version, updated_at = u.at FROM {} \
         WHERE c.tenant_id = u.tenant_id AND c.contact_id = u.contact_id AND c.version < u.version",
        sets.join(", "),
        unnest(1, &cols),
    )
});

// `updated_at` goes with the version: only a mark above the stored version
// (a decision not applied before, and newer than this batch's profile
// change, which runs first) moves it.
const MARK_CONTACTS: &str = "UPDATE contacts c SET registered = c.registered OR u.registered, \
     version = GREATEST(c.version, u.version), \
     updated_at = CASE WHEN u.version > c.version THEN u.at ELSE c.updated_at END \
     FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::int8[], $5::timestamptz[]) \
     AS u(tenant_id, contact_id, registered, version, at) \
     WHERE c.tenant_id = u.tenant_id AND c.contact_id = u.contact_id";

// Last of the contact writes: the tombstone takes the deletion's version, so
// nothing older applies after it; the grants go with the contact.
const DELETE_CONTACTS: &str = "UPDATE contacts c SET deleted_at = u.at, version = GREATEST(c.version, u.version), \
     updated_at = u.at \
     FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::timestamptz[]) AS u(tenant_id, contact_id, version, at) \
     WHERE c.tenant_id = u.tenant_id AND c.contact_id = u.contact_id AND c.deleted_at IS NULL";

const DELETE_GRANTS: &str = "DELETE FROM contact_roles r USING UNNEST($1::text[], $2::text[]) AS u(tenant_id, contact_id) \
     WHERE r.tenant_id = u.tenant_id AND r.contact_id = u.contact_id";

// A tenant's command id has one valid decision in a correct log (the handler
// never decides a command twice), so the first one recorded stands; but a
// refusal for an `issued_at` too far ahead is not a decision (the handler does
// not remember it), and the command's later decision replaces it.
const INSERT_OUTCOMES: &str = "INSERT INTO command_outcomes \
     (command_id, tenant_id, command_type, status, contact_id, rejection, issued_at, events, created, warnings) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[], $8::jsonb[], \
     $9::bool[], $10::jsonb[]) \
     ON CONFLICT (tenant_id, command_id) DO UPDATE SET command_type = EXCLUDED.command_type, \
     status = EXCLUDED.status, contact_id = EXCLUDED.contact_id, rejection = EXCLUDED.rejection, \
     issued_at = EXCLUDED.issued_at, events = EXCLUDED.events, created = EXCLUDED.created, \
     warnings = EXCLUDED.warnings \
     WHERE command_outcomes.rejection @> '{\"errors\": [{\"field\": \"issued_at\", \"code\": \"issued_in_future\"}]}'";

const INSERT_EVENTS: &str = "INSERT INTO contact_events \
     (tenant_id, contact_id, version, idx, event_type, event_version, occurred_at, command_id, data) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int4[], $5::text[], $6::int4[], $7::timestamptz[], $8::text[], $9::jsonb[]) \
     ON CONFLICT DO NOTHING";

// No conflict target: a second tenant with an API key hash already taken is
// skipped rather than failing the batch forever (the key would be ambiguous).
const INSERT_TENANTS: &str = "INSERT INTO tenants (tenant_id, name, api_key_hash, contact_capture, created_at) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[]) \
     ON CONFLICT DO NOTHING";

// A key whose hash another tenant has already is skipped, as a tenant's is.
const INSERT_KEYS: &str = "INSERT INTO tenant_api_keys (tenant_id, api_key_hash, key_version) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::int4[]) ON CONFLICT DO NOTHING";

/// A rotation ends the tenant's earlier keys (never later than an earlier
/// rotation ended them).
const END_KEYS: &str = "UPDATE tenant_api_keys k SET valid_until = LEAST(coalesce(k.valid_until, 'infinity'), u.until) \
     FROM UNNEST($1::text[], $2::int4[], $3::timestamptz[]) AS u(tenant_id, key_version, until) \
     WHERE k.tenant_id = u.tenant_id AND k.key_version < u.key_version";

const CONFIGURE_TENANTS: &str = "UPDATE tenants t SET contact_capture = u.contact_capture \
     FROM UNNEST($1::text[], $2::bool[]) AS u(tenant_id, contact_capture) WHERE t.tenant_id = u.tenant_id";

const NOTIFY: &str = "SELECT pg_notify('command_decided', id) FROM UNNEST($1::text[]) AS id";

/// Writes everything pending and leaves `pending` empty.
pub(crate) async fn flush(conn: &mut PgConnection, pending: &mut Pending) -> Result<()> {
    let p = std::mem::take(pending);
    // First: grant changes are judged against the contacts' versions as they
    // stood before this batch, which the contact writes below move on.
    roles::write_grants(&mut *conn, p.grants).await?;
    roles::insert_roles(&mut *conn, p.roles).await?;
    if !p.outcomes.is_empty() {
        let mut cols = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let (mut created, mut warnings) = (vec![], vec![]);
        for o in p.outcomes {
            created.push(o.created);
            warnings.push(o.warnings);
            cols.0.push(o.command_id);
            cols.1.push(o.tenant_id);
            cols.2.push(o.command_type);
            cols.3.push(o.status);
            cols.4.push(o.contact_id);
            cols.5.push(o.rejection);
            cols.6.push(o.issued_at);
            cols.7.push(o.events);
        }
        sqlx::query(INSERT_OUTCOMES)
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .bind(cols.4)
            .bind(cols.5)
            .bind(cols.6)
            .bind(cols.7)
            .bind(created)
            .bind(warnings)
            .execute(&mut *conn)
            .await?;
    }
    if !p.tenants.is_empty() {
        let mut cols = (vec![], vec![], vec![], vec![], vec![]);
        for t in p.tenants {
            cols.0.push(t.tenant_id);
            cols.1.push(t.name);
            cols.2.push(t.api_key_hash);
            cols.3.push(t.contact_capture);
            cols.4.push(t.created_at);
        }
        sqlx::query(INSERT_TENANTS)
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .bind(cols.4)
            .execute(&mut *conn)
            .await?;
    }
    if !p.keys.is_empty() {
        let (mut tenant, mut hash, mut version) = (vec![], vec![], vec![]);
        let (mut ended_tenant, mut ended_before, mut until) = (vec![], vec![], vec![]);
        for k in p.keys {
            if let Some(at) = k.previous_valid_until {
                ended_tenant.push(k.tenant_id.clone());
                ended_before.push(k.key_version);
                until.push(at);
            }
            tenant.push(k.tenant_id);
            hash.push(k.api_key_hash);
            version.push(k.key_version);
        }
        sqlx::query(INSERT_KEYS).bind(tenant).bind(hash).bind(version).execute(&mut *conn).await?;
        if !ended_tenant.is_empty() {
            sqlx::query(END_KEYS).bind(ended_tenant).bind(ended_before).bind(until).execute(&mut *conn).await?;
        }
    }
    if !p.capture.is_empty() {
        let (tenants, capture): (Vec<String>, Vec<bool>) = p.capture.into_iter().unzip();
        sqlx::query(CONFIGURE_TENANTS).bind(tenants).bind(capture).execute(&mut *conn).await?;
    }
    if !p.created.is_empty() {
        let (mut tenant, mut contact, mut number, mut kind, mut type_id) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut profiles, mut version, mut at) = (ProfileArrays::default(), vec![], vec![]);
        for c in p.created {
            profiles.push(&c.profile)?;
            tenant.push(c.tenant_id);
            contact.push(c.contact_id);
            number.push(c.number);
            kind.push(c.kind);
            type_id.push(c.type_id);
            version.push(c.version);
            at.push(c.at);
        }
        let q = sqlx::query(INSERT_CONTACTS.as_str()).bind(tenant).bind(contact).bind(number).bind(kind).bind(type_id);
        profiles.bind(q).bind(version).bind(at).execute(&mut *conn).await?;
    }
    if !p.profiles.is_empty() {
        let (mut tenant, mut contact, mut profiles, mut version, mut at) =
            (vec![], vec![], ProfileArrays::default(), vec![], vec![]);
        for ((t, c), change) in p.profiles {
            profiles.push(&change.profile)?;
            tenant.push(t);
            contact.push(c);
            version.push(change.version);
            at.push(change.at);
        }
        let q = sqlx::query(UPDATE_PROFILES.as_str()).bind(tenant).bind(contact);
        profiles.bind(q).bind(version).bind(at).execute(&mut *conn).await?;
    }
    if !p.marks.is_empty() {
        let (mut tenant, mut contact, mut registered, mut version, mut at) = (vec![], vec![], vec![], vec![], vec![]);
        for ((t, c), mark) in p.marks {
            tenant.push(t);
            contact.push(c);
            registered.push(mark.registered);
            version.push(mark.version);
            at.push(mark.at);
        }
        sqlx::query(MARK_CONTACTS)
            .bind(tenant)
            .bind(contact)
            .bind(registered)
            .bind(version)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    if !p.deletes.is_empty() {
        let (mut tenant, mut contact, mut version, mut at) = (vec![], vec![], vec![], vec![]);
        for ((t, c), (v, when)) in p.deletes {
            tenant.push(t);
            contact.push(c);
            version.push(v);
            at.push(when);
        }
        sqlx::query(DELETE_GRANTS).bind(&tenant).bind(&contact).execute(&mut *conn).await?;
        sqlx::query(DELETE_CONTACTS).bind(tenant).bind(contact).bind(version).bind(at).execute(&mut *conn).await?;
    }
    if !p.events.is_empty() {
        let mut cols = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for e in p.events {
            cols.0.push(e.tenant_id);
            cols.1.push(e.contact_id);
            cols.2.push(e.version);
            cols.3.push(e.idx);
            cols.4.push(e.event_type);
            cols.5.push(e.event_version);
            cols.6.push(e.occurred_at);
            cols.7.push(e.command_id);
            cols.8.push(e.data);
        }
        sqlx::query(INSERT_EVENTS)
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .bind(cols.4)
            .bind(cols.5)
            .bind(cols.6)
            .bind(cols.7)
            .bind(cols.8)
            .execute(&mut *conn)
            .await?;
    }
    invites::write(&mut *conn, p.invites).await?;
    if !p.notify.is_empty() {
        // Queued by PostgreSQL and delivered only when the transaction commits.
        sqlx::query(NOTIFY).bind(p.notify).execute(&mut *conn).await?;
    }
    Ok(())
}
