//! Composes the adapters into running roles. `dev` runs them all in one
//! process; the other subcommands run one each. Tests start it in-process.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use ledger_http::{AppState, HttpConfig, TokenKey};
use ledger_kafka::{
    Handler, HandlerConfig, HandlerStatus, KafkaBus, KafkaConfig, ensure_topics, shared::SharedConsumer,
};
use ledger_store::Store;
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    config::Common,
    mailer::{self, Mailer, Retry},
    pool::{self, Work},
    projector,
};

#[derive(Clone, Copy, Debug)]
pub struct Roles {
    pub api: bool,
    pub handler: bool,
    pub projector: bool,
    /// The invite mailer (`Common::mail` says how it sends).
    pub mailer: bool,
}

impl Roles {
    pub const ALL: Roles = Roles { api: true, handler: true, projector: true, mailer: true };
    /// For `Roles { api: true, ..Roles::NONE }`.
    pub const NONE: Roles = Roles { api: false, handler: false, projector: false, mailer: false };
}

pub struct Running {
    pub addr: Option<SocketAddr>,
    pub handler: Option<Arc<HandlerStatus>>,
    pub store: Store,
    pub kafka: KafkaConfig,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Waits until the handler (when this process runs one) is writing on
    /// every partition: this process's own, or its pool's as a whole.
    pub async fn ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let Some(status) = &self.handler else { return Ok(()) };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut asked = tokio::time::Instant::now();
        loop {
            if status.writing() == usize::try_from(self.kafka.partitions).unwrap_or(usize::MAX) {
                return Ok(());
            }
            if asked.elapsed() > Duration::from_millis(250) {
                asked = tokio::time::Instant::now();
                if self.store.partition_coverage("handler").await.is_ok_and(|c| c.complete()) {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!("the handler pool did not claim every partition within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }

    /// Waits for Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

pub async fn connect(common: &Common) -> anyhow::Result<Store> {
    let store = Store::connect(&common.database_url, common.db_pool).await?;
    store.migrate().await?;
    Ok(store)
}

pub async fn start(common: &Common, roles: Roles, http: SocketAddr) -> anyhow::Result<Running> {
    // Refuse a configuration a role cannot run safely before connecting to anything.
    if roles.mailer {
        common.mail.check_mailer()?;
    }
    if roles.api && common.idempotency_retention_secs == 0 {
        anyhow::bail!("CL_IDEMPOTENCY_RETENTION_SECS is 0: a key must be kept for a while to make a retry safe");
    }
    // Every API process of a deployment signs and checks emnify tokens with
    // one key, which must be strong: none is made up here.
    let token_key = match (&common.token_secret, roles.api) {
        (_, false) => None,
        (None, true) => anyhow::bail!(
            "CL_TOKEN_SECRET is not set: the API needs the key its emnify tokens are signed with, the same in \
             every API process (make one with `openssl rand -base64 48`)"
        ),
        (Some(secret), true) => {
            Some(TokenKey::new(secret.as_bytes()).map_err(|e| anyhow::anyhow!("CL_TOKEN_SECRET: {e}"))?)
        }
    };
    let store = connect(common).await?;
    let mut kafka = common.kafka();
    kafka.partitions = ensure_topics(&kafka).await?;
    let (shutdown, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut status = None;
    let member = common.member_id.clone().unwrap_or_else(pool::default_member);
    if roles.handler {
        let hc = HandlerConfig {
            invite_ttl: chrono::Duration::seconds(common.invite_ttl_secs),
            dedup_window: chrono::Duration::seconds(common.dedup_window_secs),
            snapshot_every: common.snapshot_every,
            snapshot_interval: Duration::from_secs(common.snapshot_interval_secs),
            ..HandlerConfig::default()
        };
        let mut handler = Handler::new(kafka.clone(), hc)?;
        if common.snapshot_every > 0 {
            handler = handler.with_snapshots(Arc::new(store.clone()));
        }
        let handler = Arc::new(handler);
        status = Some(handler.status());
        let work: Work = Arc::new(move |p, stop, working| {
            let handler = handler.clone();
            Box::pin(async move {
                handler.serve(p, stop, working).await;
            })
        });
        let pool = common.pool("handler", &member, kafka.partitions);
        tasks.push(tokio::spawn(pool::run(store.clone(), pool, work, rx.clone())));
    }
    if roles.projector {
        // One consumer for every partition this process projects.
        let shared = Arc::new(SharedConsumer::new(&kafka, "projector", &kafka.events_topic)?);
        let (s, k) = (store.clone(), kafka.clone());
        let work: Work = Arc::new(move |p, stop, working| {
            Box::pin(projector::run_partition(s.clone(), k.clone(), shared.clone(), p, stop, working))
        });
        let pool = common.pool("projector", &member, kafka.partitions);
        tasks.push(tokio::spawn(pool::run(store.clone(), pool, work, rx.clone())));
    }
    if roles.mailer {
        let mailer = start_mailer(common, &store, &kafka, rx.clone())?;
        let mut mailer_kafka = kafka.clone();
        mailer_kafka.fetch_wait_ms = common.mailer_fetch_wait_ms;
        let shared = Arc::new(SharedConsumer::new(&mailer_kafka, "mailer", &kafka.events_topic)?);
        let work: Work = Arc::new(move |p, stop, working| {
            let (mailer, kafka) = (mailer.of_partition(p, shared.clone(), stop), mailer_kafka.clone());
            Box::pin(async move {
                working.store(true, std::sync::atomic::Ordering::Relaxed);
                mailer::run(mailer, kafka).await;
            })
        });
        let pool = common.pool("mailer", &member, kafka.partitions);
        tasks.push(tokio::spawn(pool::run(store.clone(), pool, work, rx.clone())));
    }
    let mut addr = None;
    // The key is there exactly when the API role runs (checked above).
    if let Some(token_key) = token_key {
        let bus = KafkaBus::new(kafka.clone())?;
        let config = HttpConfig { token_key, ..HttpConfig::default() };
        let state = AppState::new(Arc::new(bus), Arc::new(store.clone()), config);
        let retention = Duration::from_secs(common.idempotency_retention_secs);
        tasks.push(tokio::spawn(crate::retention::run(store.clone(), retention, rx.clone())));
        let listener = tokio::net::TcpListener::bind(http).await?;
        addr = Some(listener.local_addr()?);
        let mut rx = rx.clone();
        let router = ledger_http::router(state);
        tasks.push(tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
                tracing::error!(error = %e, "http server failed");
            }
        }));
    }
    Ok(Running { addr, handler: status, store, kafka, shutdown, tasks })
}

fn start_mailer(
    common: &Common,
    store: &Store,
    kafka: &KafkaConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Mailer> {
    let mail = common.mail.mail_config();
    let sender = mail.sender()?;
    match &mail.smtp {
        Some(smtp) => {
            tracing::info!(host = %smtp.host, port = smtp.port, security = ?smtp.security, "invite mail goes out over SMTP")
        }
        None => tracing::info!(
            outbox = %mail.outbox.display(),
            links_logged = mail.log_links,
            "no SMTP host configured: invite mail is written to the outbox"
        ),
    }
    let bus = KafkaBus::new(kafka.clone())?;
    let retry = Retry { attempts: common.mail.attempts(), base: common.mail.retry_base() };
    Ok(Mailer::new(store.clone(), Arc::new(bus), sender, mail, retry, &kafka.events_topic, shutdown))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
