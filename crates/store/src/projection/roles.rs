//! Access roles in the projection: the catalogue (insert-only) and the grant
//! changes of a batch, netted per grant and written with one statement per
//! kind of change.
//!
//! Why the guard is the contact's version: every role event is a contact
//! event and raises the contact's stored version (through the batch's
//! marks), and the handler gives each decision about a contact a version
//! higher than the one before (all events of one decision share it). So
//! "event version <= the contact's stored version" means exactly "this
//! decision was applied before", as the profile updates already assume. A
//! version on the grant row itself would not do: `RoleRevoked` deletes the
//! row, the version would go with it, and a repeated older `RoleGranted`
//! would bring the revoked grant back.
//!
//! Why netted here and not folded in `Pending`: whether a change counts
//! depends on the stored version before this flush, which `Pending` does not
//! know. With it, the changes of a batch are replayed in log order, dropping
//! (a) those at or below the stored version (applied in an earlier batch)
//! and (b) those below a change already seen for the same grant in this
//! batch (a decision repeated later in the log). What is left per grant nets
//! to one upsert, activation or delete; the keys of the three statements are
//! disjoint, so their order does not matter. Everything runs under the
//! projection lock in one transaction, so the versions read stay true until
//! the writes.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::pending::{ContactKey, RoleRow};
use crate::error::Result;

/// What a role event does to a grant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum GrantChange {
    /// Gives the grant, replacing an earlier one of the same reference.
    Grant { status: &'static str, expires: Option<DateTime<Utc>> },
    /// Pending -> active.
    Activate,
    /// Removes the grant.
    Revoke,
}

/// One role event, in the order of the log.
#[derive(Clone, Debug)]
pub(crate) struct GrantOp {
    pub tenant_id: String,
    pub contact_id: String,
    pub reference: String,
    /// The contact's version after the event.
    pub version: i64,
    /// The decision's time (`Decision::at`): the grant's `granted_at` when it changes it.
    pub at: DateTime<Utc>,
    pub change: GrantChange,
}

/// (tenant, contact, reference).
type GrantKey = (String, String, String);

