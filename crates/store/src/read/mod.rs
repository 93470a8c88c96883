//! `Store` as the API's read ports (`ledger_ports`: `Tenants`, `Contacts`,
//! `AccessRoles`, `Commands`, `IdempotencyKeys`, `Invites`, `Readiness`). The
//! queries live in the modules below; this file only adapts their errors to
//! `Unavailable`.
mod commands;
mod contacts;
pub(crate) mod invites;
mod roles;
mod tenants;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::{CommandId, Contact, ContactId, TenantId};
use ledger_ports::{
    AccessRoles, CommandView, Commands, ContactFilter, Contacts, Coverage, Cursor, EventView, GrantChangeView,
    GrantView, Idempotency, IdempotencyKeys, InviteTokenView, Invites, Readiness, RoleView, StoredResponse, TenantView,
    Tenants, Unavailable,
};

use crate::{idempotency, store::Store};

/// How long a readiness probe waits for `SELECT 1`.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[async_trait]
impl Tenants for Store {
    async fn tenant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<TenantView>, Unavailable> {
        Ok(tenants::by_key_hash(self.pool(), api_key_hash).await?)
    }

    async fn tenant(&self, tenant: TenantId) -> Result<Option<TenantView>, Unavailable> {
        Ok(tenants::by_id(self.pool(), tenant).await?)
    }

    async fn key_works(&self, tenant: TenantId, key_version: u32) -> Result<bool, Unavailable> {
        Ok(tenants::key_works(self.pool(), tenant, key_version).await?)
    }
}

#[async_trait]
impl Contacts for Store {
    async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, Unavailable> {
        Ok(contacts::by_id(self.pool(), tenant, id).await?)
    }

    async fn contact_by_external_id(
        &self,
        tenant: TenantId,
        external_id: &str,
    ) -> Result<Option<Contact>, Unavailable> {
        Ok(contacts::by_external_id(self.pool(), tenant, external_id).await?)
    }

    async fn contacts(
        &self,
        tenant: TenantId,
        filter: &ContactFilter,
        cursor: Cursor,
        limit: u32,
    ) -> Result<Vec<Contact>, Unavailable> {
        Ok(contacts::list(self.pool(), tenant, filter, cursor, limit).await?)
    }

    async fn count_contacts(&self, tenant: TenantId, filter: &ContactFilter) -> Result<u64, Unavailable> {
        Ok(contacts::count(self.pool(), tenant, filter).await?)
    }

    async fn contact_events(&self, tenant: TenantId, id: ContactId) -> Result<Vec<EventView>, Unavailable> {
        Ok(contacts::events(self.pool(), tenant, id).await?)
    }
}

#[async_trait]
impl AccessRoles for Store {
    async fn access_roles(&self, tenant: TenantId) -> Result<Vec<RoleView>, Unavailable> {
        Ok(roles::catalogue(self.pool(), tenant).await?)
    }

    async fn contact_grants(&self, tenant: TenantId, contact: ContactId) -> Result<Vec<GrantView>, Unavailable> {
        Ok(roles::grants(self.pool(), tenant, contact).await?)
    }

    async fn grant_history(
        &self,
        tenant: TenantId,
        contact: ContactId,
        until: DateTime<Utc>,
    ) -> Result<Vec<GrantChangeView>, Unavailable> {
        Ok(roles::history(self.pool(), tenant, contact, until).await?)
    }
}

#[async_trait]
impl Commands for Store {
    async fn command(&self, tenant: TenantId, id: CommandId) -> Result<Option<CommandView>, Unavailable> {
        Ok(commands::by_id(self.pool(), tenant, id).await?)
    }

    async fn wait_for_command(
        &self,
        tenant: TenantId,
        id: CommandId,
        timeout: Duration,
    ) -> Result<Option<CommandView>, Unavailable> {
        Ok(commands::wait(self, tenant, id, timeout).await?)
    }

    async fn record_submitted(&self, tenant: TenantId, id: CommandId) -> Result<(), Unavailable> {
        Ok(idempotency::record_submitted(self.pool(), tenant, id).await?)
    }

    async fn was_submitted(&self, tenant: TenantId, id: CommandId) -> Result<bool, Unavailable> {
        Ok(idempotency::was_submitted(self.pool(), tenant, id).await?)
    }
}

#[async_trait]
impl IdempotencyKeys for Store {
    async fn idempotency_begin(
        &self,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
        command_id: CommandId,
        issued_at: DateTime<Utc>,
    ) -> Result<Idempotency, Unavailable> {
        Ok(idempotency::begin(self.pool(), tenant, key, request_hash, command_id, issued_at).await?)
    }

    async fn idempotency_finish(
        &self,
        tenant: TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), Unavailable> {
        Ok(idempotency::finish(self.pool(), tenant, key, response).await?)
    }
}

#[async_trait]
impl Invites for Store {
    async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteTokenView>, Unavailable> {
        Ok(invites::by_token_hash(self.pool(), token_hash).await?)
    }
}

#[async_trait]
impl Readiness for Store {
    async fn database_ready(&self) -> bool {
        let ping = sqlx::query("SELECT 1").execute(self.pool());
        matches!(tokio::time::timeout(READY_TIMEOUT, ping).await, Ok(Ok(_)))
    }

    async fn coverage(&self, role: &str) -> Result<Coverage, Unavailable> {
        Ok(self.partition_coverage(role).await?)
    }
}
