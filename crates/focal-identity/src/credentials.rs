//! Credentials: argon2id password hashes, the dummy hash that unknown names are checked
//! against, and random tokens stored as hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::Digest;
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("no random source available: {0}")]
    Random(String),
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("a password must be at least 8 characters long")]
    TooShort,
    #[error("a password may be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
}

/// The longest password accepted, so a request cannot make the server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

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
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CredentialError::TooLong);
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

/// A hash of a random password nobody knows, made once per process with the same parameters as
/// real hashes. A name without an account (or an account without a password) is checked against
/// it, so that every password check costs one argon2 verification whether the name exists or
/// not, and the answer's timing does not tell which accounts exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = random_bytes::<32>()
            .map(hex::encode)
            .unwrap_or_else(|_| "focal-no-randomness-dummy-password".into());
        // Hashing a 64-character password cannot fail but for a broken random source; a PHC
        // string that does not parse still costs nothing and verifies nothing, so fall back to
        // a fixed hash of the same parameters.
        hash_password(&secret).unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$Zm9jYWxkdW1teXNhbHQ$MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA".into()
        })
    })
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

/// 32 random bytes (keys: the node's pseudonymisation key, the audit chain's key).
pub fn new_secret_key() -> Result<Vec<u8>, CredentialError> {
    Ok(random_bytes::<32>()?.to_vec())
}

/// A password of 24 hex digits (96 bits) from the OS random source.
pub fn generate_password() -> Result<String, CredentialError> {
    Ok(hex::encode(random_bytes::<12>()?))
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
        assert!(matches!(
            hash_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(CredentialError::TooLong)
        ));
        let (t, th) = new_token().unwrap();
        assert_eq!(token_hash(&t), th);
        assert_ne!(new_token().unwrap().0, t);
        assert_eq!(generate_password().unwrap().len(), 24);
    }

    /// The dummy check costs what a real one costs: the same algorithm, version and parameters
    /// as the hashes stored for accounts (only the salt and output differ).
    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_hashes() {
        let real = hash_password("a real password").unwrap();
        let params = |h: &str| {
            let parsed = PasswordHash::new(h).unwrap();
            (
                parsed.algorithm.to_string(),
                parsed.version,
                parsed.params.to_string(),
                parsed.hash.map(|o| o.len()),
            )
        };
        assert_eq!(params(dummy_hash()), params(&real));
        assert_eq!(dummy_hash(), dummy_hash(), "made once per process");
        assert!(!verify_password(dummy_hash(), "a real password"));
    }
}
