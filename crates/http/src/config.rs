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
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            decision_timeout: Duration::from_secs(10),
            port_timeout: Duration::from_secs(5),
            body_limit: 1024 * 1024,
        }
    }
}
