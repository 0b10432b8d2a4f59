//! `focal users`: accounts on this node (people for the web UI and the API, peers for TAXII).
//! Every change goes through `focal_identity::accounts` and is audited with the command's
//! actor (`--actor`, else $USER, recorded as `user:<name>`).

use super::table::{Table, col, num};
use super::{open_sqlite, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_identity::accounts;
use focal_identity::{IdentityStore, Role};
use focal_store::SqliteStore;
use focal_store::sharing::{Rights, SharingStore};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add an account.
    Add(AddArgs),
    /// List accounts.
    List,
    /// Disable an account: its sessions end at once, its tokens and password are refused.
    Disable { name: String },
    /// Enable a disabled account again (its tokens work again; it signs in anew).
    Enable { name: String },
    /// Set an account's password (every session of it ends).
    Password {
        name: String,
        /// The new password (or FOCAL_USER_PASSWORD); at least 8 characters.
        #[arg(long, env = "FOCAL_USER_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Change an account's role (every session of it ends).
    Role {
        name: String,
        /// admin, analyst, auditor, constituent or peer.
        role: Role,
        /// The constituent a constituent's account belongs to.
        #[arg(long)]
        organisation: Option<String>,
    },
    /// An account's sessions: list them, or end one or all.
    Sessions(SessionsArgs),
    /// API (bearer) tokens: `token NAME` issues one (shown once); `token add|list|revoke`.
    Token(super::accounts::TokenArgs),
    /// Change an account's rights on a collection: exactly the rights named change.
    Grant(GrantArgs),
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The account's name (a peer's account is usually the peer organisation's name).
    pub name: String,
    /// admin, analyst, auditor, constituent or peer.
    #[arg(long)]
    pub role: Role,
    /// The password (or FOCAL_USER_PASSWORD); at least 8 characters.
    #[arg(long, env = "FOCAL_USER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The organisation the account belongs to.
    #[arg(long)]
    pub organisation: Option<String>,
    /// Collections (id or alias) this account may read; repeat. Peers default to the shared one.
    #[arg(long)]
    pub read: Vec<String>,
    /// Collections this account may write to; repeat.
    #[arg(long)]
    pub write: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: SessionsCommand,
}

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// The account's live sessions: id, when, from where.
    List { name: String },
    /// End one session of the account (by id), or all of them.
    End {
        name: String,
        /// The session (from `list`); without it, every session of the account.
        id: Option<i64>,
    },
}

#[derive(Args, Debug)]
pub struct GrantArgs {
    /// The account.
    pub name: String,
    /// The collection (id or alias).
    #[arg(long)]
    pub collection: String,
    /// Give the right to read the collection. Rights not named keep their current value.
    #[arg(long, conflicts_with = "no_read")]
    pub read: bool,
    /// Take away the right to read the collection.
    #[arg(long)]
    pub no_read: bool,
    /// Give the right to write (TAXII POST, DELETE) to the collection.
    #[arg(long, conflicts_with = "no_write")]
    pub write: bool,
    /// Take away the right to write to the collection.
    #[arg(long)]
    pub no_write: bool,
}

/// Prints `value` as JSON, or `text` for people.
fn answer(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        print_json(&value)
    } else {
        println!("{}", text());
        Ok(())
    }
}

/// Audits a change of rights on collections (`users add --read/--write`, `users grant`). The
/// entry is written before the change, so no change is ever made unaudited; a failed change
/// after it leaves an entry naming rights that were not set, which the next listing shows.
fn audit_grant(
    store: &SqliteStore,
    user: &str,
    collection: &str,
    before: Option<Rights>,
    after: Rights,
) -> Result<()> {
    use focal_store::incidents::AuditLog;
    store.audit_append(
        super::audit::actor(),
        focal_identity::audit::USER_GRANT,
        &focal_identity::audit::subject(user),
        before
            .map(|r| serde_json::json!({"collection": collection, "rights": r}))
            .as_ref(),
        Some(&serde_json::json!({"collection": collection, "rights": after})),
    )?;
    Ok(())
}

