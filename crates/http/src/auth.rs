//! Bearer API keys. The key is never stored: tenants are found by the
//! SHA-256 of their key, which is also what the CLI writes when it creates a
//! tenant, so both sides must hash the same way (`hash_api_key`).
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use ledger_domain::Code;
use ledger_domain::TenantId;
use ledger_ports::TenantView;
use sha2::{Digest, Sha256};

use crate::{problem::Problem, state::AppState};

/// SHA-256 of the key, lowercase hex.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The authenticated caller: the tenant its key belongs to.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: TenantView,
    pub key_hash: String,
}

impl Caller {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant.tenant_id
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(key) = bearer_key(parts) else {
            return Err(unauthorized("send your API key as `Authorization: Bearer <key>`"));
        };
        let key_hash = hash_api_key(key);
        match state.port("tenant_by_key_hash", state.tenants().tenant_by_key_hash(&key_hash)).await? {
            Some(tenant) => Ok(Caller { tenant, key_hash }),
            None => Err(unauthorized("the API key is not known")),
        }
    }
}

fn bearer_key(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(Code::Unauthorized, detail).header(header::WWW_AUTHENTICATE, "Bearer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_hash_to_lowercase_sha256_hex() {
        assert_eq!(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