/// What a batch does to one grant in the end.
#[derive(Clone, Debug, PartialEq)]
enum Net {
    /// The row as given (inserted or replaced).
    Upsert {
        status: &'static str,
        expires: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// The stored row, activated (the batch has no grant of it to build on).
    Activate {
        at: DateTime<Utc>,
    },
    Delete,
}

/// The net change per grant; `stored` is each contact's version before the
/// batch (a contact absent from it has none yet).
fn net(ops: Vec<GrantOp>, stored: &HashMap<ContactKey, i64>) -> BTreeMap<GrantKey, Net> {
    let mut out: BTreeMap<GrantKey, (i64, Net)> = BTreeMap::new();
    for op in ops {
        let floor = stored.get(&(op.tenant_id.clone(), op.contact_id.clone())).copied().unwrap_or(0);
        if op.version <= floor {
            continue;
        }
        let key = (op.tenant_id, op.contact_id, op.reference);
        let previous = out.get(&key);
        if previous.is_some_and(|(version, _)| op.version < *version) {
            continue;
        }
        let next = match (op.change, previous.map(|(_, n)| n)) {
            (GrantChange::Grant { status, expires }, _) => Net::Upsert { status, expires, at: op.at },
            (GrantChange::Revoke, _) => Net::Delete,
            (GrantChange::Activate, Some(Net::Upsert { expires, .. })) => {
                Net::Upsert { status: "active", expires: *expires, at: op.at }
            }
            // A correct log never activates a grant it revoked; keep it gone.
            (GrantChange::Activate, Some(Net::Delete)) => Net::Delete,
            (GrantChange::Activate, Some(Net::Activate { .. }) | None) => Net::Activate { at: op.at },
        };
        out.insert(key, (op.version, next));
    }
    out.into_iter().map(|(k, (_, n))| (k, n)).collect()
}

const STORED_VERSIONS: &str = "SELECT c.tenant_id, c.contact_id, c.version FROM contacts c \
     JOIN UNNEST($1::text[], $2::text[]) AS u(tenant_id, contact_id) \
     ON c.tenant_id = u.tenant_id AND c.contact_id = u.contact_id";

const UPSERT_GRANTS: &str = "INSERT INTO contact_roles (tenant_id, contact_id, reference, status, expires, granted_at) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[]) \
     ON CONFLICT (tenant_id, contact_id, reference) DO UPDATE \
     SET status = EXCLUDED.status, expires = EXCLUDED.expires, granted_at = EXCLUDED.granted_at";

const ACTIVATE_GRANTS: &str = "UPDATE contact_roles r SET status = 'active', granted_at = u.at \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(tenant_id, contact_id, reference, at) \
     WHERE r.tenant_id = u.tenant_id AND r.contact_id = u.contact_id AND r.reference = u.reference";

const DELETE_GRANTS: &str = "DELETE FROM contact_roles r \
     USING UNNEST($1::text[], $2::text[], $3::text[]) AS u(tenant_id, contact_id, reference) \
     WHERE r.tenant_id = u.tenant_id AND r.contact_id = u.contact_id AND r.reference = u.reference";

// The domain refuses to define a reference twice, so in a correct log only a
// repeated decision meets an existing row: the first definition stands.
const INSERT_ROLES: &str = "INSERT INTO access_roles (tenant_id, reference, name, grant_rule, created_at) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
     ON CONFLICT DO NOTHING";

pub(crate) async fn insert_roles(conn: &mut PgConnection, roles: Vec<RoleRow>) -> Result<()> {
    if roles.is_empty() {
        return Ok(());
    }
    let mut cols = (vec![], vec![], vec![], vec![], vec![]);
    for r in roles {
        cols.0.push(r.tenant_id);
        cols.1.push(r.reference);
        cols.2.push(r.name);
        cols.3.push(r.grant_rule);
        cols.4.push(r.created_at);
    }
    sqlx::query(INSERT_ROLES).bind(cols.0).bind(cols.1).bind(cols.2).bind(cols.3).bind(cols.4).execute(conn).await?;
    Ok(())
}

/// Writes a batch's grant changes. Must run before the batch touches
/// `contacts`: it reads the versions the contacts had before the batch.
pub(crate) async fn write_grants(conn: &mut PgConnection, ops: Vec<GrantOp>) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let contacts: BTreeSet<ContactKey> = ops.iter().map(|o| (o.tenant_id.clone(), o.contact_id.clone())).collect();
    let (tenants, ids): (Vec<String>, Vec<String>) = contacts.into_iter().unzip();
    let rows = sqlx::query(STORED_VERSIONS).bind(tenants).bind(ids).fetch_all(&mut *conn).await?;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert((row.try_get("tenant_id")?, row.try_get("contact_id")?), row.try_get::<i64, _>("version")?);
    }

    let (mut upserts, mut activations, mut deletes) =
        ((vec![], vec![], vec![], vec![], vec![], vec![]), (vec![], vec![], vec![], vec![]), (vec![], vec![], vec![]));
    for ((tenant, contact, reference), change) in net(ops, &stored) {
        match change {
            Net::Upsert { status, expires, at } => {
                upserts.0.push(tenant);
                upserts.1.push(contact);
                upserts.2.push(reference);
                upserts.3.push(status);
                upserts.4.push(expires);
                upserts.5.push(at);
            }
            Net::Activate { at } => {
                activations.0.push(tenant);
                activations.1.push(contact);
                activations.2.push(reference);
                activations.3.push(at);
            }
            Net::Delete => {
                deletes.0.push(tenant);
                deletes.1.push(contact);
                deletes.2.push(reference);
            }
        }
    }
    if !upserts.0.is_empty() {
        sqlx::query(UPSERT_GRANTS)
            .bind(upserts.0)
            .bind(upserts.1)
            .bind(upserts.2)
            .bind(upserts.3)
            .bind(upserts.4)
            .bind(upserts.5)
            .execute(&mut *conn)
            .await?;
    }
    if !activations.0.is_empty() {
        sqlx::query(ACTIVATE_GRANTS)
            .bind(activations.0)
            .bind(activations.1)
            .bind(activations.2)
            .bind(activations.3)
            .execute(&mut *conn)
            .await?;
    }
    if !deletes.0.is_empty() {
        sqlx::query(DELETE_GRANTS).bind(deletes.0).bind(deletes.1).bind(deletes.2).execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).single().unwrap()
    }

    fn op(contact: &str, reference: &str, version: i64, change: GrantChange) -> GrantOp {
        GrantOp {
            tenant_id: "t".into(),
            contact_id: contact.into(),
            reference: reference.into(),
            version,
            at: at(version),
            change,
        }
    }

    fn grant(status: &'static str) -> GrantChange {
        GrantChange::Grant { status, expires: None }
    }

    fn key(contact: &str, reference: &str) -> GrantKey {
        ("t".into(), contact.into(), reference.into())
    }

    fn stored(pairs: &[(&str, i64)]) -> HashMap<ContactKey, i64> {
        pairs.iter().map(|(c, v)| (("t".to_owned(), (*c).to_owned()), *v)).collect()
    }

    #[test]
    fn changes_of_one_batch_net_in_log_order() {
        let ops = vec![
            op("c", "a", 1, grant("pending")),
            op("c", "b", 1, grant("active")),
            op("c", "a", 2, GrantChange::Activate),
            op("c", "b", 3, GrantChange::Revoke),
            op("c", "d", 4, grant("pending")),
            op("c", "d", 5, GrantChange::Revoke),
            op("c", "d", 6, grant("pending")),
        ];
        let net = net(ops, &stored(&[]));
        assert_eq!(net[&key("c", "a")], Net::Upsert { status: "active", expires: None, at: at(2) });
        assert_eq!(net[&key("c", "b")], Net::Delete);
        assert_eq!(net[&key("c", "d")], Net::Upsert { status: "pending", expires: None, at: at(6) });
    }

    #[test]
    fn changes_at_or_below_the_stored_version_were_applied_before() {
        // Stored at 2: the repeated create (1) must not replace the grant the
        // stored row has; only the activation at 3 counts, on the stored row.
        let ops = vec![op("c", "a", 1, grant("pending")), op("c", "a", 3, GrantChange::Activate)];
        let net = net(ops, &stored(&[("c", 2)]));
        assert_eq!(net[&key("c", "a")], Net::Activate { at: at(3) });

        let ops = vec![op("c", "a", 2, grant("pending")), op("c", "a", 2, GrantChange::Revoke)];
        assert!(super::net(ops, &stored(&[("c", 2)])).is_empty());
    }

    #[test]
    fn a_decision_repeated_later_in_the_batch_changes_nothing() {
        let grant_a = op("c", "a", 2, grant("pending"));
        let ops = vec![grant_a.clone(), op("c", "a", 3, GrantChange::Revoke), grant_a.clone()];
        assert_eq!(net(ops, &stored(&[("c", 1)]))[&key("c", "a")], Net::Delete);
        // Repeated right after itself: the same result as once.
        let ops = vec![grant_a.clone(), grant_a];
        assert_eq!(
            net(ops, &stored(&[("c", 1)]))[&key("c", "a")],
            Net::Upsert { status: "pending", expires: None, at: at(2) }
        );
    }

    #[test]
    fn contacts_are_judged_by_their_own_versions() {
        let ops = vec![op("c", "a", 2, grant("active")), op("e", "a", 2, grant("active"))];
        let net = net(ops, &stored(&[("c", 2), ("e", 1)]));
        assert_eq!(net.keys().collect::<Vec<_>>(), vec![&key("e", "a")]);
    }
}
