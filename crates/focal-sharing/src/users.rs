//! Credentials for the user store: argon2id password hashes and API tokens stored as hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::Digest;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no random source available: {0}")]
    Random(String),
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("a password must be at least 8 characters long")]
    TooShort,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| CredentialError::Random(e.to_string()))?;
    Ok(b)
}

/// An argon2id PHC string (the crate's default parameters, OWASP's recommended minimum).
pub fn hash_password(password: &str) -> Result<String, CredentialError> {
    if password.chars().count() < 8 {
        return Err(CredentialError::TooShort);
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| CredentialError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CredentialError::Hash(e.to_string()))
}

/// Whether `password` matches a stored PHC string (false for a malformed hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new API token (256 random bits, hex) and the hash to store. The token itself is shown
/// once and never stored: a fast hash is enough for a secret with that much entropy.
pub fn new_token() -> Result<(String, String), CredentialError> {
    let token = format!("focal_{}", hex::encode(random_bytes::<32>()?));
    let hash = token_hash(&token);
    Ok((token, hash))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// 32 random bytes, for the node's pseudonymisation key.
pub fn new_secret_key() -> Result<Vec<u8>, CredentialError> {
    Ok(random_bytes::<32>()?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_verify_only_themselves() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsE"));
        assert!(!verify_password("garbage", "correct horse"));
        assert!(matches!(
            hash_password("short"),
            Err(CredentialError::TooShort)
        ));
        let (t, th) = new_token().unwrap();
        assert_eq!(token_hash(&t), th);
        assert_ne!(new_token().unwrap().0, t);
    }
}
