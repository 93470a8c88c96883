//! Creating a tenant: the API key is made here, shown once, and only its
//! SHA-256 travels in the `CreateTenant` command.
use std::time::Duration;

use chrono::Utc;
use ledger_domain::{Command, CommandId, CreateTenant, RotateApiKey, TenantId};
use ledger_ports::{CommandBus, CommandStatus, CommandView, Commands, Tenants};
use ledger_protocol::CommandEnvelope;
use rand::RngCore;
use serde_json::{Value, json};
use ulid::Ulid;

pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("clk_{hex}")
}

/// Creates a tenant through the log and waits until the read model knows it.
pub async fn create(
    bus: &dyn CommandBus,
    commands: &dyn Commands,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let api_key = new_api_key();
    let tenant_id = TenantId(Ulid::new());
    let command = Command::CreateTenant(CreateTenant {
        name: name.to_owned(),
        api_key_hash: ledger_http::hash_api_key(&api_key),
    });
    decided(bus, commands, tenant_id, command, "the tenant creation", timeout).await?;
    Ok(json!({ "tenant_id": tenant_id, "name": name, "api_key": api_key }))
}

/// Publishes an operator's command for `tenant_id` and waits until it is
/// decided and projected; an error unless it was accepted.
async fn decided(
    bus: &dyn CommandBus,
    commands: &dyn Commands,
    tenant_id: TenantId,
    command: Command,
    what: &str,
    timeout: Duration,
) -> anyhow::Result<CommandView> {
    let envelope = CommandEnvelope { command_id: CommandId(Ulid::new()), tenant_id, issued_at: Utc::now(), command };
    bus.submit(&envelope).await?;
    let outcome = commands.wait_for_command(tenant_id, envelope.command_id, timeout).await?.ok_or_else(|| {
        anyhow::anyhow!("{what} was not decided within {timeout:?}: is the handler and projector running?")
    })?;
    if outcome.status != CommandStatus::Accepted {
        anyhow::bail!("{what} was rejected: {:?}", outcome.rejection);
    }
    Ok(outcome)
}

/// Gives `tenant` a new API key through the log; the keys before it work for
/// `overlap_secs` more. Waits until the read model has it.
pub async fn rotate_key(
    bus: &dyn CommandBus,
    commands: &dyn Commands,
    tenant_id: TenantId,
    overlap_secs: i64,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let api_key = new_api_key();
    let command = Command::RotateApiKey(RotateApiKey {
        api_key_hash: ledger_http::hash_api_key(&api_key),
        previous_valid_secs: overlap_secs,
    });
    let outcome = decided(bus, commands, tenant_id, command, "the key rotation", timeout).await?;
    let rotated = outcome.events.first().map(|e| &e.data).cloned().unwrap_or(Value::Null);
    Ok(json!({
        "tenant_id": tenant_id,
        "api_key": api_key,
        "key_version": rotated["key_version"],
        "previous_valid_until": rotated["previous_valid_until"],
    }))
}

/// The `dev` demo tenant: the one kept in `file` if the read model still
/// knows it by that key, else a new one, kept there (mode 0600). Only the
/// `dev` mode reads the file, so a developer restarting the service keeps
/// the same tenant and key; it is a development convenience, never used in
/// the production roles.
pub async fn demo(
    bus: &dyn CommandBus,
    reads: &(impl Tenants + Commands),
    file: &std::path::Path,
    timeout: Duration,
) -> anyhow::Result<Value> {
    if let Some(kept) = kept_demo(reads, file).await {
        return Ok(kept);
    }
    let created = create(bus, reads, "demo", timeout).await?;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_private(file, &serde_json::to_vec_pretty(&created)?)?;
    Ok(created)
}

/// The tenant in `file`, if its key still opens it (the read model is kept
/// across restarts; after a reset the projector may take a moment to catch
/// up, so it is given a few seconds).
async fn kept_demo(tenants: &dyn Tenants, file: &std::path::Path) -> Option<Value> {
    let kept: Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let (key, id) = (kept["api_key"].as_str()?, kept["tenant_id"].as_str()?);
    let hash = ledger_http::hash_api_key(key);
    for _ in 0..50 {
        if let Ok(Some(view)) = tenants.tenant_by_key_hash(&hash).await {
            return (view.tenant_id.to_string() == id).then_some(kept);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The secret kept in `file`, or a new random one written there (mode 0600):
/// `dev`'s emnify token key, the same across restarts.
pub fn kept_secret(file: &std::path::Path) -> anyhow::Result<String> {
    if let Ok(kept) = std::fs::read_to_string(file) {
        let kept = kept.trim().to_owned();
        if ledger_http::TokenKey::new(kept.as_bytes()).is_ok() {
            return Ok(kept);
        }
    }
    let secret = ledger_http::random_secret();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_private(file, secret.as_bytes())?;
    Ok(secret)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
