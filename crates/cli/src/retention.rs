//! What the API keeps only for a while: idempotency keys, with the request's
//! answer (personal data included), are deleted once older than the
//! retention. Every API process runs this; their deletes do not conflict.
use std::time::Duration;

use ledger_store::Store;
use tokio::sync::watch;

/// How often the prune runs for a retention: a quarter of it, between 1 s
/// and an hour, so a key outlives its retention by at most that.
pub fn prune_every(retention: Duration) -> Duration {
    (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Prunes now and then every `prune_every(retention)` until `stop`.
pub async fn run(store: Store, retention: Duration, mut stop: watch::Receiver<bool>) {
    let every = prune_every(retention);
    loop {
        match store.prune_idempotency_keys(retention).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, ?retention, "pruned idempotency keys past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not prune idempotency keys; will try again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prune_runs_a_quarter_of_the_retention_apart_within_bounds() {
        assert_eq!(prune_every(Duration::from_secs(24 * 3600)), Duration::from_secs(3600));
        assert_eq!(prune_every(Duration::from_secs(40)), Duration::from_secs(10));
        assert_eq!(prune_every(Duration::from_secs(2)), Duration::from_secs(1));
    }
}
