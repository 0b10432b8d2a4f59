//! The web application's accounts from the command line: the first admin made by `focal init`,
//! and scoped, revocable API tokens (`focal users token add|list|revoke`).

use super::print_json;
use super::table::{Table, col, num};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_identity::{IdentityStore, Role, TokenScope, accounts};
use focal_store::SqliteStore;

/// The first admin account: created by `focal init`.
#[derive(Debug, serde::Serialize)]
pub struct FirstAdmin {
    pub name: String,
    /// Present only when generated (shown once; it is not stored anywhere in clear).
    pub generated_password: Option<String>,
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
            let p = focal_identity::credentials::generate_password()?;
            (p.clone(), Some(p))
        }
    };
    accounts::add(
        store,
        name,
        Role::Admin,
        None,
        Some(&password),
        super::audit::actor(),
    )
    .context("--admin-password: at least 8 characters")?;
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
        /// read (GET and HEAD only, on /api/v1 and on TAXII) or write.
        #[arg(long, default_value = "read")]
        scope: TokenScope,
        #[arg(long)]
        label: Option<String>,
        /// The token stops working after this many days (default: until revoked).
        #[arg(long)]
        expires_days: Option<u32>,
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
            scope: TokenScope::Write,
            label: args.label,
            expires_days: None,
        },
        (None, None) => bail!("give an account name, or one of: add, list, revoke"),
    };
    match command {
        TokenCommand::Add {
            name,
            scope,
            label,
            expires_days,
        } => {
            let expires = expires_days
                .map(|d| {
                    jiff::Timestamp::now()
                        .checked_add(jiff::SignedDuration::from_hours(i64::from(d) * 24))
                        .context("--expires-days: too far in the future")
                })
                .transpose()?;
            let (token, info) = accounts::issue_token(
                store,
                &name,
                scope,
                label.as_deref(),
                expires,
                super::audit::actor(),
            )?;
            if json {
                print_json(&serde_json::json!({
                    "user": name, "id": info.id, "scope": scope, "token": token,
                    "expires_at": info.expires_at,
                }))
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
            let mut out = std::io::stdout().lock();
            let mut table = Table::new(&[
                num("#"),
                col("user"),
                col("scope"),
                col("label"),
                col("revoked"),
            ]);
            for t in &list {
                table.row(
                    &mut out,
                    vec![
                        t.id.to_string(),
                        t.user.to_string(),
                        t.scope.to_string(),
                        t.label.as_deref().unwrap_or("-").into(),
                        t.revoked_at.as_deref().unwrap_or("-").into(),
                    ],
                )?;
            }
            table.finish(&mut out, "No tokens.")?;
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            if !accounts::revoke_token(store, id, super::audit::actor())? {
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
