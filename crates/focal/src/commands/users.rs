//! `focal users`: accounts on this node. Peers use them for TAXII; the web application extends
//! the same store.

use super::{open_sqlite, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_store::sharing::{NewUser, ROLES, Rights, SharingStore};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add an account.
    Add(AddArgs),
    /// List accounts.
    List,
    /// API (bearer) tokens: `token NAME` issues one (shown once); `token add|list|revoke`.
    Token(super::accounts::TokenArgs),
    /// Grant an account rights on a collection.
    Grant(GrantArgs),
}

#[derive(Args, Debug)]
pub struct AddArgs {
    pub name: String,
    /// admin, analyst, auditor, constituent or peer.
    #[arg(long)]
    pub role: String,
    /// The password (or FOCAL_USER_PASSWORD); at least 8 characters.
    #[arg(long, env = "FOCAL_USER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
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
pub struct GrantArgs {
    pub name: String,
    #[arg(long)]
    pub collection: String,
    #[arg(long)]
    pub read: bool,
    #[arg(long)]
    pub write: bool,
}

pub fn run(data: &Path, cmd: UsersCommand, json: bool) -> Result<()> {
    let (_, store) = open_sqlite(data, "the user store")?;
    focal_sharing::settings::load(&store)?;
    match cmd {
        UsersCommand::Add(a) => {
            if !ROLES.contains(&a.role.as_str()) {
                bail!("--role {:?}: expected one of {}", a.role, ROLES.join(", "));
            }
            if a.name.is_empty() || a.name.contains(':') || a.name.len() > 128 {
                bail!(
                    "user name {:?}: 1 to 128 characters, no ':' (HTTP Basic forbids it)",
                    a.name
                );
            }
            let hash = a
                .password
                .as_deref()
                .map(focal_sharing::users::hash_password)
                .transpose()?;
            let user = store.add_user(&NewUser {
                name: a.name.clone(),
                role: a.role.clone(),
                organisation: a.organisation.clone(),
                password_hash: hash,
            })?;
            let mut read = a.read.clone();
            if a.role == "peer" && read.is_empty() && a.write.is_empty() {
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
                let merged = store
                    .rights(user.id, &coll.id)?
                    .map(|r| Rights {
                        can_read: r.can_read || rights.can_read,
                        can_write: r.can_write || rights.can_write,
                    })
                    .unwrap_or(rights);
                store.set_rights(user.id, &coll.id, merged)?;
                granted.push(serde_json::json!({"collection": coll.id, "rights": merged}));
            }
            if json {
                print_json(&serde_json::json!({"user": user, "rights": granted}))
            } else {
                println!("User {} ({}) added.", user.name, user.role);
                Ok(())
            }
        }
        UsersCommand::List => {
            let users = store.users()?;
            if json {
                return print_json(&users);
            }
            for u in &users {
                println!(
                    "{:<20} {:<12} {} {}",
                    u.name,
                    u.role,
                    u.organisation.as_deref().unwrap_or("-"),
                    if u.disabled { "disabled" } else { "" }
                );
            }
            Ok(())
        }
        UsersCommand::Token(args) => super::accounts::token(&store, args, json),
        UsersCommand::Grant(g) => {
            let user = store
                .user(&g.name)?
                .with_context(|| format!("no user {:?}", g.name))?;
            let coll = store
                .collection(&g.collection)?
                .with_context(|| format!("no collection {:?}", g.collection))?;
            let rights = Rights {
                can_read: g.read,
                can_write: g.write,
            };
            store.set_rights(user.id, &coll.id, rights)?;
            if json {
                print_json(
                    &serde_json::json!({"user": g.name, "collection": coll.id, "rights": rights}),
                )
            } else {
                println!(
                    "{} on {}: read {} write {}.",
                    g.name, coll.id, g.read, g.write
                );
                Ok(())
            }
        }
    }
}
