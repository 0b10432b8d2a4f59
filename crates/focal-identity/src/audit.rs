//! The audit actions of identity, declared once. Every entry's subject is `user:<name>`, so
//! `focal audit list --subject user:alice` shows everything about one account.

pub const USER_ADD: &str = "user.add";
pub const USER_DISABLE: &str = "user.disable";
pub const USER_ENABLE: &str = "user.enable";
/// An administrator set another account's password.
pub const USER_PASSWORD_RESET: &str = "user.password_reset";
/// A user changed their own password (proving the current one).
pub const USER_PASSWORD_CHANGE: &str = "user.password_change";
pub const USER_ROLE: &str = "user.role";
/// Rights on a TAXII collection granted or changed.
pub const USER_GRANT: &str = "user.grant";
pub const USER_SESSIONS_END: &str = "user.sessions_end";
pub const TOKEN_ISSUE: &str = "token.issue";
pub const TOKEN_REVOKE: &str = "token.revoke";
/// A password accepted: a web sign-in, or a TAXII HTTP Basic password verified.
pub const SIGN_IN: &str = "auth.sign_in";
/// A password refused (the client address and the reason; never the password).
pub const SIGN_IN_FAILED: &str = "auth.sign_in_failed";
pub const SIGN_OUT: &str = "auth.sign_out";

/// The subject of every entry about an account.
pub fn subject(name: &str) -> String {
    // Names of accounts are at most 128 characters; a failed sign-in may name anything, so the
    // subject is cut to that length rather than letting a client write long strings into it.
    let name: String = name.chars().take(128).collect();
    format!("user:{name}")
}
