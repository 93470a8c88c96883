//! The command line: one subcommand per role, `dev` for everything at once.
use std::{net::SocketAddr, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use ledger_kafka::{KafkaBus, ensure_topics};

use crate::{
    app::{self, Roles},
    bench,
    config::Common,
    replay, tenant,
};

#[derive(Parser, Debug)]
#[command(name = "contact-ledger", version, about = "Event-sourced contact ledger")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every role in one process (the default).
    Dev {
        #[command(flatten)]
        common: Common,
        #[arg(long, env = "CL_HTTP", default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Print a demo tenant's id and API key once running: the one kept
        /// in `--demo-tenant-file`, or a new one kept there.
        #[arg(long)]
        demo_tenant: bool,
        /// Where `--demo-tenant` keeps the demo tenant and its key (mode 0600).
        #[arg(long, env = "CL_DEMO_TENANT_FILE", default_value = ".data/demo-tenant.json")]
        demo_tenant_file: std::path::PathBuf,
        /// Without `CL_TOKEN_SECRET`, the emnify token key `dev` makes once
        /// and keeps here (mode 0600).
        #[arg(long, env = "CL_TOKEN_SECRET_FILE", default_value = ".data/token-secret")]
        token_secret_file: std::path::PathBuf,
    },
    /// The HTTP API.
    Api {
        #[command(flatten)]
        common: Common,
        #[arg(long, env = "CL_HTTP", default_value = "127.0.0.1:8080")]
        http: SocketAddr,
    },
    /// The command handler: its share of the partitions, with every other handler process.
    Handler {
        #[command(flatten)]
        common: Common,
    },
    /// The projector (events topic -> PostgreSQL read models): its share of the partitions.
    Projector {
        #[command(flatten)]
        common: Common,
    },
    /// The invite mailer (events topic -> invite mail -> outcome commands): its share of the partitions.
    Mailer {
        #[command(flatten)]
        common: Common,
    },
    /// Applies database migrations and creates the topics.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Rebuilds every read model from offset 0.
    Replay {
        #[command(flatten)]
        common: Common,
    },
    /// Tenant administration.
    Tenant {
        #[command(subcommand)]
        command: TenantCmd,
    },
    /// Measures throughput against the raw broker and database limits.
    Bench(bench::BenchArgs),
    /// HTTP load generator (contact creates); `bench` runs it as a separate process.
    Loadgen(crate::loadgen::LoadArgs),
}

#[derive(Subcommand, Debug)]
enum TenantCmd {
    /// Creates a tenant and prints `{"tenant_id", "api_key"}` (the key is shown once).
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        name: String,
    },
    /// Gives the tenant a new API key and prints `{"tenant_id", "api_key",
    /// "key_version", "previous_valid_until"}` (the key is shown once). The
    /// keys before it work for `--overlap-secs` more, then never; 0 revokes
    /// them at once.
    RotateKey {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        tenant: ledger_domain::TenantId,
        /// How long the replaced keys keep working, in seconds (0 to 30 days).
        #[arg(long, default_value_t = 86_400)]
        overlap_secs: i64,
    },
}

pub async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,librdkafka=warn,rdkafka=warn,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        None => Cli::parse_from(["contact-ledger", "dev"]).command.ok_or_else(|| anyhow::anyhow!("no command"))?,
    };
    match command {
        Cmd::Dev { mut common, http, demo_tenant, demo_tenant_file, token_secret_file } => {
            common.mail.dev = true;
            if common.token_secret.is_none() {
                common.token_secret = Some(tenant::kept_secret(&token_secret_file)?);
            }
            let running = app::start(&common, Roles::ALL, http).await?;
            running.ready(Duration::from_secs(60)).await?;
            if let Some(addr) = running.addr {
                tracing::info!("contact-ledger listening on http://{addr}");
            }
            if demo_tenant {
                let bus = KafkaBus::new(running.kafka.clone())?;
                let created = tenant::demo(&bus, &running.store, &demo_tenant_file, Duration::from_secs(30)).await?;
                println!("{created}");
            }
            running.until_signal().await;
        }
        Cmd::Api { common, http } => {
            let running = app::start(&common, Roles { api: true, ..Roles::NONE }, http).await?;
            running.until_signal().await;
        }
        Cmd::Handler { common } => {
            let running = app::start(&common, Roles { handler: true, ..Roles::NONE }, unused()).await?;
            running.until_signal().await;
        }
        Cmd::Projector { common } => {
            let running = app::start(&common, Roles { projector: true, ..Roles::NONE }, unused()).await?;
            running.until_signal().await;
        }
        Cmd::Mailer { common } => {
            let running = app::start(&common, Roles { mailer: true, ..Roles::NONE }, unused()).await?;
            running.until_signal().await;
        }
        Cmd::Migrate { common } => {
            app::connect(&common).await?;
            ensure_topics(&common.kafka()).await?;
            eprintln!("migrated the database and ensured the topics");
        }
        Cmd::Replay { common } => {
            let store = app::connect(&common).await?;
            let report = replay::replay(&store, &common.kafka(), true).await?;
            println!(
                "{}",
                serde_json::json!({
                    "events": report.records,
                    "seconds": report.took.as_secs_f64(),
                    "events_per_second": report.per_second().round(),
                })
            );
        }
        Cmd::Tenant { command: TenantCmd::Create { common, name } } => {
            let store = app::connect(&common).await?;
            let bus = KafkaBus::new(common.kafka())?;
            let created = tenant::create(&bus, &store, &name, Duration::from_secs(30)).await?;
            println!("{created}");
        }
        Cmd::Tenant { command: TenantCmd::RotateKey { common, tenant, overlap_secs } } => {
            let store = app::connect(&common).await?;
            let bus = KafkaBus::new(common.kafka())?;
            let rotated = tenant::rotate_key(&bus, &store, tenant, overlap_secs, Duration::from_secs(30)).await?;
            println!("{rotated}");
        }
        Cmd::Bench(args) => bench::run(args).await?,
        Cmd::Loadgen(args) => crate::loadgen::run(args).await?,
    }
    Ok(())
}

fn unused() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
