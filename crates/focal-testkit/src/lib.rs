//! Test support: finding the real third-party tools and services Focal's tests drive.
//!
//! Only dev-dependencies use this crate. Nothing here mocks anything: it locates the OASIS tools
//! in the Python virtualenv made by `scripts/pytools.sh` (making it on first use), and checks that
//! a service answers on loopback, failing with a message that says how to start it.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The virtualenv with stix2-validator, taxii2-client, medallion and aiosmtpd, created by
/// `scripts/pytools.sh` on first use (once per test process; the script is idempotent).
pub fn pytools() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = std::env::var_os("FOCAL_PYTOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/pytools"));
        let status = Command::new("bash")
            .arg(workspace_root().join("scripts/pytools.sh"))
            .env("FOCAL_PYTOOLS", &venv)
            .status()
            .expect("running scripts/pytools.sh");
        assert!(
            status.success(),
            "scripts/pytools.sh failed: the Python tools the tests need could not be installed"
        );
        venv
    })
    .clone()
}

/// A program or script installed in the tools virtualenv (`python`, `stix2_validator`, ...).
pub fn pytool(name: &str) -> PathBuf {
    pytools().join("bin").join(name)
}

/// Panics with instructions unless something accepts TCP connections on 127.0.0.1:`port`.
/// Tests that need a service call this first, so a missing service is a failure, never a skip.
pub fn require_service(name: &str, port: u16, how_to_start: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
        panic!(
            "{name} does not answer on 127.0.0.1:{port}; this test needs it. Start it with: \
             {how_to_start} (.ci/run does this)"
        );
    }
}

/// PostgreSQL on 127.0.0.1:5432, database `test`, trust auth, as on Focal's CI machines.
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn require_postgres() {
    require_service(
        "PostgreSQL",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    );
}

/// NATS with JetStream on 127.0.0.1:4222.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

pub fn require_nats() {
    require_service(
        "NATS (with JetStream)",
        4222,
        "nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server",
    );
}

/// The nats-server binary, for tests that run a private server (to stop and restart it).
pub fn nats_server_binary() -> PathBuf {
    for candidate in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        let path = PathBuf::from(candidate);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "nats-server is not installed; this test runs a private NATS server. Install Debian's \
         nats-server package (.ci/run checks for it)"
    );
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller to use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral port on 127.0.0.1")
}

/// A PostgreSQL URL whose Focal tables live in `schema` of the `test` database.
pub fn postgres_url_with_schema(schema: &str) -> String {
    format!("{POSTGRES_URL}?schema={schema}")
}

/// A name unique to this process and call, for schemas and streams.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000)
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{micros}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops a PostgreSQL schema (and everything in it) when dropped.
pub struct SchemaGuard(pub String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-q",
                "-c",
            ])
            .arg(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The folder of Node.js tools (the BSI CSAF validator library), made by `scripts/npmtools.sh`
/// on first use (once per test process; the script is idempotent).
pub fn npmtools() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("FOCAL_NPMTOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/npmtools"));
        let status = Command::new("bash")
            .arg(workspace_root().join("scripts/npmtools.sh"))
            .env("FOCAL_NPMTOOLS", &dir)
            .status()
            .expect("running scripts/npmtools.sh");
        assert!(
            status.success(),
            "scripts/npmtools.sh failed: the Node.js tools the tests need could not be installed"
        );
        dir
    })
    .clone()
}
