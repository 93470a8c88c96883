//! Every read-model row as JSON in a fixed order, so a test can check that a
//! rebuild from the log gives exactly the tables the live projection built.
use serde_json::Value;
use sqlx::Row;

use crate::{error::Result, store::Store};

/// Table and the columns that order its rows.
const TABLES: &[(&str, &str)] = &[
    ("tenants", "tenant_id"),
    ("tenant_api_keys", "tenant_id, key_version"),
    ("contacts", "tenant_id, contact_id"),
    ("contact_events", "tenant_id, contact_id, version, idx"),
    ("command_outcomes", "tenant_id, command_id"),
    ("access_roles", "tenant_id, reference"),
    ("contact_roles", "tenant_id, contact_id, reference"),
    ("contact_invites", "tenant_id, invite_id"),
];

impl Store {
    /// `{"tenants": [...], "contacts": [...], "contact_events": [...], "command_outcomes": [...],
    /// "access_roles": [...], "contact_roles": [...], "contact_invites": [...]}`.
    pub async fn dump_read_models(&self) -> Result<Value> {
        let parts: Vec<String> = TABLES
            .iter()
            .map(|(table, order)| {
                format!(
                    "'{table}', (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY {order}), '[]'::jsonb) FROM {table} t)"
                )
            })
            .collect();
        let sql = format!("SELECT jsonb_build_object({}) AS dump", parts.join(", "));
        let row = sqlx::query(&sql).fetch_one(self.pool()).await?;
        Ok(row.try_get("dump")?)
    }
}
