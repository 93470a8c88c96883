//! One `LISTEN command_decided` connection per `Store`, fanned out to every
//! waiting request through a broadcast channel, so a burst of waiters costs
//! one connection instead of one each. The listener has a pool of its own
//! (same connect options) and never takes a connection the queries need.
//! Notifications are only a wake-up: waiters always confirm in the table, and
//! re-check it on a timer, so a notification lost during a reconnect delays an
//! answer without losing it.
use std::time::Duration;

use sqlx::{
    PgPool,
    postgres::{PgListener, PgPoolOptions},
};
use tokio::{
    sync::{OnceCell, broadcast},
    task::JoinHandle,
};

use crate::error::Result;

pub(crate) const CHANNEL: &str = "command_decided";

/// Notifications a slow waiter may fall behind by before it just re-checks.
const BACKLOG: usize = 4096;

#[derive(Default)]
pub(crate) struct Notifier {
    listening: OnceCell<Listening>,
}

struct Listening {
    tx: broadcast::Sender<String>,
    relay: JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

impl Notifier {
    /// A receiver of decided command ids. Once this returns, the channel is
    /// being listened to, so a commit after it is never missed (a commit
    /// before it is already visible in the table).
    pub(crate) async fn subscribe(&self, pool: &PgPool) -> Result<broadcast::Receiver<String>> {
        let listening = self.listening.get_or_try_init(|| listen(pool)).await?;
        Ok(listening.tx.subscribe())
    }
}

async fn listen(pool: &PgPool) -> Result<Listening> {
    let options = pool.connect_options().as_ref().clone();
    let own_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&own_pool).await?;
    listener.listen(CHANNEL).await?;
    let (tx, _) = broadcast::channel(BACKLOG);
    let relay = tokio::spawn(relay(listener, tx.clone()));
    Ok(Listening { tx, relay })
}

async fn relay(mut listener: PgListener, tx: broadcast::Sender<String>) {
    loop {
        match listener.recv().await {
            // No receivers is fine: nobody is waiting right now.
            Ok(n) => {
                let _ = tx.send(n.payload().to_owned());
            }
            Err(e) => {
                // `recv` reconnects on the next call; waiters fall back to polling meanwhile.
                tracing::warn!(error = %e, "command_decided listener lost its connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
