//! The audit chain's key: a secret kept outside the database, so that whoever can rewrite the
//! database but not read the key cannot forge the chain (`focal_store::audit_chain`).
//!
//! It is the file `DATA/audit.key` (mode 0600), made the first time a data folder is opened by
//! a Focal that keys its chain (at `init` for a new folder), or the environment variable
//! `FOCAL_AUDIT_KEY`, which then takes precedence and no file is read or made. Both hold one
//! line:
//!
//! ```text
//! focal-audit-key v1 keyed_from=1 key=<64 hex digits>
//! ```
//!
//! (the variable may also hold just the 64 hex digits, meaning `keyed_from=1`). `keyed_from` is
//! the first entry sealed with the key: a data folder made before Focal keyed its chain keeps
//! its older entries as they were (plain SHA-256, still verified), and every entry from there
//! on is HMAC-SHA-256. It is recorded with the key, outside the database, so nobody can move it
//! by editing the database.
//!
//! The chain records which key seals it: an `audit.keyed` entry (subject `audit`) with the key's
//! fingerprint and `keyed_from`, written when the key is first used. A process with another key,
//! or none, for a chain that has one (another machine's data folder on the same PostgreSQL) may
//! read but not append or verify, and says which key to copy.

use crate::config::DataDir;
use anyhow::{Context, Result, bail};
use focal_store::audit_chain::{AuditKey, Keying};
use focal_store::incidents::AuditLog;
use std::io::Write;
use std::path::Path;

pub const KEY_FILE: &str = "audit.key";
pub const KEY_ENV: &str = "FOCAL_AUDIT_KEY";
/// The entry that records which key seals the chain.
pub const KEYED_ACTION: &str = "audit.keyed";
pub const KEYED_SUBJECT: &str = "audit";

/// The one-line form of a key (the file's content and `FOCAL_AUDIT_KEY`'s).
pub fn format(key: &AuditKey) -> String {
    format!(
        "focal-audit-key v1 keyed_from={} key={}\n",
        key.keyed_from(),
        hex::encode(key.bytes())
    )
}

/// Reads a key's line; the error says what is wrong, never the key.
pub fn parse(text: &str) -> Result<AuditKey> {
    let text = text.trim();
    let bytes = |hex_text: &str| -> Result<[u8; 32]> {
        let v = hex::decode(hex_text).ok().filter(|v| v.len() == 32);
        let Some(v) = v else {
            bail!("the key must be 64 hexadecimal digits");
        };
        let mut b = [0u8; 32];
        b.copy_from_slice(&v);
        Ok(b)
    };
    if !text.contains(' ') {
        return Ok(AuditKey::new(bytes(text)?, 1));
    }
    let mut parts = text.split_whitespace();
    if (parts.next(), parts.next()) != (Some("focal-audit-key"), Some("v1")) {
        bail!("expected `focal-audit-key v1 keyed_from=N key=HEX`");
    }
    let (mut from, mut key) = (None, None);
    for part in parts {
        match part.split_once('=') {
            Some(("keyed_from", n)) => {
                from = Some(
                    n.parse::<i64>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .context("keyed_from must be an entry id (1 or more)")?,
                )
            }
            Some(("key", k)) => key = Some(bytes(k)?),
            _ => bail!("unexpected {:?}", part.split('=').next().unwrap_or(part)),
        }
    }
    match (from, key) {
        (Some(from), Some(key)) => Ok(AuditKey::new(key, from)),
        _ => bail!("both keyed_from= and key= are needed"),
    }
}

