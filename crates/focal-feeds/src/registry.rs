//! The feed registry: the definitions a data folder pulls on its own, one TOML file per feed in
//! `DATA/feeds/`, named after the feed (`DATA/feeds/<name>.toml`).
//!
//! Files are copied in verbatim (comments and all) after validation, and written under a
//! temporary name, synced and renamed, so a reader never sees half a definition. The folder is
//! the truth: a definition edited by hand is picked up by the next reader, and one that no longer
//! validates is reported with its file and setting rather than skipped silently.

use crate::definition::{DefinitionError, Feed};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The registry's folder inside a data folder.
pub const FOLDER: &str = "feeds";
/// Where pulled files are kept, one folder per feed, inside the registry's folder.
pub const DOWNLOADS: &str = "downloads";
/// The largest definition file accepted.
pub const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// A registered feed.
#[derive(Debug, Clone)]
pub struct Registered {
    pub path: PathBuf,
    /// The definition file as written.
    pub toml: String,
    pub feed: Feed,
}

impl Registered {
    pub fn name(&self) -> &str {
        &self.feed.name
    }

    /// The definition as it may be shown and audited: secrets redacted (see [`crate::redact`]).
    pub fn shown(&self) -> String {
        crate::redact::definition(&self.toml)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: name: {name:?} cannot name a registered feed: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    BadName { path: String, name: String },
    #[error(
        "a feed named {name:?} is already registered ({path}); pass --replace to replace its definition"
    )]
    Exists { name: String, path: String },
    #[error("no feed named {0:?} is registered (see `focal feeds list`)")]
    Missing(String),
    #[error("{path}: the file is named for feed {stem:?} but defines name = {name:?}")]
    Misnamed {
        path: String,
        stem: String,
        name: String,
    },
    #[error("{path}: larger than {MAX_DEFINITION_BYTES} bytes; a feed definition is a short file")]
    TooLarge { path: String },
}

/// True if `name` can be a registered feed's file name (and a folder name for its downloads).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// The registry of one data folder.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// What adding a definition did.
#[derive(Debug)]
pub struct Added {
    pub entry: Registered,
    /// The definition it replaced, as it was written.
    pub replaced: Option<String>,
}

/// A validated definition written out under a temporary name beside its final one, not yet
/// registered: [`Staged::commit`] renames it into place; dropped, it is removed. Between the two
/// the caller records the change (the audit log), so that a change is never made unrecorded, and
/// what can fail in writing (space, permissions) has failed before anything was recorded.
#[derive(Debug)]
pub struct Staged {
    added: Option<Added>,
    tmp: PathBuf,
}

impl Staged {
    /// What committing registers, and what it replaces.
    pub fn added(&self) -> &Added {
        self.added
            .as_ref()
            .expect("a staged definition until committed")
    }

    /// Renames the definition into place.
    pub fn commit(mut self) -> Result<Added, RegistryError> {
        let added = self.added.take().expect("committed once");
        let path = &added.entry.path;
        std::fs::rename(&self.tmp, path).map_err(io(path))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        Ok(added)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.added.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read_bounded(path: &Path) -> Result<String, RegistryError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.len() > MAX_DEFINITION_BYTES {
        return Err(RegistryError::TooLarge {
            path: path.display().to_string(),
        });
    }
    std::fs::read_to_string(path).map_err(io(path))
}

impl Registry {
    /// The registry of the data folder `data` (the folder need not exist yet).
    pub fn new(data: &Path) -> Registry {
        Registry {
            dir: data.join(FOLDER),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder a feed's downloads go to.
    pub fn downloads(&self, name: &str) -> PathBuf {
        self.dir.join(DOWNLOADS).join(name)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    /// Every definition file, sorted by name; each is a feed or the reason it is not usable.
    pub fn list(&self) -> Result<Vec<Result<Registered, RegistryError>>, RegistryError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&self.dir))?.path();
            let is_toml = path.extension().is_some_and(|e| e == "toml")
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'));
            if is_toml && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths.into_iter().map(|p| self.load(&p)).collect())
    }

    fn load(&self, path: &Path) -> Result<Registered, RegistryError> {
        let toml = read_bounded(path)?;
        let feed = Feed::from_toml(&toml, &path.display().to_string())?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != &*feed.name {
            return Err(RegistryError::Misnamed {
                path: path.display().to_string(),
                stem: stem.to_string(),
                name: feed.name.to_string(),
            });
        }
        Ok(Registered {
            path: path.to_path_buf(),
            toml,
            feed,
        })
    }

