//! The data folder's lock, `DATA/focal.lock`: every command that opens the folder holds it
//! shared for as long as it runs (`DataDir::open`), and `init` and `demo`, which create or
//! replace a folder, hold it exclusively. So a folder that `focal serve` (or any other Focal
//! process) is using is never replaced under it, and nothing opens a folder half made. The file
//! holds the pid of the last process that took it exclusively or of the last `focal serve`, so a
//! refusal can name who is using the folder.
//!
//! `flock` locks belong to an open file, and two opens of one file in one process conflict like
//! two processes would: a process that holds the exclusive lock (the demo, building its folder
//! with the same functions every command uses) is remembered here and takes no shared lock.

use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const LOCK_FILE: &str = "focal.lock";

/// Folders this process holds exclusively (absolute paths).
static EXCLUSIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn key(root: &Path) -> PathBuf {
    std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf())
}

fn held_here(root: &Path) -> bool {
    let key = key(root);
    EXCLUSIVE
        .lock()
        .map(|held| held.contains(&key))
        .unwrap_or(false)
}

fn open(root: &Path) -> Result<File> {
    let path = root.join(LOCK_FILE);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening the data folder's lock {}", path.display()))
}

/// The pid written in the lock file, if any.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn write_pid(mut file: &File) -> Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(())
}

fn who(pid: Option<u32>) -> String {
    match pid {
        Some(p) => format!("process {p}"),
        None => "another process".into(),
    }
}

/// The folder held exclusively by this process until dropped.
pub struct Exclusive {
    /// `None` when this process already held it (a nested hold releases nothing).
    file: Option<File>,
    key: PathBuf,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if self.file.take().is_some()
            && let Ok(mut held) = EXCLUSIVE.lock()
        {
            held.retain(|k| k != &self.key);
        }
    }
}

/// Holds `root` exclusively (creating the folder if needed), or says which process uses it.
/// `doing` completes "stop it before ...".
pub fn exclusive(root: &Path, doing: &str) -> Result<Exclusive> {
    let key = key(root);
    if held_here(root) {
        return Ok(Exclusive { file: None, key });
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let mut file = open(root)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => bail!(
            "{} is in use by {} (it holds {}); stop it before {doing}",
            root.display(),
            who(holder(&mut file)),
            root.join(LOCK_FILE).display()
        ),
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", root.join(LOCK_FILE).display()));
        }
    }
    write_pid(&file).with_context(|| format!("writing {}", root.join(LOCK_FILE).display()))?;
    if let Ok(mut held) = EXCLUSIVE.lock() {
        held.push(key.clone());
    }
    Ok(Exclusive {
        file: Some(file),
        key,
    })
}

/// The folder held shared while it is open; `None` when this process holds it exclusively.
pub fn shared(root: &Path) -> Result<Option<File>> {
    if held_here(root) {
        return Ok(None);
    }
    let mut file = open(root)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => bail!(
            "{} is being created or replaced by {} (it holds {}); try again when it has finished",
            root.display(),
            who(holder(&mut file)),
            root.join(LOCK_FILE).display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", root.join(LOCK_FILE).display()))
        }
    }
}

/// Writes this process's pid into the lock held shared (`focal serve`, the long-lived user a
/// refused `demo` or `init` should name).
pub fn announce(file: &File) -> Result<()> {
    write_pid(file)
}
