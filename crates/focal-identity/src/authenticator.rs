//! The one authenticator: every credential any Focal endpoint accepts is checked here.
//!
//! | credential          | accepted on        | checked                                          |
//! |---------------------|--------------------|--------------------------------------------------|
//! | session cookie      | web UI, REST API   | not expired, account enabled, role signs in to the web |
//! | bearer token        | REST API, TAXII    | not revoked, not expired, account enabled, scope |
//! | HTTP Basic password | TAXII              | throttled, argon2id, account enabled             |
//!
//! and the sign-in form's password is checked by the same throttled path as HTTP Basic. Nothing
//! about a credential's validity is cached: the account's state is read from the store on every
//! request, so disabling an account stops its sessions, tokens and passwords at once. The only
//! memory is of HTTP Basic passwords already verified (so a TAXII client paging through a
//! collection does not pay an argon2 hash per page), and it is used only while the account's
//! stored password hash is still the one that verified, and the account still enabled.

use crate::audit;
use crate::credentials::{self, CredentialError, MAX_PASSWORD_BYTES};
use crate::store::{AuditRecord, IdentityStore, NewSession, User};
use crate::throttle::{Keys, ThrottlePolicy};
use crate::{TokenScope, now_us};
use serde_json::json;
use sha2::Digest;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a web session lasts.
pub const SESSION_HOURS: i64 = 8;
/// How long a verified HTTP Basic password is remembered (see the module documentation).
const REMEMBER: Duration = Duration::from_secs(600);
/// At most this many remembered passwords; beyond, the memory starts afresh.
const REMEMBER_MAX: usize = 10_000;

