//! Configuration shared by every role: each field is a flag and an env var.
use std::{fmt, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use ledger_kafka::{KafkaConfig, config::ClientOption};
use ledger_mail::{MailConfig, Security, SmtpConfig};

#[derive(Args, Clone, Debug)]
pub struct Common {
    /// PostgreSQL URL of the read models.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:54329/contact_ledger")]
    pub database_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    pub kafka_brokers: String,
    /// A librdkafka security setting for every Kafka client, `KEY=VALUE`
    /// (repeatable; only `security.protocol`, `sasl.*` and `ssl.*`). The
    /// environment gives them as `CL_KAFKA_<KEY>`, upper case with `_` for
    /// `.` (`CL_KAFKA_SASL_PASSWORD`); a flag wins over the environment.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = ClientOption::parse)]
    pub kafka_options: Vec<ClientOption>,
    /// Prefix of the topic names (`<prefix>commands`, `<prefix>events`, `<prefix>dead-letter`).
    #[arg(long, env = "CL_TOPIC_PREFIX", default_value = "contact-ledger.")]
    pub topic_prefix: String,
    /// Partitions of the commands and events topics (equal by design).
    #[arg(long, env = "CL_PARTITIONS", default_value_t = 4)]
    pub partitions: i32,
    /// Database connections per process.
    #[arg(long, env = "CL_DB_POOL", default_value_t = 20)]
    pub db_pool: u32,
    /// `fetch.wait.max.ms` of every consumer: how long the broker may hold a
    /// fetch that finds no data (librdkafka's default, 500). The broker
    /// answers a waiting fetch as soon as data arrives (Apache Kafka, and the
    /// dev/test broker as patched in broker/), so it costs no latency.
    #[arg(long, env = "CL_FETCH_WAIT_MS", default_value_t = ledger_kafka::config::DEFAULT_FETCH_WAIT_MS)]
    pub fetch_wait_ms: u32,
    /// `fetch.wait.max.ms` of the invite mailer's consumer. Mail is not
    /// waited on by a request, so it may wait longer and cost the broker less.
    #[arg(long, env = "CL_MAILER_FETCH_WAIT_MS", default_value_t = 1000)]
    pub mailer_fetch_wait_ms: u32,
    /// How long an invite link stays valid, in seconds (default 7 days).
    #[arg(long, env = "CL_INVITE_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub invite_ttl_secs: i64,
    /// How far back in `issued_at` the handler recognises a retried command
    /// id (default 7 days); an older one is refused as `command_too_old`.
    #[arg(long, env = "CL_DEDUP_WINDOW_SECS", default_value_t = 7 * 24 * 3600)]
    pub dedup_window_secs: i64,
    /// How long an idempotency key (with the answer stored for it) is kept,
    /// in seconds (default 24 hours): a retry with the same key within it
    /// gets the first answer; the API deletes older keys. At least 1.
    #[arg(long, env = "CL_IDEMPOTENCY_RETENTION_SECS", default_value_t = 24 * 3600)]
    pub idempotency_retention_secs: u64,
    /// The handler stores a snapshot of a partition's state after this many
    /// appended records (0: no snapshots; every claim folds from offset 0).
    #[arg(long, env = "CL_SNAPSHOT_EVERY", default_value_t = 10_000)]
    pub snapshot_every: u64,
    /// ... or after this many seconds with anything appended.
    #[arg(long, env = "CL_SNAPSHOT_INTERVAL_SECS", default_value_t = 300)]
    pub snapshot_interval_secs: u64,
    /// This process's name in the pools of its roles (see "Who runs which
    /// partition" in docs/ARCHITECTURE.md). It must be unique among live
    /// processes; a process restarted with the same id (a StatefulSet pod, a
    /// systemd unit) takes its partitions back at once. Unset: host, process
    /// id and a random part.
    #[arg(long, env = "CL_MEMBER_ID")]
    pub member_id: Option<String>,
    /// How long a partition lease lasts without renewal: the bound on how
    /// long a killed process's partitions wait before the others take them
    /// (renewed every fifth of it).
    #[arg(long, env = "CL_LEASE_TTL_MS", default_value_t = 10_000)]
    pub lease_ttl_ms: u64,
    /// The HMAC key of the emnify route's tokens; every API process of a
    /// deployment must share it. Required by the API (at least 32 characters,
    /// not a word or a pattern); `dev` without one keeps its own in
    /// `--token-secret-file`.
    #[arg(long, env = "CL_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    #[command(flatten)]
    pub mail: MailSettings,
}

impl Common {
    pub fn kafka(&self) -> KafkaConfig {
        let mut cfg = KafkaConfig::new(&self.kafka_brokers, &self.topic_prefix, self.partitions);
        cfg.fetch_wait_ms = self.fetch_wait_ms;
        // The environment's first, so that a flag's value is set last.
        cfg.security = ClientOption::from_env(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        );
        cfg.security.extend(self.kafka_options.iter().cloned());
        cfg
    }

    /// The flags' defaults around what every caller gives (tests and the
    /// benchmark build a `Common` by hand).
    pub fn with_defaults(database_url: &str, kafka_brokers: &str, topic_prefix: &str, partitions: i32) -> Common {
        Common {
            database_url: database_url.to_owned(),
            kafka_brokers: kafka_brokers.to_owned(),
            kafka_options: Vec::new(),
            topic_prefix: topic_prefix.to_owned(),
            partitions,
            db_pool: 20,
            fetch_wait_ms: ledger_kafka::config::DEFAULT_FETCH_WAIT_MS,
            mailer_fetch_wait_ms: 1000,
            invite_ttl_secs: 7 * 24 * 3600,
            dedup_window_secs: 7 * 24 * 3600,
            idempotency_retention_secs: 24 * 3600,
            token_secret: None,
            snapshot_every: 10_000,
            snapshot_interval_secs: 300,
            member_id: None,
            lease_ttl_ms: 10_000,
            mail: MailSettings::default(),
        }
    }

    /// The pool settings of `role` in this process.
    pub fn pool(&self, role: &'static str, member: &str, partitions: i32) -> crate::pool::PoolConfig {
        let ttl = Duration::from_millis(self.lease_ttl_ms.max(500));
        crate::pool::PoolConfig { role, member: member.to_owned(), partitions, ttl, tick: ttl / 5 }
    }
}

pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_MAIL_FROM: &str = "Contact Ledger <no-reply@contact-ledger.invalid>";
pub const DEFAULT_MAIL_OUTBOX: &str = ".data/mail";
pub const DEFAULT_MAIL_ATTEMPTS: u32 = 5;
pub const DEFAULT_MAIL_RETRY_MS: u64 = 1000;

/// How the invite mailer sends: over SMTP, or (`--mail-to-files`, and always
/// in `dev` without `--smtp-host`) as `.eml` files in the outbox folder. Only
/// `dev` logs each written mail's recipient and link.
#[derive(Args, Clone)]
pub struct MailSettings {
    /// SMTP server. The `mailer` role refuses to start without one unless
    /// `--mail-to-files` is given.
    #[arg(long, env = "CL_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// Without an SMTP server, write invite mail as `.eml` files to the
    /// outbox folder (the links in them hold live tokens).
    #[arg(long, env = "CL_MAIL_TO_FILES")]
    pub mail_to_files: bool,
    /// Set by `dev`: files without asking, and each link logged.
    #[arg(skip)]
    pub dev: bool,
    /// SMTP port (default by security: none 25, starttls 587, tls 465).
    #[arg(long, env = "CL_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// How the SMTP connection is secured.
    #[arg(long, env = "CL_SMTP_SECURITY", value_enum, default_value_t = SmtpSecurity::Starttls)]
    pub smtp_security: SmtpSecurity,
    /// SMTP user name (no authentication when unset).
    #[arg(long, env = "CL_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// SMTP password; better given through the environment than as a flag.
    // `hide_env_values`: `--help` would otherwise print the value it read.
    #[arg(long, env = "CL_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,
    /// The `From` of invite mail.
    #[arg(long, env = "CL_MAIL_FROM", default_value = DEFAULT_MAIL_FROM)]
    pub mail_from: String,
    /// Where people reach the service: invite links are `<this>/invite/<token>`.
    #[arg(long, env = "CL_PUBLIC_BASE_URL", default_value = DEFAULT_PUBLIC_BASE_URL)]
    pub public_base_url: String,
    /// Folder for `.eml` files when no SMTP host is set.
    #[arg(long, env = "CL_MAIL_OUTBOX", default_value = DEFAULT_MAIL_OUTBOX)]
    pub mail_outbox: PathBuf,
    /// Send attempts per invite before `InviteDeliveryFailed` is recorded.
    #[arg(long, env = "CL_MAIL_ATTEMPTS", default_value_t = DEFAULT_MAIL_ATTEMPTS)]
    pub mail_attempts: u32,
    /// Delay before the first retry, in ms; doubled for each further one.
    #[arg(long, env = "CL_MAIL_RETRY_MS", default_value_t = DEFAULT_MAIL_RETRY_MS)]
    pub mail_retry_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

/// The same values as the flags' defaults (for tests and the benchmark,
/// which build a `Common` by hand).
impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp_host: None,
            mail_to_files: false,
            dev: false,
            smtp_port: None,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: None,
            smtp_password: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
            public_base_url: DEFAULT_PUBLIC_BASE_URL.to_owned(),
            mail_outbox: PathBuf::from(DEFAULT_MAIL_OUTBOX),
            mail_attempts: DEFAULT_MAIL_ATTEMPTS,
            mail_retry_ms: DEFAULT_MAIL_RETRY_MS,
        }
    }
}

