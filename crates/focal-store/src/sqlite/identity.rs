//! [`IdentityStore`] on SQLite: accounts, sessions, tokens and failed password checks (tables
//! `users` and `api_tokens` of migration 0003, `sessions` of 0007, `login_failures` of 0004).
//! Every change is written with its audit entry in one transaction.

use super::audit::Chain;
use super::incidents::err;
use super::{SqliteStore, now};
use crate::{Result, StoreError};
use focal_identity::{
    AuditRecord, EndSessions, Failures, IdentityStore, NewSession, NewToken, NewUser, Role,
    SessionInfo, SessionRecord, TokenInfo, TokenScope, User, UserChange,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

const USER_COLUMNS: &str =
    "u.id, u.name, u.role, u.organisation, u.password_hash, u.disabled, u.created_at";
const TOKEN_COLUMNS: &str =
    "t.id, u.name, t.label, t.scope, t.created_at, t.expires_at, t.revoked_at";

fn bad_text(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadValue(String);

/// A user from `USER_COLUMNS` starting at column `at`.
fn user_at(r: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    let role: String = r.get(at + 2)?;
    Ok(User {
        id: r.get(at)?,
        name: r.get(at + 1)?,
        role: role.parse::<Role>().map_err(|e| bad_text(at + 2, e))?,
        organisation: r.get(at + 3)?,
        password_hash: r.get(at + 4)?,
        disabled: r.get(at + 5)?,
        created_at: r.get(at + 6)?,
    })
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    user_at(r, 0)
}

/// A token from `TOKEN_COLUMNS` starting at column `at`.
fn token_at(r: &Row<'_>, at: usize) -> rusqlite::Result<TokenInfo> {
    let scope: String = r.get(at + 3)?;
    Ok(TokenInfo {
        id: r.get(at)?,
        user: r.get(at + 1)?,
        label: r.get(at + 2)?,
        scope: scope
            .parse::<TokenScope>()
            .map_err(|e| bad_text(at + 3, BadValue(e)))?,
        created_at: r.get(at + 4)?,
        expires_at: r.get(at + 5)?,
        revoked_at: r.get(at + 6)?,
    })
}

fn micros_text(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| us.to_string())
}

fn load_user(conn: &Connection, id: i64) -> rusqlite::Result<User> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"),
        [id],
        user_row,
    )
}

/// Appends `audit` to the chain inside the transaction.
fn append(conn: &Connection, chain: &mut Chain, audit: &AuditRecord) -> rusqlite::Result<()> {
    chain
        .append(
            conn,
            &audit.actor,
            audit.action,
            &audit.subject,
            audit.before.as_ref(),
            audit.after.as_ref(),
        )
        .map(|_| ())
}

impl SqliteStore {
    /// Runs `work` in one IMMEDIATE transaction with the audit chain loaded.
    fn audited<T>(
        &self,
        context: &'static str,
        work: impl FnOnce(&Connection, &mut Chain) -> Result<T>,
    ) -> Result<T> {
        let key = self.audit_key()?;
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err(context))?;
        let mut chain = Chain::load(&tx, key).map_err(err("reading the audit log"))?;
        let out = work(&tx, &mut chain)?;
        tx.commit().map_err(err(context))?;
        Ok(out)
    }
}

impl IdentityStore for SqliteStore {
    type Error = StoreError;