pub fn run(data: &Path, cmd: UsersCommand, json: bool) -> Result<()> {
    let (_, store) = open_sqlite(data, "the user store")?;
    focal_sharing::settings::load(&store)?;
    let actor = super::audit::actor();
    match cmd {
        UsersCommand::Add(a) => {
            let user = accounts::add(
                &store,
                &a.name,
                a.role,
                a.organisation.as_deref(),
                a.password.as_deref(),
                actor,
            )?;
            let mut read = a.read.clone();
            if a.role == Role::Peer && read.is_empty() && a.write.is_empty() {
                read.push(focal_sharing::import::DEFAULT_COLLECTION.into());
            }
            let mut granted = Vec::new();
            for c in read.iter().chain(a.write.iter()) {
                let coll = store
                    .collection(c)?
                    .with_context(|| format!("no collection {c:?}"))?;
                let rights = Rights {
                    can_read: read.contains(c),
                    can_write: a.write.contains(c),
                };
                let before = store.rights(user.id, &coll.id)?;
                let merged = before
                    .map(|r| Rights {
                        can_read: r.can_read || rights.can_read,
                        can_write: r.can_write || rights.can_write,
                    })
                    .unwrap_or(rights);
                audit_grant(&store, &user.name, &coll.id, before, merged)?;
                store.set_rights(user.id, &coll.id, merged)?;
                granted.push(serde_json::json!({"collection": coll.id, "rights": merged}));
            }
            answer(
                json,
                serde_json::json!({"user": user, "rights": granted}),
                || format!("User {} ({}) added.", user.name, user.role),
            )
        }
        UsersCommand::List => {
            let users = store.users()?;
            if json {
                return print_json(&users);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[col("name"), col("role"), col("organisation"), col("state")]);
            for u in &users {
                t.row(
                    &mut out,
                    vec![
                        u.name.clone(),
                        u.role.to_string(),
                        u.organisation.as_deref().unwrap_or("-").into(),
                        if u.disabled { "disabled" } else { "active" }.into(),
                    ],
                )?;
            }
            t.finish(&mut out, "No user accounts.")?;
            Ok(())
        }
        UsersCommand::Disable { name } => {
            let u = accounts::set_disabled(&store, &name, true, actor)?;
            answer(json, serde_json::json!({"user": u}), || {
                format!(
                    "User {name} disabled: its sessions ended, its tokens and password are refused."
                )
            })
        }
        UsersCommand::Enable { name } => {
            let u = accounts::set_disabled(&store, &name, false, actor)?;
            answer(json, serde_json::json!({"user": u}), || {
                format!("User {name} enabled.")
            })
        }
        UsersCommand::Password { name, password } => {
            let u = accounts::reset_password(&store, &name, &password, actor)?;
            answer(json, serde_json::json!({"user": u}), || {
                format!("Password of {name} set; its sessions ended.")
            })
        }
        UsersCommand::Role {
            name,
            role,
            organisation,
        } => {
            let u = accounts::set_role(&store, &name, role, organisation.as_deref(), actor)?;
            answer(json, serde_json::json!({"user": u}), || {
                format!("{name} is now {}; its sessions ended.", u.role)
            })
        }
        UsersCommand::Sessions(SessionsArgs {
            command: SessionsCommand::List { name },
        }) => {
            let user = accounts::find(&store, &name)?;
            let list = store.sessions(user.id, jiff::Timestamp::now().as_microsecond())?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[num("#"), col("started"), col("until"), col("from")]);
            for s in &list {
                t.row(
                    &mut out,
                    vec![
                        s.id.to_string(),
                        s.created_at.to_string(),
                        s.expires_at.to_string(),
                        s.client.as_deref().unwrap_or("-").into(),
                    ],
                )?;
            }
            t.finish(&mut out, &format!("{name} has no open sessions."))?;
            Ok(())
        }
        UsersCommand::Sessions(SessionsArgs {
            command: SessionsCommand::End { name, id },
        }) => {
            let ended = accounts::end_sessions(&store, &name, id, None, actor)?;
            answer(
                json,
                serde_json::json!({"user": name, "ended": ended}),
                || format!("{ended} session(s) of {name} ended."),
            )
        }
        UsersCommand::Token(args) => super::accounts::token(&store, args, json),
        UsersCommand::Grant(g) => {
            let user = accounts::find(&store, &g.name)?;
            let coll = store
                .collection(&g.collection)?
                .with_context(|| format!("no collection {:?}", g.collection))?;
            if !(g.read || g.no_read || g.write || g.no_write) {
                bail!("say which rights to change: --read, --no-read, --write, --no-write");
            }
            let before = store.rights(user.id, &coll.id)?;
            // Exactly the rights named change; the others keep their value (none: no right).
            let (was_read, was_write) =
                before.map_or((false, false), |r| (r.can_read, r.can_write));
            let rights = Rights {
                can_read: if g.read {
                    true
                } else if g.no_read {
                    false
                } else {
                    was_read
                },
                can_write: if g.write {
                    true
                } else if g.no_write {
                    false
                } else {
                    was_write
                },
            };
            if before != Some(rights) {
                audit_grant(&store, &g.name, &coll.id, before, rights)?;
            }
            store.set_rights(user.id, &coll.id, rights)?;
            answer(
                json,
                serde_json::json!({"user": g.name, "collection": coll.id, "rights": rights}),
                || {
                    format!(
                        "{} on {}: read {} write {}.",
                        g.name, coll.id, rights.can_read, rights.can_write
                    )
                },
            )
        }
    }
}
