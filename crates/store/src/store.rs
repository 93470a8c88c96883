//! `Store`: the pool plus the one notification listener its waiters share.
//! Cheap to clone; every clone is the same store.
use std::sync::Arc;

use sqlx::PgPool;

use crate::{error::Result, notify::Notifier, projection::Projection};

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    notifier: Notifier,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Store { inner: Arc::new(Inner { pool, notifier: Notifier::default() }) }
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub(crate) fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// Starts a projection transaction over `topic`; waits while another
    /// projector or a replay holds the projection lock.
    pub async fn begin_projection(&self, topic: &str) -> Result<Projection<'_>> {
        Projection::begin(self.pool(), topic, None).await
    }

    /// Starts a projection transaction that writes only `partition`; other
    /// partitions project alongside it, a whole-topic one (a replay) waits.
    pub async fn begin_partition_projection(&self, topic: &str, partition: i32) -> Result<Projection<'_>> {
        Projection::begin(self.pool(), topic, Some(partition)).await
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("pool", &self.inner.pool).finish_non_exhaustive()
    }
}