fn read_file(path: &Path) -> Result<Option<AuditKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        file = %path.display(),
                        "the audit key can be read by other users of this machine: chmod 600 it"
                    );
                }
            }
            parse(&text)
                .map(Some)
                .with_context(|| format!("{}: not an audit key", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a new key file, mode 0600, whole or not at all, and only if none exists: a key
/// another process made first is read and used instead.
fn create_file(path: &Path, key: &AuditKey) -> Result<AuditKey> {
    let tmp = path.with_extension(format!("key.{}.tmp", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(format(key).as_bytes())?;
        f.sync_all()?;
    }
    // A hard link fails if the name exists: exactly one process's key wins.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key.clone()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_file(path)?
            .with_context(|| format!("{} vanished while it was made", path.display())),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// The key's fingerprint recorded in the chain, if the chain has been keyed.
fn recorded_fingerprint(log: &dyn AuditLog) -> Result<Option<String>> {
    Ok(log
        .audit_latest(KEYED_ACTION, KEYED_SUBJECT)?
        .and_then(|e| e.after)
        .and_then(|a| a["key"].as_str().map(str::to_string)))
}

/// Gives the store the data folder's key, making it on first use. A key that is not the one
/// the chain records, or no key for a chain that has one, leaves the store able to read but
/// not to append or verify, with a message saying what to do.
pub fn attach(dir: &DataDir, log: &dyn AuditLog) -> Result<()> {
    let file = dir.root.join(KEY_FILE);
    let recorded = recorded_fingerprint(log)?;
    let key = match std::env::var(KEY_ENV) {
        Ok(text) => Some(parse(&text).with_context(|| format!("{KEY_ENV}: not an audit key"))?),
        Err(_) => read_file(&file)?,
    };
    let key = match (key, &recorded) {
        (Some(key), _) => key,
        (None, Some(fingerprint)) => {
            log.set_audit_keying(Keying::Unavailable(format!(
                "this database's audit log is sealed with the audit key {fingerprint}, and this data folder has no key: copy {KEY_FILE} from the data folder that made it into {}, or set {KEY_ENV}",
                dir.root.display()
            )));
            return Ok(());
        }
        (None, None) => {
            let next = log.audit_head()?.map(|(id, _)| id + 1).unwrap_or(1);
            let secret = focal_identity::credentials::new_secret_key()?;
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&secret);
            match create_file(&file, &AuditKey::new(bytes, next)) {
                Ok(key) => key,
                Err(e) => {
                    // A data folder that cannot be written (a read-only copy) can still be
                    // read; appending would need the key.
                    log.set_audit_keying(Keying::Unavailable(format!(
                        "the audit log has no key yet and none could be made: {e:#}"
                    )));
                    return Ok(());
                }
            }
        }
    };
    if let Some(fingerprint) = &recorded
        && fingerprint != &key.fingerprint()
    {
        log.set_audit_keying(Keying::Unavailable(format!(
            "this database's audit log is sealed with the audit key {fingerprint}, not this data folder's ({}): use the key of the data folder that made it ({KEY_FILE} or {KEY_ENV})",
            key.fingerprint()
        )));
        return Ok(());
    }
    let (fingerprint, keyed_from) = (key.fingerprint(), key.keyed_from());
    log.set_audit_keying(Keying::Keyed(key));
    if recorded.is_none() {
        log.audit_append(
            crate::commands::audit::actor(),
            KEYED_ACTION,
            KEYED_SUBJECT,
            None,
            Some(&serde_json::json!({"key": fingerprint, "keyed_from": keyed_from})),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written_and_bad_ones_are_refused_without_showing_them() {
        let key = AuditKey::new([7u8; 32], 42);
        assert_eq!(parse(&format(&key)).unwrap(), key);
        assert_eq!(
            parse(&hex::encode([7u8; 32])).unwrap(),
            AuditKey::new([7u8; 32], 1)
        );
        for bad in [
            "focal-audit-key v1 keyed_from=0 key=0707",
            "focal-audit-key v2 keyed_from=1 key=00",
            &format!("focal-audit-key v1 key={}", hex::encode([7u8; 32])),
            "abcd",
        ] {
            let e = format!("{:#}", parse(bad).unwrap_err());
            assert!(!e.contains(&hex::encode([7u8; 32])), "{e}");
        }
    }

    #[test]
    fn the_key_file_is_private_and_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let first = create_file(&path, &AuditKey::new([1u8; 32], 1)).unwrap();
        let second = create_file(&path, &AuditKey::new([2u8; 32], 9)).unwrap();
        assert_eq!(first, second, "the key made first wins");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}
