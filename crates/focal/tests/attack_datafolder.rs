//! The data-folder failures of issue 11, replayed (each passed for the attacker on the code
//! before the fix):
//!
//! - A `file://` pull read any file: `/etc/passwd` lines landed in the quarantine, and a pull of
//!   the live `focal.db` broke the server's SQLite locks. Now only directories listed in
//!   `[feeds] file_dirs` may be read, never the data folder, checked at `feeds add` and again
//!   at each pull with symlinks resolved.
//! - `focal demo --data DIR` silently replaced a real data folder made by `init`.
//! - A folder in use by `focal serve` could be replaced by `demo` (the server was left on a
//!   deleted database) or initialised again.

mod web;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use web::{PASSWORD, focal, focal_json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("FOCAL_LOG", "warn")
        .output()
        .expect("the focal binary runs")
}

/// Runs a command that must fail; its stderr.
fn fails(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        !out.status.success(),
        "focal {args:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sets `[feeds] file_dirs` in focal.toml, whatever it was.
fn file_dirs(data: &Path, dirs: &[&Path]) {
    let path = data.join("focal.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let list = dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("file_dirs =") {
                format!("file_dirs = [{list}]")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(text.contains("file_dirs ="), "{text}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The shipped spamhaus-drop definition pulling from `url`, written into `dir`.
fn definition(dir: &Path, file: &str, url: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("feeds/spamhaus-drop.toml")).unwrap();
    let out = dir.join(file);
    std::fs::write(&out, format!("{text}\n[pull]\nurl = {url:?}\n")).unwrap();
    out
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn init(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    focal(&data, &["init", "--admin-password", PASSWORD]);
    data
}

fn quarantined(data: &Path) -> usize {
    focal_json(data, &["quarantine", "--limit", "100000"])
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| panic!("quarantine lists records"))
}

fn events(data: &Path) -> u64 {
    focal_json(data, &["stats"])["events"].as_u64().unwrap()
}

/// A pull that must fail: the recorded reason.
fn pull_refused(data: &Path, feed: &str) -> String {
    let out = run(data, &["--json", "feeds", "pull", feed]);
    assert!(!out.status.success(), "the pull of {feed} must fail");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["pulls"][0]["result"], "failed", "{v}");
    v["pulls"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn file_urls_are_read_only_from_listed_directories_and_never_from_the_data_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let allowed = tmp.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    let sample = allowed.join("drop.txt");
    std::fs::copy(repo().join("feeds/samples/spamhaus-drop.txt"), &sample).unwrap();

    // Nothing is listed: no file:// pull at all, not /etc/passwd, not a sample.
    for target in [Path::new("/etc/passwd"), sample.as_path()] {
        let def = definition(tmp.path(), "def.toml", &url(target));
        let err = fails(&data, &["feeds", "add", s(&def)]);
        assert!(
            err.contains("file_dirs") && err.contains("was not registered"),
            "{err}"
        );
    }
    // Listing a directory around the data folder still leaves the folder's own files out:
    // directly, through a symlink, or through a hard link.
    file_dirs(&data, &[tmp.path()]);
    std::os::unix::fs::symlink(data.join("focal.db"), allowed.join("link.txt")).unwrap();
    std::fs::hard_link(data.join("focal.toml"), allowed.join("hard.txt")).unwrap();
    for target in [
        data.join("focal.db"),
        data.join("audit.key"),
        allowed.join("link.txt"),
        allowed.join("hard.txt"),
    ] {
        let def = definition(tmp.path(), "def.toml", &url(&target));
        let err = fails(&data, &["feeds", "add", s(&def)]);
        assert!(err.contains("data folder"), "{}: {err}", target.display());
    }
    assert_eq!(
        focal_json(&data, &["feeds", "list"])["feeds"],
        Value::Array(vec![]),
        "nothing was registered"
    );

    // A listed directory works...
    file_dirs(&data, &[&allowed]);
    let def = definition(tmp.path(), "def.toml", &url(&sample));
    focal(&data, &["feeds", "add", s(&def)]);
    focal(&data, &["feeds", "pull", "spamhaus-drop"]);
    let stored = events(&data);
    assert!(stored > 0);
    // ...and is checked again at pull time: the sample swapped for a link to the database.
    std::fs::remove_file(&sample).unwrap();
    std::os::unix::fs::symlink(data.join("focal.db"), &sample).unwrap();
    let before = quarantined(&data);
    let reason = pull_refused(&data, "spamhaus-drop");
    assert!(reason.contains("data folder"), "{reason}");
    // A definition put in the registry by hand is checked too.
    std::fs::write(
        data.join("feeds/passwd.toml"),
        std::fs::read_to_string(definition(tmp.path(), "p.toml", "file:///etc/passwd"))
            .unwrap()
            .replace("name = \"spamhaus-drop\"", "name = \"passwd\""),
    )
    .unwrap();
    let reason = pull_refused(&data, "passwd");
    assert!(reason.contains("file_dirs"), "{reason}");
    assert_eq!(
        quarantined(&data),
        before,
        "nothing read into the quarantine"
    );
    assert_eq!(events(&data), stored);
    let log = focal(&data, &["--json", "quarantine", "--limit", "100000"]);
    assert!(!log.contains("root:"), "no /etc/passwd line stored");

    // Listing the data folder, or a folder in it, is a configuration error.
    file_dirs(&data, &[&data.join("feeds")]);
    let err = fails(&data, &["feeds", "list"]);
    assert!(
        err.contains("feeds.file_dirs") && err.contains("data folder"),
        "{err}"
    );
}

#[test]
fn demo_never_replaces_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    focal(
        &data,
        &[
            "users",
            "add",
            "real-analyst",
            "--role",
            "analyst",
            "--password",
            PASSWORD,
        ],
    );
    let err = fails(&data, &["demo", "--no-serve"]);
    assert!(err.contains("not made by `focal demo`"), "{err}");
    let users = focal(&data, &["--json", "users", "list"]);
    assert!(
        users.contains("real-analyst"),
        "the folder is untouched: {users}"
    );
    assert!(!data.join(".focal-demo").exists());

    // An empty folder is fine, and so is replacing the demo's own folder.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    focal(&empty, &["demo", "--no-serve"]);
    assert!(empty.join(".focal-demo").is_file());
    focal(
        &empty,
        &[
            "users",
            "add",
            "scratch",
            "--role",
            "analyst",
            "--password",
            PASSWORD,
        ],
    );
    focal(&empty, &["demo", "--no-serve"]);
    let users = focal(&empty, &["--json", "users", "list"]);
    assert!(!users.contains("scratch"), "a fresh demo: {users}");
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(data)
        .args(["--json", "serve", "--listen", "127.0.0.1:0", "--no-workers"])
        .env("FOCAL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("focal serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "{line}");
    Serve(child)
}

#[test]
fn a_folder_in_use_is_neither_replaced_by_demo_nor_initialised_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    focal(&data, &["demo", "--no-serve"]);
    let server = serve(&data);
    let pid = server.0.id().to_string();

    let err = fails(&data, &["demo", "--no-serve"]);
    assert!(err.contains("in use") && err.contains(&pid), "{err}");
    // The server's database is still the one on disk.
    assert!(data.join("focal.db").exists() && data.join(".focal-demo").exists());

    // Even with its configuration gone, the folder is not initialised again under the server.
    std::fs::rename(data.join("focal.toml"), tmp.path().join("focal.toml.away")).unwrap();
    let err = fails(&data, &["init"]);
    assert!(err.contains("in use") && err.contains(&pid), "{err}");
    assert!(!data.join("focal.toml").exists());
    std::fs::rename(tmp.path().join("focal.toml.away"), data.join("focal.toml")).unwrap();

    // Commands that only use the folder run beside the server.
    focal(&data, &["stats"]);
    drop(server);
    // Once the server is gone, the demo may replace its own folder again.
    focal(&data, &["demo", "--no-serve"]);
}

/// `--database` named another folder's live database and `init` added an admin to it (the
/// folder lock covers only the folder named by `--data`). Init never takes over a database.
#[test]
fn init_never_takes_over_another_folders_database() {
    let tmp = tempfile::tempdir().unwrap();
    let live = init(tmp.path());
    let users_before = focal_json(&live, &["users", "list"]);
    let db = live.join("focal.db");
    let other = tmp.path().join("other");
    // The plain path, and SQLite's URI forms of it (a second attacker pass got through with
    // those: SQLite opens them, the check looked for a file named "file:...").
    for named in [
        s(&db).to_string(),
        format!("file:{}", s(&db)),
        format!("file://{}?mode=rw", s(&db)),
    ] {
        let err = fails(
            &other,
            &[
                "--database",
                &named,
                "init",
                "--admin-name",
                "root2",
                "--admin-password",
                PASSWORD,
            ],
        );
        assert!(err.contains("already exists"), "{named}: {err}");
        assert!(
            err.contains(s(&db)),
            "the message names the database: {err}"
        );
        assert_eq!(focal_json(&live, &["users", "list"]), users_before);
        assert!(!other.join("focal.toml").exists(), "nothing was made");
    }
}
