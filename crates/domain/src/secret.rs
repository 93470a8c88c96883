//! A plaintext password on its way to being hashed. It exists only at the
//! edge, between reading a request and hashing it: it cannot be serialised
//! (so it cannot reach the log), and its `Debug` does not show it (so it
//! cannot reach a log line).
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(plaintext: String) -> Self {
        Self(plaintext)
    }

    /// The plaintext, for the password rule and the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_plaintext() {
        let shown = format!("{:?}", Password::new("hunter22".into()));
        assert!(!shown.contains("hunter22"), "{shown}");
    }
}
