//! Tunables of the HTTP adapter. The binary fills them from flags and the
//! environment; the defaults are what production runs with.
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// How long a synchronous write waits for the command's decision before
    /// answering 503 (the command still goes on; the client polls it).
    pub decision_timeout: Duration,
    /// The bound on every single port call (broker, database).
    pub port_timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Signs the emnify route's tokens (HS256).
    pub token_key: TokenKey,
    /// How long an answer of the unauthenticated probes (`/readyz`, the pool
    /// gauges of `/metrics`) is reused: however often they are called, the
    /// database and the broker are asked at most once per this.
    pub probe_ttl: Duration,
}

/// The HMAC key of the emnify tokens. Every API process of a deployment must
/// share it (`CL_TOKEN_SECRET`); without one a process makes a random key, so
/// its tokens die with it. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey(pub Vec<u8>);

impl TokenKey {
    pub fn random() -> Self {
        use rand::RngCore;
        let mut key = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            decision_timeout: Duration::from_secs(10),
            port_timeout: Duration::from_secs(5),
            body_limit: 1024 * 1024,
            token_key: TokenKey::random(),
            probe_ttl: Duration::from_secs(1),
        }
    }
}
