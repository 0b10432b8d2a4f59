//! Who is asking: HTTP Basic (name and password, argon2id-verified) or a bearer token (looked up
//! by its SHA-256), against the user store; and what they may do with a collection.

use axum::http::HeaderMap;
use base64::Engine;
use focal_store::SqliteStore;
use focal_store::sharing::{Rights, SharingStore, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a verified password is remembered, so a client paging through a collection does
/// not pay an argon2 hash per request. A changed or disabled account is seen after this.
const CACHE_TTL: Duration = Duration::from_secs(60);

pub struct Authenticator {
    store: Arc<SqliteStore>,
    /// (name, hash of the presented credentials) → user and when it was verified.
    cache: Mutex<HashMap<(String, String), (User, Instant)>>,
}

#[derive(Debug)]
pub enum AuthError {
    /// No credentials, or wrong ones: 401.
    Unauthenticated,
    /// The store failed: 500.
    Store(String),
}

impl Authenticator {
    pub fn new(store: Arc<SqliteStore>) -> Authenticator {
        Authenticator {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The user behind the request's `Authorization` header. Blocking (database, argon2):
    /// call from `spawn_blocking`.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<User, AuthError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Unauthenticated)?;
        let (scheme, rest) = value.split_once(' ').ok_or(AuthError::Unauthenticated)?;
        let store_err = |e: focal_store::StoreError| AuthError::Store(e.to_string());
        if scheme.eq_ignore_ascii_case("bearer") {
            let hash = focal_sharing::users::token_hash(rest.trim());
            return self
                .store
                .user_by_token(&hash)
                .map_err(store_err)?
                .ok_or(AuthError::Unauthenticated);
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthError::Unauthenticated);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| AuthError::Unauthenticated)?;
        let text = String::from_utf8(decoded).map_err(|_| AuthError::Unauthenticated)?;
        let (name, password) = text.split_once(':').ok_or(AuthError::Unauthenticated)?;
        // A digest, so the plain password is not kept in memory beyond the request.
        let key = (name.to_string(), focal_sharing::users::token_hash(&text));
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((user, at)) = cache.get(&key)
                && at.elapsed() < CACHE_TTL
            {
                return Ok(user.clone());
            }
        }
        let user = self
            .store
            .user(name)
            .map_err(store_err)?
            .ok_or(AuthError::Unauthenticated)?;
        let ok = !user.disabled
            && user
                .password_hash
                .as_deref()
                .is_some_and(|h| focal_sharing::users::verify_password(h, password));
        if !ok {
            return Err(AuthError::Unauthenticated);
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(key, (user.clone(), Instant::now()));
        Ok(user)
    }
}

/// A user's rights on a collection: staff by role, peers (and constituents) as granted.
pub fn rights(
    store: &dyn SharingStore,
    user: &User,
    collection: &str,
) -> focal_store::Result<Rights> {
    Ok(match user.role.as_str() {
        "admin" | "analyst" => Rights {
            can_read: true,
            can_write: true,
        },
        "auditor" => Rights {
            can_read: true,
            can_write: false,
        },
        _ => store.rights(user.id, collection)?.unwrap_or(Rights {
            can_read: false,
            can_write: false,
        }),
    })
}
