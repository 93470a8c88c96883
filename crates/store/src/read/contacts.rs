//! Contacts and their history as the API reads them.
use std::sync::LazyLock;

use ledger_domain::{Contact, ContactId, ContactKind, TenantId, normalize_email};
use ledger_ports::{ContactFilter, Cursor, EventView};
use sqlx::{PgPool, Postgres, QueryBuilder, Row, postgres::PgRow};

use crate::{
    error::{Error, Result, to_u64},
    profile_columns,
};

/// The contact's own columns around its profile's.
static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "contact_id, number, kind, type_id, {}, registered, version, created_at, updated_at",
        profile_columns::READ_COLUMNS.as_str()
    )
});

fn corrupt(reason: impl ToString) -> Error {
    Error::corrupt("contacts", reason)
}

fn contact_from_row(row: &PgRow) -> Result<Contact> {
    let id: String = row.try_get("contact_id")?;
    let kind: String = row.try_get("kind")?;
    Ok(Contact {
        id: id.parse().map_err(|e| corrupt(format!("contact_id {id:?}: {e}")))?,
        number: to_u64("contacts", row.try_get("number")?)?,
        kind: ContactKind::parse(&kind).ok_or_else(|| corrupt(format!("kind {kind:?}")))?,
        type_id: row.try_get("type_id")?,
        profile: profile_columns::profile_from_row(row)?,
        registered: row.try_get("registered")?,
        version: to_u64("contacts", row.try_get("version")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn by_id(pool: &PgPool, tenant: TenantId, id: ContactId) -> Result<Option<Contact>> {
    let sql =
        format!("SELECT {} FROM contacts WHERE tenant_id = $1 AND contact_id = $2 AND deleted_at IS NULL", *COLUMNS);
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(id.to_string()).fetch_optional(pool).await?;
    row.as_ref().map(contact_from_row).transpose()
}

/// External ids are unique per tenant in a correct log; the oldest wins if not.
pub(crate) async fn by_external_id(pool: &PgPool, tenant: TenantId, external_id: &str) -> Result<Option<Contact>> {
    let sql = format!(
        "SELECT {} FROM contacts WHERE tenant_id = $1 AND external_id = $2 AND deleted_at IS NULL ORDER BY contact_id LIMIT 1",
        *COLUMNS
    );
    let row = sqlx::query(&sql).bind(tenant.to_string()).bind(external_id).fetch_optional(pool).await?;
    row.as_ref().map(contact_from_row).transpose()
}

/// The filter's conditions, after `WHERE deleted_at IS NULL AND tenant_id = $1`.
fn filtered<'a>(select: &str, tenant: TenantId, filter: &'a ContactFilter) -> QueryBuilder<'a, Postgres> {
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("SELECT {select} FROM contacts WHERE deleted_at IS NULL AND tenant_id = "));
    q.push_bind(tenant.to_string());
    if let Some(email) = &filter.email {
        q.push(" AND email_normalized = ").push_bind(normalize_email(email));
    }
    if let Some(kind) = filter.kind {
        q.push(" AND kind = ").push_bind(kind.as_str());
    }
    if let Some(tag) = &filter.tag {
        // `@>` rather than `= ANY` so the GIN index on tags can answer.
        q.push(" AND tags @> ARRAY[").push_bind(tag.clone()).push("]::text[]");
    }
    if let Some(external_id) = &filter.external_id {
        q.push(" AND external_id = ").push_bind(external_id.clone());
    }
    if let Some(number) = filter.number {
        q.push(" AND number = ").push_bind(i64::try_from(number).unwrap_or(i64::MAX));
    }
    match filter.typed {
        Some(true) => q.push(" AND type_id IS NOT NULL"),
        Some(false) => q.push(" AND type_id IS NULL"),
        None => &mut q,
    };
    q
}

/// Keyset pagination over the id, which is ULID and so creation order
/// (`Before` reads backwards and turns the page round); `Offset` for
/// page-numbered lists.
pub(crate) async fn list(
    pool: &PgPool,
    tenant: TenantId,
    filter: &ContactFilter,
    cursor: Cursor,
    limit: u32,
) -> Result<Vec<Contact>> {
    let mut q = filtered(&COLUMNS, tenant, filter);
    let limit = i64::from(limit);
    match cursor {
        Cursor::Start => q.push(" ORDER BY contact_id LIMIT ").push_bind(limit),
        Cursor::After(id) => {
            q.push(" AND contact_id > ").push_bind(id.to_string()).push(" ORDER BY contact_id LIMIT ").push_bind(limit)
        }
        Cursor::Before(id) => q
            .push(" AND contact_id < ")
            .push_bind(id.to_string())
            .push(" ORDER BY contact_id DESC LIMIT ")
            .push_bind(limit),
        Cursor::Offset(n) => q
            .push(" ORDER BY contact_id LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(i64::try_from(n).unwrap_or(i64::MAX)),
    };
    let rows = q.build().fetch_all(pool).await?;
    let mut contacts = rows.iter().map(contact_from_row).collect::<Result<Vec<_>>>()?;
    if matches!(cursor, Cursor::Before(_)) {
        contacts.reverse();
    }
    Ok(contacts)
}

pub(crate) async fn count(pool: &PgPool, tenant: TenantId, filter: &ContactFilter) -> Result<u64> {
    let mut q = filtered("count(*)", tenant, filter);
    let n: i64 = q.build_query_scalar().fetch_one(pool).await?;
    to_u64("contacts", n)
}

/// A contact's events in the order they happened (secrets were removed when
/// they were written).
pub(crate) async fn events(pool: &PgPool, tenant: TenantId, id: ContactId) -> Result<Vec<EventView>> {
    let rows = sqlx::query(
        "SELECT event_type, event_version, version, occurred_at, command_id, data FROM contact_events \
         WHERE tenant_id = $1 AND contact_id = $2 ORDER BY version, idx",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let command_id: String = row.try_get("command_id")?;
            Ok(EventView {
                event_type: row.try_get("event_type")?,
                version: to_u64("contact_events", row.try_get("version")?)?,
                time: row.try_get("occurred_at")?,
                command_id: command_id.parse().map_err(|e| Error::corrupt("contact_events", e))?,
                data: row.try_get("data")?,
                schema_version: Some(
                    u32::try_from(row.try_get::<i32, _>("event_version")?)
                        .map_err(|e| Error::corrupt("contact_events", e))?,
                ),
            })
        })
        .collect()
}
