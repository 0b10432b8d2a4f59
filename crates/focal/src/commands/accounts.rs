//! The web application's accounts from the command line: the first admin made by `focal init`,
//! and scoped, revocable API tokens (`focal users token add|list|revoke`).

use super::print_json;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_store::SqliteStore;
use focal_store::sharing::{NewUser, SharingStore};
use focal_store::web::{TOKEN_SCOPES, WebStore};

/// The first admin account: created by `focal init`.
#[derive(Debug, serde::Serialize)]
pub struct FirstAdmin {
    pub name: String,
    /// Present only when generated (shown once; it is not stored anywhere in clear).
    pub generated_password: Option<String>,
}

/// A password of 24 hex digits (96 bits) from the OS random source.
pub fn generate_password() -> Result<String> {
    let (token, _) = focal_sharing::users::new_token()?;
    Ok(token
        .trim_start_matches("focal_")
        .chars()
        .take(24)
        .collect())
}

pub fn create_first_admin(
    store: &SqliteStore,
    name: &str,
    password: Option<&str>,
) -> Result<FirstAdmin> {
    focal_sharing::settings::load(store)?;
    if store.user(name)?.is_some() {
        bail!("there is already a user {name:?}");
    }
    let (password, generated) = match password {
        Some(p) => (p.to_string(), None),
        None => {
            let p = generate_password()?;
            (p.clone(), Some(p))
        }
    };
    let hash = focal_sharing::users::hash_password(&password)
        .context("--admin-password: at least 8 characters")?;
    store.add_user(&NewUser {
        name: name.to_string(),
        role: "admin".into(),
        organisation: None,
        password_hash: Some(hash),
    })?;
    Ok(FirstAdmin {
        name: name.to_string(),
        generated_password: generated,
    })
}

/// `focal users token NAME` issues a full-rights token (as before); the subcommands manage
/// scoped tokens.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: Option<TokenCommand>,
    /// The account (issues a token with write scope).
    pub name: Option<String>,
    #[arg(long)]
    pub label: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a token; it is shown once.
    Add {
        name: String,
        /// read (GET only on /api/v1) or write.
        #[arg(long, default_value = "read")]
        scope: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// List tokens (never their values), of one account or all.
    List { name: Option<String> },
    /// Revoke a token by its id (from `list`).
    Revoke { id: i64 },
}

pub fn token(store: &SqliteStore, args: TokenArgs, json: bool) -> Result<()> {
    let command = match (args.command, args.name) {
        (Some(c), _) => c,
        (None, Some(name)) => TokenCommand::Add {
            name,
            scope: "write".into(),
            label: args.label,
        },
        (None, None) => bail!("give an account name, or one of: add, list, revoke"),
    };
    match command {
        TokenCommand::Add { name, scope, label } => {
            if !TOKEN_SCOPES.contains(&scope.as_str()) {
                bail!("--scope {scope:?}: expected read or write");
            }
            let user = store
                .user(&name)?
                .with_context(|| format!("no user {name:?}"))?;
            let (token, hash) = focal_sharing::users::new_token()?;
            let id = store.add_scoped_token(user.id, &hash, label.as_deref(), &scope)?;
            if json {
                print_json(
                    &serde_json::json!({"user": name, "id": id, "scope": scope, "token": token}),
                )
            } else {
                println!("{token}");
                Ok(())
            }
        }
        TokenCommand::List { name } => {
            let list = store.tokens(name.as_deref())?;
            if json {
                return print_json(&list);
            }
            for t in &list {
                println!(
                    "{:>5} {:<20} {:<6} {:<24} {}",
                    t.id,
                    t.user,
                    t.scope,
                    t.label.as_deref().unwrap_or("-"),
                    t.revoked_at
                        .as_deref()
                        .map(|r| format!("revoked {r}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            if !store.revoke_token(id)? {
                bail!("no token {id} that is not already revoked");
            }
            if json {
                print_json(&serde_json::json!({"revoked": id}))
            } else {
                println!("Token {id} revoked.");
                Ok(())
            }
        }
    }
}