// By hand, so that the password never reaches a log line.
impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_host", &self.smtp_host)
            .field("mail_to_files", &self.mail_to_files)
            .field("dev", &self.dev)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_security", &self.smtp_security)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "<redacted>"))
            .field("mail_from", &self.mail_from)
            .field("public_base_url", &self.public_base_url)
            .field("mail_outbox", &self.mail_outbox)
            .field("mail_attempts", &self.mail_attempts)
            .field("mail_retry_ms", &self.mail_retry_ms)
            .finish()
    }
}

impl MailSettings {
    pub fn mail_config(&self) -> MailConfig {
        let security = match self.smtp_security {
            SmtpSecurity::None => Security::None,
            SmtpSecurity::Starttls => Security::StartTls,
            SmtpSecurity::Tls => Security::Tls,
        };
        let smtp = self.smtp_host.as_ref().filter(|h| !h.trim().is_empty()).map(|host| SmtpConfig {
            host: host.trim().to_owned(),
            port: self.smtp_port.unwrap_or_else(|| security.default_port()),
            security,
            username: self.smtp_username.clone().filter(|u| !u.is_empty()),
            password: self.smtp_password.clone(),
            timeout: Duration::from_secs(30),
        });
        MailConfig {
            smtp,
            from: self.mail_from.clone(),
            public_base_url: self.public_base_url.clone(),
            outbox: self.mail_outbox.clone(),
            log_links: self.dev,
        }
    }

