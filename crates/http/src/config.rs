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
/// share it (`CL_TOKEN_SECRET`). Its id (`kid` in each token) is the first 8
/// bytes of its SHA-256, so a token signed with another key is told apart
/// before its signature is checked. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey {
    secret: Vec<u8>,
    id: String,
}

/// The shortest secret a `TokenKey` accepts.
pub const TOKEN_SECRET_MIN: usize = 32;

impl TokenKey {
    /// A key from a secret: at least 32 bytes, of at least 16 distinct byte
    /// values (so not a word, a repeated pattern or a placeholder).
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        let distinct = secret.iter().collect::<std::collections::HashSet<_>>().len();
        if secret.len() < TOKEN_SECRET_MIN || distinct < 16 {
            return Err(format!(
                "the token secret must be at least {TOKEN_SECRET_MIN} bytes of at least 16 different characters \
                 (it is {} bytes, {distinct} different): make one with `openssl rand -base64 48`",
                secret.len()
            ));
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(secret);
        let id = hex::encode(&digest[..8]);
        Ok(Self { secret: secret.to_vec(), id })
    }

    /// A random key (tests; `dev` keeps one in a file).
    pub fn random() -> Self {
        Self::new(random_secret().as_bytes()).expect("64 random characters make a strong secret")
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The key's id, the `kid` of the tokens it signs.
    pub fn id(&self) -> String {
        self.id.clone()
    }
}

/// 64 random letters and digits (~380 bits): a strong token secret.
pub fn random_secret() -> String {
    use rand::Rng;
    rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(64).map(char::from).collect()
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
