//! Partition leases: how the processes of one role (handler, projector,
//! mailer) share the partitions without a list given to any of them.
//!
//! Every member renews its membership and its leases on each tick, in one
//! transaction that locks the role's lease rows (so ticks of one role take
//! turns). Each live member's share is fixed by its rank among the live
//! members, so the shares add up to the partition count: a member keeps up
//! to its share of what it holds (sticky), gives back the rest, and takes
//! free or expired leases up to its share. Time is the database's clock, so
//! the members' clocks do not matter.
//!
//! A lease only says who should work. Correctness never rests on it: a
//! handler's records count by the claim epoch in the log, a projector's and a
//! mailer's writes by the offsets stored with them.
use std::{collections::BTreeSet, time::Duration};

use ledger_ports::Coverage;
use sqlx::Row;

use crate::{Store, error::Result};

/// A lease row as a tick sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRow {
    pub partition: i32,
    pub owner: Option<String>,
    /// The lease is unexpired.
    pub live: bool,
}

/// What one member does on a tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Held and renewed.
    pub keep: Vec<i32>,
    /// Free or expired: taken now.
    pub take: Vec<i32>,
    /// Held beyond the member's share: the caller stops them, then releases.
    pub give_back: Vec<i32>,
}

/// The member's share of `partitions` among `members` (every live member,
/// itself included).
pub fn share(me: &str, members: &BTreeSet<String>, partitions: usize) -> usize {
    let n = members.len().max(1);
    let rank = members.iter().position(|m| m == me).unwrap_or(n - 1);
    partitions / n + usize::from(rank < partitions % n)
}

/// The pure half of a tick.
pub fn plan(me: &str, members: &BTreeSet<String>, leases: &[LeaseRow]) -> Plan {
    let quota = share(me, members, leases.len());
    let mut plan = Plan::default();
    for l in leases.iter().filter(|l| l.owner.as_deref() == Some(me)) {
        if plan.keep.len() < quota {
            plan.keep.push(l.partition);
        } else {
            plan.give_back.push(l.partition);
        }
    }
    let free = leases.iter().filter(|l| match &l.owner {
        None => true,
        Some(o) => o != me && (!l.live || !members.contains(o)),
    });
    for l in free {
        if plan.keep.len() + plan.take.len() >= quota {
            break;
        }
        plan.take.push(l.partition);
    }
    plan
}

/// A lease the member holds after a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub partition: i32,
    /// Raised each time the lease changed hands.
    pub lease_epoch: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub held: Vec<Held>,
    pub give_back: Vec<i32>,
    pub members: usize,
}

