//! Changes to accounts, the same for the CLI, the REST API and the web UI: each builds its audit
//! record here and is stored with it in one transaction.
//!
//! Disabling an account, resetting its password or changing its role ends all its sessions (and
//! the authenticator refuses its tokens and passwords while it is disabled); a user changing
//! their own password ends their other sessions.

use crate::audit;
use crate::credentials::{self, CredentialError};
use crate::store::{
    AuditRecord, EndSessions, IdentityStore, NewToken, NewUser, TokenInfo, User, UserChange,
};
use crate::{Role, TokenScope};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AccountError<E: std::error::Error + 'static> {
    #[error("there is no user {0:?}")]
    NoSuchUser(String),
    #[error("there is no token {0}")]
    NoSuchToken(i64),
    #[error("{0} has no session {1}")]
    NoSuchSession(String, i64),
    #[error("{0}")]
    Invalid(String),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("too many failed attempts: try again in {retry_after} s")]
    Throttled { retry_after: u64 },
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The store refused or failed (its message says which, e.g. a name already taken).
    #[error(transparent)]
    Store(E),
}

type Result<T, S> = std::result::Result<T, AccountError<<S as IdentityStore>::Error>>;

fn record(
    actor: &str,
    action: &'static str,
    name: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> AuditRecord {
    AuditRecord {
        actor: actor.to_string(),
        action,
        subject: audit::subject(name),
        before,
        after,
    }
}

/// The account, or [`AccountError::NoSuchUser`].
pub fn find<S: IdentityStore + ?Sized>(store: &S, name: &str) -> Result<User, S> {
    store
        .user(name)
        .map_err(AccountError::Store)?
        .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))
}

/// What an account shows in the audit log (never its password hash).
fn shown(u: &User) -> serde_json::Value {
    json!({"role": u.role, "organisation": u.organisation, "disabled": u.disabled})
}

/// Adds an account, with a password (hashed here) or without one (a peer that uses tokens).
pub fn add<S: IdentityStore + ?Sized>(
    store: &S,
    name: &str,
    role: Role,
    organisation: Option<&str>,
    password: Option<&str>,
    actor: &str,
) -> Result<User, S> {
    crate::check_name(name).map_err(AccountError::Invalid)?;
    let password_hash = password.map(credentials::hash_password).transpose()?;
    let new = NewUser {
        name: name.to_string(),
        role,
        organisation: organisation.map(str::to_string),
        password_hash,
    };
    let after = json!({"role": role, "organisation": organisation, "password": password.is_some()});
    store
        .add_user(
            &new,
            &record(actor, audit::USER_ADD, name, None, Some(after)),
        )
        .map_err(AccountError::Store)
}

/// Disables (ending every session) or enables an account. Unchanged if already so, with no
/// audit entry.
pub fn set_disabled<S: IdentityStore + ?Sized>(
    store: &S,
    name: &str,
    disabled: bool,
    actor: &str,
) -> Result<User, S> {
    let user = find(store, name)?;
    if user.disabled == disabled {
        return Ok(user);
    }
    let action = if disabled {
        audit::USER_DISABLE
    } else {
        audit::USER_ENABLE
    };
    let change = UserChange {
        disabled: Some(disabled),
        password_hash: None,
        role: None,
        end_sessions: if disabled {
            EndSessions::All
        } else {
            EndSessions::None
        },
    };
    store
        .change_user(
            user.id,
            &change,
            &record(
                actor,
                action,
                name,
                Some(json!({"disabled": user.disabled})),
                Some(json!({"disabled": disabled})),
            ),
        )
        .map_err(AccountError::Store)
}

/// An administrator sets an account's password; every session of the account ends.
pub fn reset_password<S: IdentityStore + ?Sized>(
    store: &S,
    name: &str,
    password: &str,
    actor: &str,
) -> Result<User, S> {
    let user = find(store, name)?;
    let hash = credentials::hash_password(password)?;
    store
        .change_user(
            user.id,
            &UserChange {
                disabled: None,
                password_hash: Some(hash),
                role: None,
                end_sessions: EndSessions::All,
            },
            &record(
                actor,
                audit::USER_PASSWORD_RESET,
                name,
                None,
                Some(json!({"password": "set", "sessions_ended": true})),
            ),
        )
        .map_err(AccountError::Store)
}