    /// The mailer sends over SMTP, or writes files when told to (or in
    /// `dev`): never silently to a folder nobody reads.
    pub fn check_mailer(&self) -> anyhow::Result<()> {
        let smtp = self.smtp_host.as_ref().is_some_and(|h| !h.trim().is_empty());
        if smtp || self.mail_to_files || self.dev {
            return Ok(());
        }
        anyhow::bail!(
            "the mailer needs an SMTP server (--smtp-host or CL_SMTP_HOST), or --mail-to-files \
             (CL_MAIL_TO_FILES=true) to write invite mail as .eml files to {}",
            self.mail_outbox.display()
        )
    }

    /// At least one attempt, however configured.
    pub fn attempts(&self) -> u32 {
        self.mail_attempts.max(1)
    }

    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(self.mail_retry_ms)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        common: Common,
    }

    #[test]
    fn kafka_security_flags_reach_the_clients_and_other_settings_are_refused() {
        let flags = Flags::try_parse_from([
            "x",
            "--kafka-option",
            "security.protocol=SASL_SSL",
            "--kafka-option",
            "sasl.username=ledger",
        ])
        .unwrap();
        let kafka = flags.common.kafka();
        assert_eq!(kafka.producer().get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(kafka.consumer("p").get("sasl.username"), Some("ledger"));
        let refused = Flags::try_parse_from(["x", "--kafka-option", "acks=0"]).err().expect("refused");
        assert!(refused.to_string().contains("not a Kafka security setting"), "{refused}");
    }

    #[test]
    fn the_mailer_needs_smtp_or_to_be_told_to_write_files() {
        let flags = Flags::try_parse_from(["x"]).unwrap();
        assert!(flags.common.mail.check_mailer().is_err());
        for args in [["x", "--mail-to-files"], ["x", "--smtp-host=smtp.example.com"]] {
            let flags = Flags::try_parse_from(args).unwrap();
            assert!(flags.common.mail.check_mailer().is_ok(), "{args:?}");
        }
    }
}