impl Store {
    /// One tick of `member` in `role`'s pool of `partitions`: renews its
    /// membership for `ttl`, renews what it keeps, takes what is free up to
    /// its share, and marks which held partitions are `working`.
    pub async fn lease_tick(
        &self,
        role: &str,
        member: &str,
        partitions: i32,
        ttl: Duration,
        working: &[i32],
    ) -> Result<Tick> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO partition_leases (role, partition) SELECT $1, g FROM generate_series(0, $2 - 1) g \
             ON CONFLICT DO NOTHING",
        )
        .bind(role)
        .bind(partitions)
        .execute(&mut *tx)
        .await?;
        // Lock first, then read the members: ticks of one role take turns,
        // and each sees the members as the previous one left them.
        let rows = sqlx::query(
            "SELECT partition, owner, coalesce(expires_at > now(), false) AS live FROM partition_leases \
             WHERE role = $1 AND partition < $2 ORDER BY partition FOR UPDATE",
        )
        .bind(role)
        .bind(partitions)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO pool_members (role, member, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000)) \
             ON CONFLICT (role, member) DO UPDATE SET expires_at = EXCLUDED.expires_at",
        )
        .bind(role)
        .bind(member)
        .bind(ttl_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pool_members WHERE role = $1 AND expires_at < now() - interval '1 hour'")
            .bind(role)
            .execute(&mut *tx)
            .await?;
        let members: BTreeSet<String> =
            sqlx::query_scalar("SELECT member FROM pool_members WHERE role = $1 AND expires_at > now()")
                .bind(role)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let leases = rows
            .into_iter()
            .map(|r| {
                Ok(LeaseRow {
                    partition: r.try_get("partition")?,
                    owner: r.try_get("owner")?,
                    live: r.try_get("live")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = plan(member, &members, &leases);
        let renewed: Vec<(i32, i64)> = sqlx::query_as(
            "UPDATE partition_leases SET expires_at = now() + make_interval(secs => $3::double precision / 1000), \
             working = partition = ANY($5) \
             WHERE role = $1 AND partition = ANY($2) AND owner = $4 RETURNING partition, lease_epoch",
        )
        .bind(role)
        .bind(&plan.keep)
        .bind(ttl_ms)
        .bind(member)
        .bind(working)
        .fetch_all(&mut *tx)
        .await?;
        let taken: Vec<(i32, i64)> = sqlx::query_as(
            "UPDATE partition_leases SET owner = $4, lease_epoch = lease_epoch + 1, working = false, \
             expires_at = now() + make_interval(secs => $3::double precision / 1000) \
             WHERE role = $1 AND partition = ANY($2) RETURNING partition, lease_epoch",
        )
        .bind(role)
        .bind(&plan.take)
        .bind(ttl_ms)
        .bind(member)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut held: Vec<Held> =
            renewed.into_iter().chain(taken).map(|(partition, lease_epoch)| Held { partition, lease_epoch }).collect();
        held.sort_by_key(|h| h.partition);
        Ok(Tick { held, give_back: plan.give_back, members: members.len() })
    }

    /// Gives back leases the member holds (after it stopped their tasks).
    pub async fn release_leases(&self, role: &str, member: &str, partitions: &[i32]) -> Result<()> {
        sqlx::query(
            "UPDATE partition_leases SET owner = NULL, expires_at = NULL, working = false \
             WHERE role = $1 AND owner = $2 AND partition = ANY($3)",
        )
        .bind(role)
        .bind(member)
        .bind(partitions)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Leaves the pool: every lease is given back and the others take the
    /// member's share on their next tick.
    pub async fn leave_pool(&self, role: &str, member: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE partition_leases SET owner = NULL, expires_at = NULL, working = false \
             WHERE role = $1 AND owner = $2",
        )
        .bind(role)
        .bind(member)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM pool_members WHERE role = $1 AND member = $2")
            .bind(role)
            .bind(member)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Each of `role`'s partitions with its live, working owner (if any).
    pub async fn partition_owners(&self, role: &str) -> Result<Vec<(i32, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT partition, CASE WHEN expires_at > now() AND working THEN owner END \
             FROM partition_leases WHERE role = $1 ORDER BY partition",
        )
        .bind(role)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many of `role`'s partitions have a live, working owner.
    pub async fn partition_coverage(&self, role: &str) -> Result<Coverage> {
        let (partitions, served): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE owner IS NOT NULL AND expires_at > now() AND working) \
             FROM partition_leases WHERE role = $1",
        )
        .bind(role)
        .fetch_one(self.pool())
        .await?;
        Ok(Coverage {
            partitions: u32::try_from(partitions).unwrap_or(u32::MAX),
            served: u32::try_from(served).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn leases(owners: &[Option<&str>]) -> Vec<LeaseRow> {
        owners
            .iter()
            .enumerate()
            .map(|(i, o)| LeaseRow { partition: i as i32, owner: o.map(str::to_owned), live: true })
            .collect()
    }

    #[test]
    fn the_shares_add_up_to_the_partitions_whatever_the_members() {
        for n in 1..7 {
            for p in 0..13 {
                let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
                let all: BTreeSet<String> = names.iter().cloned().collect();
                let total: usize = names.iter().map(|m| share(m, &all, p)).sum();
                assert_eq!(total, p, "{n} members, {p} partitions");
                let shares: Vec<usize> = names.iter().map(|m| share(m, &all, p)).collect();
                assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1, "{shares:?}");
            }
        }
    }

    #[test]
    fn a_lone_member_takes_every_free_partition() {
        let plan = plan("a", &members(&["a"]), &leases(&[None, None, None, None]));
        assert_eq!(plan.take, vec![0, 1, 2, 3]);
        assert!(plan.keep.is_empty() && plan.give_back.is_empty());
    }

    #[test]
    fn a_joining_member_gets_what_the_holder_gives_back() {
        let all = members(&["a", "b"]);
        let held = leases(&[Some("a"), Some("a"), Some("a"), Some("a")]);
        let a = plan("a", &all, &held);
        assert_eq!((a.keep, a.give_back), (vec![0, 1], vec![2, 3]));
        let b = plan("b", &all, &held);
        assert!(b.take.is_empty(), "nothing is free until a gives it back");
        let after = leases(&[Some("a"), Some("a"), None, None]);
        assert_eq!(plan("b", &all, &after).take, vec![2, 3]);
    }

    #[test]
    fn a_dead_members_partitions_are_taken_by_the_live_ones() {
        let all = members(&["a", "b"]);
        let mut held = leases(&[Some("a"), Some("c"), Some("b"), Some("c")]);
        // c is no longer a member: its leases are free even before they expire.
        assert_eq!(plan("a", &all, &held).take, vec![1]);
        assert_eq!(plan("b", &all, &held).take, vec![1], "a's and b's ticks take turns: the first takes it");
        held[1].owner = Some("a".into());
        assert_eq!(plan("b", &all, &held).take, vec![3]);
    }

    #[test]
    fn an_expired_lease_is_free_and_a_live_members_live_lease_is_not() {
        let all = members(&["a", "b"]);
        let mut held = leases(&[Some("b"), Some("b"), Some("b"), None]);
        let a = plan("a", &all, &held);
        assert_eq!(a.take, vec![3], "b's live leases stay b's until it gives them back");
        held[0].live = false;
        assert_eq!(plan("a", &all, &held).take, vec![0, 3]);
    }

    #[test]
    fn a_member_keeps_its_own_expired_lease_no_one_took() {
        let mut held = leases(&[Some("a"), None]);
        held[0].live = false;
        let a = plan("a", &members(&["a"]), &held);
        assert_eq!((a.keep, a.take), (vec![0], vec![1]));
    }
}
