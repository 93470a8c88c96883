//! Creating a tenant: the API key is made here, shown once, and only its
//! SHA-256 travels in the `CreateTenant` command.
use std::time::Duration;

use chrono::Utc;
use ledger_domain::{Command, CommandId, CreateTenant, TenantId};
use ledger_protocol::{
    CommandEnvelope,
    ports::{CommandBus, CommandStatus, ReadModel},
};
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
    reads: &dyn ReadModel,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let api_key = new_api_key();
    let tenant_id = TenantId(Ulid::new());
    let envelope = CommandEnvelope {
        command_id: CommandId(Ulid::new()),
        tenant_id,
        issued_at: Utc::now(),
        command: Command::CreateTenant(CreateTenant {
            name: name.to_owned(),
            api_key_hash: ledger_http::hash_api_key(&api_key),
        }),
    };
    bus.submit(&envelope).await?;
    let outcome = reads.wait_for_command(tenant_id, envelope.command_id, timeout).await?.ok_or_else(|| {
        anyhow::anyhow!("the tenant was not created within {timeout:?}: is the handler and projector running?")
    })?;
    if outcome.status != CommandStatus::Accepted {
        anyhow::bail!("tenant creation was rejected: {:?}", outcome.rejection);
    }
    Ok(json!({ "tenant_id": tenant_id, "name": name, "api_key": api_key }))
}