    /// The registered feed `name`.
    pub fn get(&self, name: &str) -> Result<Registered, RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::Missing(name.to_string()));
        }
        let path = self.file(name);
        if !path.is_file() {
            return Err(RegistryError::Missing(name.to_string()));
        }
        self.load(&path)
    }

    /// Validates the definition in `source` and copies it in as `<name>.toml`. A feed of the
    /// same name is refused unless `replace` is set.
    pub fn add(&self, source: &Path, replace: bool) -> Result<Added, RegistryError> {
        let toml = read_bounded(source)?;
        self.add_toml(toml, &source.display().to_string(), replace)
    }

    /// As [`Registry::add`], for a definition already read; `shown` names it in messages.
    pub fn add_toml(
        &self,
        toml: String,
        shown: &str,
        replace: bool,
    ) -> Result<Added, RegistryError> {
        self.stage(toml, shown, replace)?.commit()
    }

    /// Validates a definition and writes it out beside its final name, to be committed (see
    /// [`Staged`]). A feed of the same name is refused unless `replace` is set.
    pub fn stage(&self, toml: String, shown: &str, replace: bool) -> Result<Staged, RegistryError> {
        let shown = shown.to_string();
        if toml.len() as u64 > MAX_DEFINITION_BYTES {
            return Err(RegistryError::TooLarge { path: shown });
        }
        let feed = Feed::from_toml(&toml, &shown)?;
        // The registry keeps the definition in DATA/feeds/, where a relative path would point
        // somewhere else than where it was written.
        if let Some(s) = &feed.definition.shadowserver
            && Path::new(s.schema.trim()).is_relative()
        {
            return Err(RegistryError::Definition(DefinitionError::Setting {
                path: shown,
                setting: "shadowserver.schema".into(),
                message: format!(
                    "{:?}: a registered definition needs an absolute path (the registry keeps it in {})",
                    s.schema.trim(),
                    self.dir().display()
                ),
            }));
        }
        if !valid_name(&feed.name) {
            return Err(RegistryError::BadName {
                path: shown,
                name: feed.name.to_string(),
            });
        }
        let path = self.file(&feed.name);
        let replaced = if path.exists() {
            if !replace {
                return Err(RegistryError::Exists {
                    name: feed.name.to_string(),
                    path: path.display().to_string(),
                });
            }
            Some(read_bounded(&path)?)
        } else {
            None
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let tmp = write_synced(&path, toml.as_bytes())?;
        Ok(Staged {
            added: Some(Added {
                entry: Registered { path, toml, feed },
                replaced,
            }),
            tmp,
        })
    }

    /// The definition file of `name` as written, whether it validates or not (to record what a
    /// removal removes before removing it).
    pub fn read(&self, name: &str) -> Result<String, RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::Missing(name.to_string()));
        }
        match read_bounded(&self.file(name)) {
            Err(RegistryError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(RegistryError::Missing(name.to_string()))
            }
            other => other,
        }
    }

    /// Removes the definition of `name` (its downloads stay until removed by hand); returns it
    /// as it was written.
    pub fn remove(&self, name: &str) -> Result<String, RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::Missing(name.to_string()));
        }
        let path = self.file(name);
        let toml = match read_bounded(&path) {
            Ok(t) => t,
            Err(RegistryError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(RegistryError::Missing(name.to_string()));
            }
            Err(e) => return Err(e),
        };
        std::fs::remove_file(&path).map_err(io(&path))?;
        sync_dir(&self.dir);
        Ok(toml)
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
    let tmp = write_synced(path, bytes)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Writes `bytes` to a hidden temporary file beside `path` (not listed as a definition), synced;
/// returns its path.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<PathBuf, RegistryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("definition"),
        std::process::id()
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(tmp)
}

/// Makes a rename or removal in `dir` durable. Best effort: not every file system allows it.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEF: &str = "name = 'demo-list'\nformat = 'list'\n";

    #[test]
    fn add_list_get_replace_remove() {
        let tmp = std::env::temp_dir().join(format!("focal-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let src = tmp.join("in.toml");
        std::fs::write(&src, format!("# kept\n{DEF}")).unwrap();
        let reg = Registry::new(&tmp.join("data"));
        assert!(reg.list().unwrap().is_empty());
        let added = reg.add(&src, false).unwrap();
        assert!(added.replaced.is_none());
        assert_eq!(added.entry.toml, format!("# kept\n{DEF}"));
        assert!(matches!(
            reg.add(&src, false),
            Err(RegistryError::Exists { .. })
        ));
        assert!(reg.add(&src, true).unwrap().replaced.is_some());
        let list = reg.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].as_ref().unwrap().name(), "demo-list");
        assert_eq!(
            reg.get("demo-list").unwrap().feed.name.as_ref(),
            "demo-list"
        );
        assert!(matches!(reg.get("../in"), Err(RegistryError::Missing(_))));
        // A definition edited by hand into something invalid is reported, not skipped.
        std::fs::write(reg.dir().join("broken.toml"), "name = 'broken'\n").unwrap();
        let list = reg.list().unwrap();
        assert_eq!(list.len(), 2);
        assert!(
            list[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("broken.toml")
        );
        std::fs::write(reg.dir().join("broken.toml"), DEF).unwrap();
        assert!(matches!(
            &reg.list().unwrap()[0],
            Err(RegistryError::Misnamed { .. })
        ));
        assert_eq!(reg.remove("demo-list").unwrap(), format!("# kept\n{DEF}"));
        assert!(matches!(
            reg.remove("demo-list"),
            Err(RegistryError::Missing(_))
        ));
        std::fs::write(&src, "name = 'has space'\nformat = 'list'\n").unwrap();
        assert!(matches!(
            reg.add(&src, false),
            Err(RegistryError::BadName { .. })
        ));
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn a_staged_definition_is_registered_only_when_committed() {
        let tmp = tempfile_dir("staged");
        let reg = Registry::new(&tmp);
        let staged = reg.stage(DEF.into(), "in.toml", false).unwrap();
        assert_eq!(staged.added().entry.name(), "demo-list");
        assert!(reg.list().unwrap().is_empty(), "not registered yet");
        drop(staged);
        assert!(reg.list().unwrap().is_empty());
        let left: Vec<_> = std::fs::read_dir(reg.dir()).unwrap().collect();
        assert!(left.is_empty(), "the staged file is removed: {left:?}");
        reg.stage(DEF.into(), "in.toml", false)
            .unwrap()
            .commit()
            .unwrap();
        assert_eq!(reg.read("demo-list").unwrap(), DEF);
        assert!(matches!(reg.read("other"), Err(RegistryError::Missing(_))));
        let _ = std::fs::remove_dir_all(&tmp);
    }

    fn tempfile_dir(what: &str) -> PathBuf {
        let tmp =
            std::env::temp_dir().join(format!("focal-registry-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        tmp
    }

    #[test]
    fn names_that_can_be_file_names() {
        for ok in ["spamhaus-drop", "a", "feed_1.v2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "has space", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