    fn user(&self, name: &str) -> Result<Option<User>> {
        self.reader()?
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.name = ?1"),
                [name],
                user_row,
            )
            .optional()
            .map_err(err("reading a user"))
    }

    fn users(&self) -> Result<Vec<User>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
            ))
            .map_err(err("listing users"))?;
        let rows = stmt.query_map([], user_row).map_err(err("listing users"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("listing users"))
    }

    fn add_user(&self, u: &NewUser, audit: &AuditRecord) -> Result<User> {
        self.audited("adding a user", |tx, chain| {
            tx.execute(
                "INSERT INTO users (name, role, organisation, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![u.name, u.role.as_str(), u.organisation, u.password_hash, now()],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Invalid(format!("a user named {:?} already exists", u.name))
                }
                source => StoreError::Sqlite {
                    context: "adding a user",
                    source,
                },
            })?;
            let user = load_user(tx, tx.last_insert_rowid()).map_err(err("reading a user"))?;
            append(tx, chain, audit).map_err(err("writing an audit entry"))?;
            Ok(user)
        })
    }

    fn change_user(&self, user_id: i64, change: &UserChange, audit: &AuditRecord) -> Result<User> {
        self.audited("changing a user", |tx, chain| {
            let e = err("changing a user");
            if let Some(disabled) = change.disabled {
                tx.execute(
                    "UPDATE users SET disabled = ?2 WHERE id = ?1",
                    params![user_id, disabled],
                )
                .map_err(e)?;
            }
            if let Some(hash) = &change.password_hash {
                tx.execute(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![user_id, hash],
                )
                .map_err(e)?;
            }
            if let Some((role, organisation)) = &change.role {
                tx.execute(
                    "UPDATE users SET role = ?2, organisation = ?3 WHERE id = ?1",
                    params![user_id, role.as_str(), organisation],
                )
                .map_err(e)?;
            }
            match change.end_sessions {
                EndSessions::None => 0,
                EndSessions::All => tx
                    .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
                    .map_err(e)?,
                EndSessions::AllBut(keep) => tx
                    .execute(
                        "DELETE FROM sessions WHERE user_id = ?1 AND id != ?2",
                        params![user_id, keep],
                    )
                    .map_err(e)?,
            };
            let user = load_user(tx, user_id)
                .optional()
                .map_err(e)?
                .ok_or_else(|| StoreError::Invalid(format!("there is no user {user_id}")))?;
            append(tx, chain, audit).map_err(err("writing an audit entry"))?;
            Ok(user)
        })
    }

    fn create_session(&self, s: &NewSession, clear_key: &str, audit: &AuditRecord) -> Result<i64> {
        self.audited("creating a session", |tx, chain| {
            let e = err("creating a session");
            // Expired sessions are swept at each sign-in, so the table stays the size of the
            // live ones.
            tx.execute(
                "DELETE FROM sessions WHERE expires_at <= ?1",
                [s.created_at_us],
            )
            .map_err(e)?;
            tx.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at, client) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![s.id_hash, s.user_id, s.csrf, s.created_at_us, s.expires_at_us, s.client],
            )
            .map_err(e)?;
            let id = tx.last_insert_rowid();
            tx.execute("DELETE FROM login_failures WHERE key = ?1", [clear_key])
                .map_err(e)?;
            append(tx, chain, audit).map_err(err("writing an audit entry"))?;
            Ok(id)
        })
    }

    fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>> {
        self.reader()?
            .query_row(
                &format!(
                    "SELECT s.id, s.csrf, s.expires_at, {USER_COLUMNS} FROM sessions s \
                     JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?1"
                ),
                [id_hash],
                |r| {
                    Ok(SessionRecord {
                        id: r.get(0)?,
                        csrf: r.get(1)?,
                        expires_at_us: r.get(2)?,
                        user: user_at(r, 3)?,
                    })
                },
            )
            .optional()
            .map_err(err("reading a session"))
    }

    fn sessions(&self, user_id: i64, now_us: i64) -> Result<Vec<SessionInfo>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT s.id, u.name, s.created_at, s.expires_at, s.client FROM sessions s \
                 JOIN users u ON u.id = s.user_id WHERE s.user_id = ?1 AND s.expires_at > ?2 \
                 ORDER BY s.id DESC",
            )
            .map_err(err("listing sessions"))?;
        let rows = stmt
            .query_map(params![user_id, now_us], |r| {
                Ok(SessionInfo {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    created_at: micros_text(r.get(2)?),
                    expires_at: micros_text(r.get(3)?),
                    client: r.get(4)?,
                })
            })
            .map_err(err("listing sessions"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("listing sessions"))
    }

    fn end_sessions(
        &self,
        user_id: i64,
        which: Option<i64>,
        keep: Option<i64>,
        audit: Option<&AuditRecord>,
    ) -> Result<u64> {
        self.audited("ending sessions", |tx, chain| {
            let ended = tx
                .execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR id = ?2) \
                     AND (?3 IS NULL OR id != ?3)",
                    params![user_id, which, keep],
                )
                .map_err(err("ending sessions"))?;
            if ended > 0
                && let Some(audit) = audit
            {
                let mut audit = audit.clone();
                if let Some(serde_json::Value::Object(map)) = &mut audit.after {
                    map.insert("ended".into(), ended.into());
                }
                append(tx, chain, &audit).map_err(err("writing an audit entry"))?;
            }
            Ok(ended as u64)
        })
    }

    fn add_token(&self, t: &NewToken, audit: &AuditRecord) -> Result<TokenInfo> {
        self.audited("storing a token", |tx, chain| {
            tx.execute(
                "INSERT INTO api_tokens (user_id, token_hash, label, created_at, expires_at, scope) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![t.user_id, t.hash, t.label, now(), t.expires_at, t.scope.as_str()],
            )
            .map_err(err("storing a token"))?;
            let id = tx.last_insert_rowid();
            let info = tx
                .query_row(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?1"
                    ),
                    [id],
                    |r| token_at(r, 0),
                )
                .map_err(err("storing a token"))?;
            let mut audit = audit.clone();
            if let Some(serde_json::Value::Object(map)) = &mut audit.after {
                map.insert("token".into(), id.into());
            }
            append(tx, chain, &audit).map_err(err("writing an audit entry"))?;
            Ok(info)
        })
    }

    fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE ?1 IS NULL OR u.name = ?1 ORDER BY t.id"
            ))
            .map_err(err("listing tokens"))?;
        let rows = stmt
            .query_map([user], |r| token_at(r, 0))
            .map_err(err("listing tokens"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing tokens"))
    }

    fn token_by_id(&self, id: i64) -> Result<Option<TokenInfo>> {
        self.reader()?
            .query_row(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?1"
                ),
                [id],
                |r| token_at(r, 0),
            )
            .optional()
            .map_err(err("reading a token"))
    }

    fn token(&self, hash: &str) -> Result<Option<(User, TokenInfo)>> {
        self.reader()?
            .query_row(
                &format!(
                    "SELECT {USER_COLUMNS}, {TOKEN_COLUMNS} FROM api_tokens t \
                     JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1"
                ),
                [hash],
                |r| Ok((user_at(r, 0)?, token_at(r, 7)?)),
            )
            .optional()
            .map_err(err("checking a token"))
    }

    fn revoke_token(&self, id: i64, at: &str, audit: &AuditRecord) -> Result<bool> {
        self.audited("revoking a token", |tx, chain| {
            // Expired as well as revoked, so that anything reading only the expiry refuses it
            // too.
            let n = tx
                .execute(
                    "UPDATE api_tokens SET revoked_at = ?2, expires_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, at],
                )
                .map_err(err("revoking a token"))?;
            if n == 1 {
                append(tx, chain, audit).map_err(err("writing an audit entry"))?;
            }
            Ok(n == 1)
        })
    }

    fn failures(&self, key: &str) -> Result<Failures> {
        Ok(self
            .reader()?
            .query_row(
                "SELECT failures, last_at FROM login_failures WHERE key = ?1",
                [key],
                |r| {
                    Ok(Failures {
                        failures: r.get::<_, i64>(0)?.clamp(0, u32::MAX as i64) as u32,
                        last_at: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(err("reading failed sign-ins"))?
            .unwrap_or_default())
    }

    fn record_failure(
        &self,
        keys: &[&str],
        now_us: i64,
        forgotten_before: i64,
        audit: &AuditRecord,
    ) -> Result<()> {
        self.audited("recording a failed sign-in", |tx, chain| {
            let e = err("recording a failed sign-in");
            // Old counts go (the index on last_at keeps this cheap), so that a stream of
            // guesses under ever new names cannot grow the table without bound.
            tx.execute(
                "DELETE FROM login_failures WHERE last_at <= ?1",
                [forgotten_before],
            )
            .map_err(e)?;
            for key in keys {
                tx.execute(
                    "INSERT INTO login_failures (key, failures, last_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at",
                    params![key, now_us],
                )
                .map_err(e)?;
            }
            append(tx, chain, audit).map_err(err("writing an audit entry"))?;
            Ok(())
        })
    }

    fn clear_failures(&self, key: &str, audit: Option<&AuditRecord>) -> Result<()> {
        self.audited("clearing failed sign-ins", |tx, chain| {
            tx.execute("DELETE FROM login_failures WHERE key = ?1", [key])
                .map_err(err("clearing failed sign-ins"))?;
            if let Some(audit) = audit {
                append(tx, chain, audit).map_err(err("writing an audit entry"))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn user(s: &SqliteStore, name: &str, role: Role) -> User {
        s.add_user(
            &NewUser {
                name: name.into(),
                role,
                organisation: None,
                password_hash: Some("h".into()),
            },
            &record("user.add", name),
        )
        .unwrap()
    }

    fn record(action: &'static str, name: &str) -> AuditRecord {
        AuditRecord {
            actor: "test".into(),
            action,
            subject: format!("user:{name}"),
            before: None,
            after: Some(json!({})),
        }
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
        (dir, store)
    }

    fn actions(s: &SqliteStore) -> Vec<String> {
        use crate::incidents::{AuditFilter, AuditLog};
        s.audit_entries(&AuditFilter::default())
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    #[test]
    fn users_are_unique_and_every_change_is_audited_with_it() {
        let (_d, s) = store();
        let u = user(&s, "a", Role::Analyst);
        assert_eq!(s.user("a").unwrap().unwrap(), u);
        let again = s.add_user(
            &NewUser {
                name: "a".into(),
                role: Role::Peer,
                organisation: None,
                password_hash: None,
            },
            &record("user.add", "a"),
        );
        assert!(matches!(again, Err(StoreError::Invalid(_))));
        let changed = s
            .change_user(
                u.id,
                &UserChange {
                    disabled: Some(true),
                    password_hash: Some("h2".into()),
                    role: Some((Role::Constituent, Some("org-1".into()))),
                    end_sessions: EndSessions::None,
                },
                &record("user.disable", "a"),
            )
            .unwrap();
        assert!(changed.disabled);
        assert_eq!(changed.role, Role::Constituent);
        assert_eq!(changed.organisation.as_deref(), Some("org-1"));
        assert_eq!(changed.password_hash.as_deref(), Some("h2"));
        assert_eq!(actions(&s), ["user.add", "user.disable"]);
    }

    #[test]
    fn sessions_are_listed_and_ended_one_or_all_but_one() {
        let (_d, s) = store();
        let u = user(&s, "a", Role::Analyst);
        let new = |h: &str, exp: i64| NewSession {
            id_hash: h.into(),
            user_id: u.id,
            csrf: format!("csrf-{h}"),
            created_at_us: 100,
            expires_at_us: exp,
            client: "192.0.2.1".into(),
        };
        let one = s
            .create_session(&new("h1", 1_000), "pair:x", &record("auth.sign_in", "a"))
            .unwrap();
        let two = s
            .create_session(&new("h2", 1_000), "pair:x", &record("auth.sign_in", "a"))
            .unwrap();
        let _three = s
            .create_session(&new("h3", 1_000), "pair:x", &record("auth.sign_in", "a"))
            .unwrap();
        assert_eq!(s.session("h1").unwrap().unwrap().csrf, "csrf-h1");
        assert_eq!(s.sessions(u.id, 500).unwrap().len(), 3);
        assert!(s.sessions(u.id, 1_000).unwrap().is_empty(), "expired");
        assert_eq!(
            s.end_sessions(
                u.id,
                Some(one),
                None,
                Some(&record("user.sessions_end", "a"))
            )
            .unwrap(),
            1
        );
        assert!(s.session("h1").unwrap().is_none());
        assert_eq!(
            s.end_sessions(
                u.id,
                None,
                Some(two),
                Some(&record("user.sessions_end", "a"))
            )
            .unwrap(),
            1
        );
        let left: Vec<i64> = s
            .sessions(u.id, 500)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(left, vec![two]);
        // Ending nothing writes no entry.
        assert_eq!(
            s.end_sessions(
                u.id,
                Some(one),
                None,
                Some(&record("user.sessions_end", "a"))
            )
            .unwrap(),
            0
        );
        assert_eq!(
            actions(&s),
            [
                "user.add",
                "auth.sign_in",
                "auth.sign_in",
                "auth.sign_in",
                "user.sessions_end",
                "user.sessions_end"
            ]
        );
    }

    #[test]
    fn tokens_are_returned_whatever_their_state_and_revoked_once() {
        let (_d, s) = store();
        let u = user(&s, "a", Role::Analyst);
        let t = s
            .add_token(
                &NewToken {
                    user_id: u.id,
                    hash: "hash".into(),
                    label: Some("ci".into()),
                    scope: TokenScope::Read,
                    expires_at: None,
                },
                &record("token.issue", "a"),
            )
            .unwrap();
        assert_eq!(t.scope, TokenScope::Read);
        let (owner, info) = s.token("hash").unwrap().unwrap();
        assert_eq!((owner.name.as_str(), info.id), ("a", t.id));
        assert!(
            s.revoke_token(t.id, "2026-01-01T00:00:00Z", &record("token.revoke", "a"))
                .unwrap()
        );
        assert!(
            !s.revoke_token(t.id, "2026-01-02T00:00:00Z", &record("token.revoke", "a"))
                .unwrap()
        );
        let (_, info) = s.token("hash").unwrap().unwrap();
        assert_eq!(info.revoked_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert!(s.token("other").unwrap().is_none());
        assert_eq!(actions(&s), ["user.add", "token.issue", "token.revoke"]);
    }

    #[test]
    fn failures_count_up_restart_when_old_and_clear() {
        let (_d, s) = store();
        let r = record("auth.sign_in_failed", "a");
        s.record_failure(&["pair:a", "client:x"], 10, 0, &r)
            .unwrap();
        s.record_failure(&["pair:a", "client:x"], 20, 0, &r)
            .unwrap();
        assert_eq!(
            s.failures("pair:a").unwrap(),
            Failures {
                failures: 2,
                last_at: 20
            }
        );
        // Everything at or before 20 is forgotten: the count starts again.
        s.record_failure(&["pair:a"], 30, 20, &r).unwrap();
        assert_eq!(s.failures("pair:a").unwrap().failures, 1);
        assert_eq!(s.failures("client:x").unwrap().failures, 0);
        s.clear_failures("pair:a", None).unwrap();
        assert_eq!(s.failures("pair:a").unwrap().failures, 0);
    }
}
