//! Identity: who may use Focal and how they prove it.
//!
//! - [`Role`], declared once; [`User`] and the other records of [`store`], and the storage trait
//!   [`IdentityStore`] that a backend implements.
//! - [`credentials`]: argon2id password hashes, the dummy hash, tokens stored as hashes.
//! - [`throttle`]: the limits on password guessing, per (account, client) and per client.
//! - [`Authenticator`]: the one check of every credential Focal accepts (session cookie, API
//!   bearer token, TAXII HTTP Basic, TAXII bearer token), enforcing a token's scope, expiry and
//!   revocation and the account's state, and throttling every password check.
//! - [`accounts`]: the changes to accounts (add, disable, enable, passwords, roles, sessions,
//!   tokens) that the CLI, the REST API and the web UI all make, each audited in its own
//!   transaction.
//!
//! **Architecture invariants.** No SQL and no HTTP here: the store keeps records, the server
//! turns requests into a [`Credential`] and a client address. Every decision about whether a
//! credential is good is made in [`Authenticator`] and nowhere else; every change to an account
//! goes through [`accounts`] with its audit record.

pub mod accounts;
pub mod audit;
mod authenticator;
pub mod credentials;
mod role;
pub mod store;
pub mod throttle;

pub use accounts::AccountError;
pub use authenticator::{
    Authenticator, Channel, Credential, Presented, Principal, Refused, SESSION_HOURS, SignedIn, Via,
};
pub use credentials::CredentialError;
pub use role::{Role, UnknownRole};
pub use store::{
    AuditRecord, EndSessions, IdentityStore, NewSession, NewToken, NewUser, SessionInfo,
    SessionRecord, TokenInfo, User, UserChange, check_name,
};
pub use throttle::{Failures, ThrottlePolicy};

use serde::{Deserialize, Serialize};

/// What an API token may do: `read` only reads (GET and HEAD, on the REST API and on TAXII
/// alike); `write` may change what its account may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    Read,
    Write,
}

impl TokenScope {
    pub const ALL: [TokenScope; 2] = [TokenScope::Read, TokenScope::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }
}

impl std::str::FromStr for TokenScope {
    type Err = String;
    fn from_str(text: &str) -> Result<TokenScope, String> {
        TokenScope::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("token scope {text:?}: expected read or write"))
    }
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unix microseconds now.
pub(crate) fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}