/// A user's own password change, after the current one was checked
/// ([`crate::Authenticator::change_own_password`]); every other session ends.
pub(crate) fn change_password<S: IdentityStore + ?Sized>(
    store: &S,
    user: &User,
    password: &str,
    keep_session: Option<i64>,
) -> Result<User, S> {
    let hash = credentials::hash_password(password)?;
    store
        .change_user(
            user.id,
            &UserChange {
                disabled: None,
                password_hash: Some(hash),
                role: None,
                end_sessions: match keep_session {
                    Some(id) => EndSessions::AllBut(id),
                    None => EndSessions::All,
                },
            },
            &record(
                &format!("user:{}", user.name),
                audit::USER_PASSWORD_CHANGE,
                &user.name,
                None,
                Some(json!({"password": "changed", "other_sessions_ended": true})),
            ),
        )
        .map_err(AccountError::Store)
}

/// Changes an account's role and organisation; every session of the account ends (its pages
/// and CSRF tokens were made for the old role).
pub fn set_role<S: IdentityStore + ?Sized>(
    store: &S,
    name: &str,
    role: Role,
    organisation: Option<&str>,
    actor: &str,
) -> Result<User, S> {
    let user = find(store, name)?;
    if user.role == role && user.organisation.as_deref() == organisation {
        return Ok(user);
    }
    let after = User {
        role,
        organisation: organisation.map(str::to_string),
        ..user.clone()
    };
    store
        .change_user(
            user.id,
            &UserChange {
                disabled: None,
                password_hash: None,
                role: Some((role, organisation.map(str::to_string))),
                end_sessions: EndSessions::All,
            },
            &record(
                actor,
                audit::USER_ROLE,
                name,
                Some(shown(&user)),
                Some(shown(&after)),
            ),
        )
        .map_err(AccountError::Store)
}

/// Ends one session of an account (`which`), or all of them but `keep`. Returns how many
/// ended; ending one that is not the account's is [`AccountError::NoSuchSession`].
pub fn end_sessions<S: IdentityStore + ?Sized>(
    store: &S,
    name: &str,
    which: Option<i64>,
    keep: Option<i64>,
    actor: &str,
) -> Result<u64, S> {
    let user = find(store, name)?;
    let after = json!({"session": which, "kept": keep});
    let ended = store
        .end_sessions(
            user.id,
            which,
            keep,
            Some(&record(
                actor,
                audit::USER_SESSIONS_END,
                name,
                None,
                Some(after),
            )),
        )
        .map_err(AccountError::Store)?;
    if let Some(id) = which
        && ended == 0
    {
        return Err(AccountError::NoSuchSession(name.to_string(), id));
    }
    Ok(ended)
}

/// Issues a token; returns it (shown once, only its hash is stored) and its record.
pub fn issue_token<S: IdentityStore + ?Sized>(
    store: &S,
    name: &str,
    scope: TokenScope,
    label: Option<&str>,
    expires_at: Option<jiff::Timestamp>,
    actor: &str,
) -> Result<(String, TokenInfo), S> {
    let user = find(store, name)?;
    let (token, hash) = credentials::new_token()?;
    let expires_at = expires_at.map(|t| t.to_string());
    let info = store
        .add_token(
            &NewToken {
                user_id: user.id,
                hash,
                label: label.map(str::to_string),
                scope,
                expires_at: expires_at.clone(),
            },
            &record(
                actor,
                audit::TOKEN_ISSUE,
                name,
                None,
                Some(json!({"scope": scope, "label": label, "expires_at": expires_at})),
            ),
        )
        .map_err(AccountError::Store)?;
    Ok((token, info))
}

/// Revokes a token (it stops working at once, on the API and TAXII); false if it already was.
pub fn revoke_token<S: IdentityStore + ?Sized>(store: &S, id: i64, actor: &str) -> Result<bool, S> {
    let info = store
        .token_by_id(id)
        .map_err(AccountError::Store)?
        .ok_or(AccountError::NoSuchToken(id))?;
    store
        .revoke_token(
            id,
            &jiff::Timestamp::now().to_string(),
            &record(
                actor,
                audit::TOKEN_REVOKE,
                &info.user,
                None,
                Some(json!({"token": id, "scope": info.scope, "label": info.label})),
            ),
        )
        .map_err(AccountError::Store)
}
