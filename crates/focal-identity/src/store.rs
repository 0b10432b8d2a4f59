//! What identity keeps, and the storage it needs: the [`IdentityStore`] trait, which a storage
//! backend implements (SQLite today: `focal_store::SqliteStore`).
//!
//! The store only keeps and returns records. It decides nothing: whether a session has expired,
//! a token is revoked or a user disabled is checked by the [`crate::Authenticator`], in one
//! place. Every change that alters who can do what carries its [`AuditRecord`], which the store
//! writes in the same transaction as the change, so no such change is ever stored unaudited.

use crate::{Role, TokenScope};
use serde::Serialize;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The constituent (organisation id) a constituent's account belongs to.
    pub organisation: Option<String>,
    /// The argon2id PHC string; never shown.
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub organisation: Option<String>,
    pub password_hash: Option<String>,
}

/// A user name: 1 to 128 characters, no `:` (HTTP Basic cannot carry one) and no control
/// characters. The one rule for every way an account is made.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(format!("user name {name:?}: 1 to 128 characters"));
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err(format!(
            "user name {name:?}: no ':' (HTTP Basic forbids it) and no control characters"
        ));
    }
    Ok(())
}

/// Which of a user's sessions a change ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSessions {
    None,
    All,
    /// All but this one (the session changing its own password stays signed in).
    AllBut(i64),
}

/// A change to one account. Fields left `None` stay as they are.
#[derive(Debug, Clone)]
pub struct UserChange {
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    /// The new role and organisation.
    pub role: Option<(Role, Option<String>)>,
    pub end_sessions: EndSessions,
}

/// A session to create at sign-in.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie value: a copy of the database hands out no live session.
    pub id_hash: String,
    pub user_id: i64,
    /// The synchronizer token every form of the session carries.
    pub csrf: String,
    pub created_at_us: i64,
    pub expires_at_us: i64,
    /// The client address it was created from.
    pub client: String,
}

/// A session as stored, with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: i64,
    pub user: User,
    pub csrf: String,
    pub expires_at_us: i64,
}

/// A session as listed (never its cookie or CSRF token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    pub id: i64,
    pub user: String,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at: String,
    /// The address it was signed in from.
    pub client: Option<String>,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: i64,
    pub hash: String,
    pub label: Option<String>,
    pub scope: TokenScope,
    /// RFC 3339; `None` never expires (until revoked).
    pub expires_at: Option<String>,
}

/// An API token as listed (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub label: Option<String>,
    pub scope: TokenScope,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// An audit entry to write with a change, in its transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub actor: String,
    pub action: &'static str,
    pub subject: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub use crate::throttle::Failures;

/// Storage for identity. Implemented by each backend; see the module documentation for what it
/// must and must not do.
pub trait IdentityStore: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    fn user(&self, name: &str) -> Result<Option<User>, Self::Error>;
    fn users(&self) -> Result<Vec<User>, Self::Error>;
    /// Adds an account; refuses a name already taken.
    fn add_user(&self, user: &NewUser, audit: &AuditRecord) -> Result<User, Self::Error>;
    /// Changes an account and ends the sessions the change names, with its audit entry, in one
    /// transaction; returns the account afterwards.
    fn change_user(
        &self,
        user_id: i64,
        change: &UserChange,
        audit: &AuditRecord,
    ) -> Result<User, Self::Error>;

    /// Stores a session, clears the failures under `clear_key` (the account from that client)
    /// and writes the sign-in's audit entry, in one transaction; returns the session's id.
    fn create_session(
        &self,
        session: &NewSession,
        clear_key: &str,
        audit: &AuditRecord,
    ) -> Result<i64, Self::Error>;
    /// The session with this cookie hash, whatever its state (the authenticator decides).
    fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, Self::Error>;
    /// The user's sessions that have not expired at `now_us`, newest first.
    fn sessions(&self, user_id: i64, now_us: i64) -> Result<Vec<SessionInfo>, Self::Error>;
    /// Ends one session of the user (`Some(id)`), or all but `keep`; with an audit entry when
    /// given and something ended. Returns how many ended.
    fn end_sessions(
        &self,
        user_id: i64,
        which: Option<i64>,
        keep: Option<i64>,
        audit: Option<&AuditRecord>,
    ) -> Result<u64, Self::Error>;

    fn add_token(&self, token: &NewToken, audit: &AuditRecord) -> Result<TokenInfo, Self::Error>;
    /// Tokens of one user, or of everyone, in id order.
    fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>, Self::Error>;
    fn token_by_id(&self, id: i64) -> Result<Option<TokenInfo>, Self::Error>;
    /// The token with this hash and its user, whatever their state.
    fn token(&self, hash: &str) -> Result<Option<(User, TokenInfo)>, Self::Error>;
    /// Revokes (and expires) a token; false if there is none or it was already revoked.
    fn revoke_token(&self, id: i64, at: &str, audit: &AuditRecord) -> Result<bool, Self::Error>;

    fn failures(&self, key: &str) -> Result<Failures, Self::Error>;
    /// Counts a failure under each key (a count whose last failure is at or before
    /// `forgotten_before` restarts at one), with the failed sign-in's audit entry, in one
    /// transaction.
    fn record_failure(
        &self,
        keys: &[&str],
        now_us: i64,
        forgotten_before: i64,
        audit: &AuditRecord,
    ) -> Result<(), Self::Error>;
    /// Clears the failures under `key`, with an audit entry when given, in one transaction.
    fn clear_failures(&self, key: &str, audit: Option<&AuditRecord>) -> Result<(), Self::Error>;
}
