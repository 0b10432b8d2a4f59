//! Helpers shared by the incident and notification tests: the real binary on a real store, and a
//! real SMTP server (aiosmtpd) on loopback.
#![allow(dead_code)]

use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/workload").join(name)
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

pub fn focal_command(data: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_focal"));
    c.arg("--data")
        .arg(data)
        .args(args)
        .env("FOCAL_LOG", "warn")
        .env_remove("FOCAL_ACTOR");
    c
}

pub fn focal(data: &Path, args: &[&str]) -> Output {
    focal_command(data, args)
        .output()
        .expect("the focal binary runs")
}

pub fn ok(data: &Path, args: &[&str]) -> String {
    let out = focal(data, args);
    assert!(
        out.status.success(),
        "focal {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs a command that must fail; returns its stderr.
pub fn fails(data: &Path, args: &[&str]) -> String {
    let out = focal(data, args);
    assert!(
        !out.status.success(),
        "focal {args:?} should have failed but printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(data: &Path, args: &[&str]) -> Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let text = ok(data, &with_json);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("focal {args:?} printed invalid JSON ({e}): {text}"))
}

pub fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

/// A data folder with the fixture's ASN tables and constituency, and the workload ingested
/// (which groups its events into incidents).
pub fn ingested() -> (tempfile::TempDir, PathBuf) {
    ingested_with(&fixture("constituents.csv"))
}

pub fn ingested_with(constituents: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    ok(
        &data,
        &[
            "init",
            "--asn",
            s(&fixture("asn-ipv4.csv")),
            "--asn",
            s(&fixture("asn-ipv6.csv")),
        ],
    );
    ok(&data, &["constituents", "import", s(constituents)]);
    ok(
        &data,
        &[
            "ingest",
            "--feed",
            s(&repo().join("bench/reference-feed.toml")),
            s(&fixture("feed.csv")),
        ],
    );
    (dir, data)
}

/// Replaces `key = ...` lines of focal.toml's `[notify]` section (every key given must exist).
pub fn set_notify(data: &Path, settings: &[(&str, &str)]) {
    let path = data.join("focal.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, value) in settings {
        let prefix = format!("\n{key} = ");
        let start = text
            .find(&prefix)
            .unwrap_or_else(|| panic!("focal.toml has no {key}:\n{text}"));
        let end = text[start + 1..]
            .find('\n')
            .map(|i| start + 1 + i)
            .unwrap_or(text.len());
        text.replace_range(start..end, &format!("\n{key} = {value}"));
    }
    std::fs::write(&path, text).unwrap();
}

/// aiosmtpd with its Mailbox handler, writing every message it accepts to a Maildir.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: PathBuf,
    child: Child,
}

impl SmtpServer {
    pub fn start(dir: &Path) -> SmtpServer {
        let python = focal_testkit::pytool("python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/pytools.sh to install aiosmtpd",
            python.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let maildir = dir.join(format!("maildir-{port}"));
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting aiosmtpd");
        let mut server = SmtpServer {
            port,
            maildir,
            child,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "aiosmtpd exited at start ({status}); is aiosmtpd installed in the pytools venv?"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "aiosmtpd did not listen on 127.0.0.1:{port} within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Messages accepted so far (files in the Maildir's `new/`).
    pub fn count(&self) -> usize {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Every accepted message, parsed by Python's email package (tests/support/read_maildir.py).
    pub fn messages(&self) -> Vec<Value> {
        if self.count() == 0 {
            return Vec::new();
        }
        let out = Command::new(focal_testkit::pytool("python"))
            .arg(repo().join("crates/focal/tests/support/read_maildir.py"))
            .arg(&self.maildir)
            .output()
            .expect("running read_maildir.py");
        assert!(
            out.status.success(),
            "read_maildir.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        match serde_json::from_slice(&out.stdout) {
            Ok(Value::Array(list)) => list,
            other => panic!("read_maildir.py printed {other:?}"),
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The events of the store, as `focal events --json` prints them.
pub fn all_events(data: &Path) -> Vec<Value> {
    match json(data, &["events", "--limit", "0"]) {
        Value::Array(list) => list,
        other => panic!("events --json printed {other}"),
    }
}
