//! The state every handler shares: the ports (the command bus and one read
//! port per concern), the configuration and the metrics. Port calls go through
//! [`AppState::port`] so that none can hang a request past `port_timeout`.
use std::{future::Future, sync::Arc, time::Duration};

use ledger_ports::{
    AccessRoles, CommandBus, Commands, Contacts, Coverage, IdempotencyKeys, Invites, Readiness, Tenants, Unavailable,
};

use crate::{config::HttpConfig, metrics::Metrics, problem::Problem};

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Arc<dyn CommandBus>,
    tenants: Arc<dyn Tenants>,
    contacts: Arc<dyn Contacts>,
    roles: Arc<dyn AccessRoles>,
    commands: Arc<dyn Commands>,
    idempotency: Arc<dyn IdempotencyKeys>,
    invites: Arc<dyn Invites>,
    readiness: Arc<dyn Readiness>,
    config: HttpConfig,
    metrics: Metrics,
    /// The last answers of the probes (see `HttpConfig::probe_ttl`).
    pub(crate) readiness_checks: Cached<[bool; 4]>,
    pub(crate) pool_coverage: Cached<Vec<(&'static str, Coverage)>>,
    /// argon2id takes ~19 MiB and tens of milliseconds per hash: bounding the
    /// concurrent hashes keeps a burst of creates from exhausting the machine.
    hasher: crate::password::Hasher,
}

impl AppState {
    /// The state over `bus` for writes and `reads` for every read port (the
    /// store, or a test's fake).
    pub fn new<R>(bus: Arc<dyn CommandBus>, reads: Arc<R>, config: HttpConfig) -> Self
    where
        R: Tenants + Contacts + AccessRoles + Commands + IdempotencyKeys + Invites + Readiness,
    {
        let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let inner = Inner {
            bus,
            tenants: reads.clone(),
            contacts: reads.clone(),
            roles: reads.clone(),
            commands: reads.clone(),
            idempotency: reads.clone(),
            invites: reads.clone(),
            readiness: reads,
            config,
            metrics: Metrics::default(),
            readiness_checks: Cached::default(),
            pool_coverage: Cached::default(),
            // A queue of 32 per core: about a second of hashing at most waits.
            hasher: crate::password::Hasher::new(cpus, cpus * 32),
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    pub(crate) fn bus(&self) -> &dyn CommandBus {
        self.inner.bus.as_ref()
    }

    pub(crate) fn tenants(&self) -> &dyn Tenants {
        self.inner.tenants.as_ref()
    }

    pub(crate) fn contacts(&self) -> &dyn Contacts {
        self.inner.contacts.as_ref()
    }

    pub(crate) fn roles(&self) -> &dyn AccessRoles {
        self.inner.roles.as_ref()
    }

    pub(crate) fn commands(&self) -> &dyn Commands {
        self.inner.commands.as_ref()
    }

    pub(crate) fn idempotency(&self) -> &dyn IdempotencyKeys {
        self.inner.idempotency.as_ref()
    }

    pub(crate) fn invites(&self) -> &dyn Invites {
        self.inner.invites.as_ref()
    }

    pub(crate) fn readiness(&self) -> &dyn Readiness {
        self.inner.readiness.as_ref()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The argon2id hash of `password`, from the hashing threads; 503 with
    /// `Retry-After` at once when too many passwords wait already.
    pub(crate) async fn hash_password(&self, password: ledger_domain::Password) -> Result<String, Problem> {
        let _timed = ledger_ports::stages::Timed::new(ledger_ports::stages::Stage::ApiHashPassword);
        match self.inner.hasher.hash(password).await {
            Ok(hash) => Ok(hash),
            Err(crate::password::PasswordHashError::Busy) => {
                self.inner.metrics.hashing_refused();
                Err(Problem::new(
                    ledger_domain::Code::ServiceUnavailable,
                    "too many passwords are waiting to be hashed; retry shortly",
                )
                .header(axum::http::header::RETRY_AFTER, "1"))
            }
            Err(e) => Err(Problem::internal(e)),
        }
    }

    /// Runs one port call within `port_timeout`; trouble becomes an opaque 503.
    pub(crate) async fn port<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = Result<T, Unavailable>>,
    ) -> Result<T, Problem> {
        self.bounded(what, self.inner.config.port_timeout, call).await
    }

    pub(crate) async fn bounded<T>(
        &self,
        what: &'static str,
        limit: Duration,
        call: impl Future<Output = Result<T, Unavailable>>,
    ) -> Result<T, Problem> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Problem::unavailable(format_args!("{what}: {e}"))),
            Err(_) => Err(Problem::unavailable(format_args!("{what}: no answer within {limit:?}"))),
        }
    }

    /// A readiness probe within `port_timeout`; no answer counts as not ready.
    pub(crate) fn port_timeout(&self) -> std::time::Duration {
        self.inner.config.port_timeout
    }

    pub(crate) async fn probe(&self, check: impl Future<Output = bool>) -> bool {
        tokio::time::timeout(self.inner.config.port_timeout, check).await.unwrap_or(false)
    }

    /// `/readyz`'s checks (broker, database, handler, projector), asked at
    /// most once per `probe_ttl`.
    pub(crate) async fn readiness_checks(&self, ask: impl Future<Output = [bool; 4]>) -> [bool; 4] {
        self.inner.readiness_checks.get(self.inner.config.probe_ttl, ask).await
    }

    /// `/metrics`' pool coverage, asked at most once per `probe_ttl`.
    pub(crate) async fn pool_coverage(
        &self,
        ask: impl Future<Output = Vec<(&'static str, Coverage)>>,
    ) -> Vec<(&'static str, Coverage)> {
        self.inner.pool_coverage.get(self.inner.config.probe_ttl, ask).await
    }
}

/// A value reused for a while. Callers that arrive while it is being made
/// wait for that one rather than each making their own.
pub(crate) struct Cached<T> {
    slot: tokio::sync::Mutex<Option<(tokio::time::Instant, T)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self { slot: tokio::sync::Mutex::new(None) }
    }
}

impl<T: Clone> Cached<T> {
    async fn get(&self, ttl: Duration, make: impl Future<Output = T>) -> T {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < ttl
        {
            return value.clone();
        }
        let value = make.await;
        *slot = Some((tokio::time::Instant::now(), value.clone()));
        value
    }
}