/// A credential as presented with a request.
#[derive(Clone)]
pub enum Credential {
    /// The value of the session cookie.
    Session(String),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <name:password>`.
    Basic { name: String, password: String },
}

impl std::fmt::Debug for Credential {
    // Never print a secret, not even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Session(_) => f.write_str("Session(..)"),
            Credential::Bearer(_) => f.write_str("Bearer(..)"),
            Credential::Basic { name, .. } => write!(f, "Basic({name:?}, ..)"),
        }
    }
}

/// Which part of the server is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The web UI and the REST API: session cookies and bearer tokens.
    Web,
    /// TAXII 2.1: HTTP Basic and bearer tokens.
    Taxii,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Taxii => "taxii",
        }
    }
}

/// A request's credential and what the request is.
#[derive(Debug, Clone)]
pub struct Presented {
    pub credential: Credential,
    /// The client's address (see `focal_server::client` for proxies).
    pub client: IpAddr,
    /// The request changes something (any method but GET and HEAD).
    pub writes: bool,
    pub channel: Channel,
}

/// How a request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session {
        id: i64,
        csrf: String,
    },
    Token {
        id: i64,
        scope: TokenScope,
    },
    /// HTTP Basic.
    Password,
}

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

/// Why a credential was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused<E: std::error::Error + 'static> {
    /// No credential, an unknown or wrong one, or one of a disabled account: 401.
    #[error("valid credentials are required")]
    Unauthenticated,
    /// A read-scoped token on a request that changes something: 403.
    #[error("this token is read-only")]
    ReadOnly,
    /// Too many failed password checks from this client: 429 with `Retry-After`.
    #[error("too many failed attempts: try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Store(E),
}

/// A new web session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub principal: Principal,
    /// The session cookie's value (only its hash is stored).
    pub cookie: String,
}

struct Remembered {
    user_id: i64,
    password_hash: String,
    at: Instant,
}

pub struct Authenticator<S: IdentityStore> {
    store: Arc<S>,
    policy: ThrottlePolicy,
    /// Keys of remembered passwords: SHA-256 of a per-process secret, the name, the password
    /// and the client, so the memory holds no password and a copy of it is no lookup table.
    remembered: Mutex<HashMap<[u8; 32], Remembered>>,
    secret: [u8; 32],
}

type Result<T, S> = std::result::Result<T, Refused<<S as IdentityStore>::Error>>;

impl<S: IdentityStore> Authenticator<S> {
    pub fn new(store: Arc<S>) -> Authenticator<S> {
        Authenticator::with_policy(store, ThrottlePolicy::default())
    }

    pub fn with_policy(store: Arc<S>, policy: ThrottlePolicy) -> Authenticator<S> {
        let mut secret = [0u8; 32];
        // Without randomness the memory is keyed by a constant: it still holds no password.
        let _ = getrandom::fill(&mut secret);
        Authenticator {
            store,
            policy,
            remembered: Mutex::new(HashMap::new()),
            secret,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn policy(&self) -> &ThrottlePolicy {
        &self.policy
    }

    /// Who presented this credential, or why not. Blocking (store, argon2): call it from a
    /// blocking thread.
    pub fn authenticate(&self, p: &Presented) -> Result<Principal, S> {
        let now = now_us();
        let principal = match (&p.credential, p.channel) {
            (Credential::Session(value), Channel::Web) => self.session(value, now)?,
            (Credential::Bearer(token), _) => self.token(token, now)?,
            (Credential::Basic { name, password }, Channel::Taxii) => Principal {
                user: self.check_password(name, password, p.client, Channel::Taxii, now)?,
                via: Via::Password,
            },
            // Cookies are not accepted by TAXII (a cross-site form could post with them), nor
            // passwords on every web request (the sign-in form makes a session).
            _ => return Err(Refused::Unauthenticated),
        };
        if p.writes
            && let Via::Token {
                scope: TokenScope::Read,
                ..
            } = principal.via
        {
            return Err(Refused::ReadOnly);
        }
        Ok(principal)
    }

    fn session(&self, value: &str, now: i64) -> Result<Principal, S> {
        let record = self
            .store
            .session(&credentials::token_hash(value))
            .map_err(Refused::Store)?
            .ok_or(Refused::Unauthenticated)?;
        if record.expires_at_us <= now || record.user.disabled || !record.user.role.uses_web() {
            return Err(Refused::Unauthenticated);
        }
        Ok(Principal {
            user: record.user,
            via: Via::Session {
                id: record.id,
                csrf: record.csrf,
            },
        })
    }

    fn token(&self, token: &str, now: i64) -> Result<Principal, S> {
        let (user, info) = self
            .store
            .token(&credentials::token_hash(token))
            .map_err(Refused::Store)?
            .ok_or(Refused::Unauthenticated)?;
        // An expiry that does not parse is taken as expired: fail closed.
        let expired = info.expires_at.as_deref().is_some_and(|at| {
            at.parse::<jiff::Timestamp>()
                .map(|t| t.as_microsecond() <= now)
                .unwrap_or(true)
        });
        if info.revoked_at.is_some() || expired || user.disabled {
            return Err(Refused::Unauthenticated);
        }
        Ok(Principal {
            user,
            via: Via::Token {
                id: info.id,
                scope: info.scope,
            },
        })
    }

    fn remember_key(&self, name: &str, password: &str, client: IpAddr) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(self.secret);
        for part in [name, password, &client.to_string()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    /// Checks a password for `name` from `client`, throttled. Every check that is not throttled
    /// costs exactly one argon2id verification: against the account's hash, or against the
    /// dummy hash when there is no account or no password (so a name's existence does not
    /// show in the time taken). A failure is counted and audited with the client's address.
    pub fn check_password(
        &self,
        name: &str,
        password: &str,
        client: IpAddr,
        channel: Channel,
        now: i64,
    ) -> Result<User, S> {
        let keys = Keys::new(name, client);
        let mut wait = 0i64;
        for (key, free) in [
            (
                &keys.account_and_client,
                self.policy.free_per_account_and_client,
            ),
            (&keys.client, self.policy.free_per_client),
        ] {
            let f = self.store.failures(key).map_err(Refused::Store)?;
            wait = wait.max(self.policy.remaining(f, free, now));
        }
        if wait > 0 {
            metrics::counter!("focal_auth_throttled_total", "channel" => channel.as_str())
                .increment(1);
            return Err(Refused::Throttled {
                retry_after: wait as u64,
            });
        }
        let user = if name.chars().count() <= 128 {
            self.store.user(name).map_err(Refused::Store)?
        } else {
            None
        };
        let remember_key =
            (channel == Channel::Taxii).then(|| self.remember_key(name, password, client));
        if let (Some(u), Some(key)) = (&user, &remember_key) {
            let mut memory = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = memory.get(key) {
                if r.at.elapsed() < REMEMBER
                    && r.user_id == u.id
                    && u.password_hash.as_deref() == Some(r.password_hash.as_str())
                    && !u.disabled
                {
                    return Ok(u.clone());
                }
                memory.remove(key);
            }
        }
        let stored = user
            .as_ref()
            .and_then(|u| u.password_hash.as_deref())
            .filter(|_| password.len() <= MAX_PASSWORD_BYTES);
        let verified = match stored {
            Some(hash) => {
                metrics::counter!("focal_auth_password_checks_total", "against" => "account")
                    .increment(1);
                credentials::verify_password(hash, password)
            }
            None => {
                metrics::counter!("focal_auth_password_checks_total", "against" => "dummy")
                    .increment(1);
                let _ = credentials::verify_password(credentials::dummy_hash(), password);
                false
            }
        };
        let refusal = match &user {
            None => Some("no such account"),
            Some(_) if !verified => Some("wrong password"),
            Some(u) if u.disabled => Some("account disabled"),
            Some(u) if channel == Channel::Web && !u.role.uses_web() => {
                Some("the account's role does not sign in to the web")
            }
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            let record = AuditRecord {
                actor: format!("client:{client}"),
                action: audit::SIGN_IN_FAILED,
                subject: audit::subject(name),
                before: None,
                after: Some(json!({
                    "client": client.to_string(),
                    "channel": channel.as_str(),
                    "reason": reason,
                })),
            };
            self.store
                .record_failure(
                    &[&keys.account_and_client, &keys.client],
                    now,
                    self.policy.forgotten_before(now),
                    &record,
                )
                .map_err(Refused::Store)?;
            metrics::counter!("focal_auth_sign_ins_total", "channel" => channel.as_str(), "result" => "failed")
                .increment(1);
            return Err(Refused::Unauthenticated);
        }
        let Some(user) = user else {
            return Err(Refused::Unauthenticated);
        };
        if let Some(key) = remember_key {
            // A TAXII sign-in: the password was verified (not remembered), so record it and
            // clear this client's failures for the account.
            self.store
                .clear_failures(
                    &keys.account_and_client,
                    Some(&sign_in_record(&user, client, channel)),
                )
                .map_err(Refused::Store)?;
            metrics::counter!("focal_auth_sign_ins_total", "channel" => channel.as_str(), "result" => "ok")
                .increment(1);
            let mut memory = self.remembered.lock().unwrap_or_else(|p| p.into_inner());
            if memory.len() >= REMEMBER_MAX {
                memory.clear();
            }
            if let Some(hash) = &user.password_hash {
                memory.insert(
                    key,
                    Remembered {
                        user_id: user.id,
                        password_hash: hash.clone(),
                        at: Instant::now(),
                    },
                );
            }
        }
        Ok(user)
    }

    /// The sign-in form: a throttled password check, then a new session (stored by its hash,
    /// with the sign-in's audit entry and the failures of this client for the account cleared,
    /// in one transaction).
    pub fn sign_in(&self, name: &str, password: &str, client: IpAddr) -> Result<SignedIn, S> {
        let now = now_us();
        let user = self.check_password(name, password, client, Channel::Web, now)?;
        let (cookie, id_hash) = credentials::new_token()?;
        let (csrf, _) = credentials::new_token()?;
        let keys = Keys::new(name, client);
        let id = self
            .store
            .create_session(
                &NewSession {
                    id_hash,
                    user_id: user.id,
                    csrf: csrf.clone(),
                    created_at_us: now,
                    expires_at_us: now + SESSION_HOURS * 3600 * 1_000_000,
                    client: client.to_string(),
                },
                &keys.account_and_client,
                &sign_in_record(&user, client, Channel::Web),
            )
            .map_err(Refused::Store)?;
        metrics::counter!("focal_auth_sign_ins_total", "channel" => "web", "result" => "ok")
            .increment(1);
        Ok(SignedIn {
            principal: Principal {
                user,
                via: Via::Session { id, csrf },
            },
            cookie,
        })
    }

    /// Ends the session a request was made with (signing out); nothing for other credentials.
    pub fn sign_out(&self, user: &User, via: &Via, client: IpAddr) -> Result<(), S> {
        if let Via::Session { id, .. } = via {
            let record = AuditRecord {
                actor: format!("user:{}", user.name),
                action: audit::SIGN_OUT,
                subject: audit::subject(&user.name),
                before: None,
                after: Some(json!({"client": client.to_string(), "session": id})),
            };
            self.store
                .end_sessions(user.id, Some(*id), None, Some(&record))
                .map_err(Refused::Store)?;
        }
        Ok(())
    }

    /// A user changes their own password, proving the current one (a throttled password check
    /// like any other). Their other sessions end; the one making the change stays.
    pub fn change_own_password(
        &self,
        user: &User,
        via: &Via,
        current: &str,
        new: &str,
        client: IpAddr,
    ) -> std::result::Result<User, crate::AccountError<S::Error>> {
        use crate::AccountError;
        let user = self
            .check_password(&user.name, current, client, Channel::Web, now_us())
            .map_err(|e| match e {
                Refused::Unauthenticated => AccountError::WrongPassword,
                Refused::Throttled { retry_after } => AccountError::Throttled { retry_after },
                Refused::Store(e) => AccountError::Store(e),
                Refused::Credential(e) => AccountError::Credential(e),
                Refused::ReadOnly => AccountError::WrongPassword,
            })?;
        let keep = match via {
            Via::Session { id, .. } => Some(*id),
            _ => None,
        };
        let changed = crate::accounts::change_password(self.store.as_ref(), &user, new, keep)?;
        let keys = Keys::new(&user.name, client);
        self.store
            .clear_failures(&keys.account_and_client, None)
            .map_err(AccountError::Store)?;
        Ok(changed)
    }
}

fn sign_in_record(user: &User, client: IpAddr, channel: Channel) -> AuditRecord {
    AuditRecord {
        actor: format!("user:{}", user.name),
        action: audit::SIGN_IN,
        subject: audit::subject(&user.name),
        before: None,
        after: Some(json!({"client": client.to_string(), "channel": channel.as_str()})),
    }
}
