//! Passwords are hashed here, at the edge, before anything is published: the
//! plaintext never reaches the log, the broker or the database. argon2id with
//! the crate's default parameters (OWASP's minimum), as a PHC string.
use argon2::{
    Argon2, PasswordHasher,
    password_hash::{self, SaltString},
};
use ledger_domain::Password;
use rand::rngs::OsRng;

#[derive(Debug, thiserror::Error)]
pub enum PasswordHashError {
    #[error("argon2: {0}")]
    Hash(#[from] password_hash::Error),
    #[error("the hashing task did not finish: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// argon2id PHC string of the password, computed off the async threads.
pub async fn hash_password(password: Password) -> Result<String, PasswordHashError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.expose().as_bytes(), &salt).map(|h| h.to_string())
    })
    .await?
    .map_err(PasswordHashError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHash, PasswordVerifier};

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let hash = hash_password(Password::new("correct horse 1".into())).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse 1", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong", &parsed).is_err());
    }
}
