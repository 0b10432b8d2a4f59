//! Headless Chromium for the browser tests: Debian's `chromium` driven through `chromedriver`
//! with fantoccini, and the steps the tests share (sign in, wait for a page, read a text,
//! take a screenshot into `target/screenshots/`). Fails, never skips, when they are missing.
#![allow(dead_code)]

use crate::web::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a wait for the browser gives up after: generous, because several browsers and
/// servers share a small machine in CI; a wait ends as soon as its condition holds.
const WAIT: Duration = Duration::from_secs(60);

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Driver {
    pub child: Child,
    pub url: String,
    pub _profile: tempfile::TempDir,
    pub profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_driver() -> Driver {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install it with `apt-get install -y chromium chromium-driver` \
             (the `{package}` Debian package; .ci/run does this)"
        );
    }
    // The port is picked free and then handed to chromedriver; another test may take it in
    // between, and then chromedriver exits: try again on a new port.
    let mut started = None;
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Wait until it accepts connections or exits (no fixed sleep).
        let deadline = std::time::Instant::now() + WAIT;
        let listening = loop {
            if child.try_wait().ok().flatten().is_some() {
                break false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break true;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not open port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        if listening {
            started = Some((child, port));
            break;
        }
    }
    let (child, port) = started.expect("chromedriver exited on five ports in a row");
    let profile = tempfile::tempdir().unwrap();
    let path = profile.path().to_path_buf();
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
        profile: path,
    }
}

pub async fn browser(driver: &Driver) -> Client {
    // Two crypto providers are compiled in (see Cargo.toml); chromedriver is plain HTTP on
    // loopback, so which one does not matter, only that one is chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", driver.profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session through chromedriver")
}

pub fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

pub async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits (a bounded while) for the page to reach `path`: a click does not wait for the
/// navigation it starts.
pub async fn wait_path(c: &Client, path: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = c.current_url().await.unwrap();
    let source = c.source().await.unwrap_or_default();
    panic!("the browser stayed at {url}, expected {path}: {source}");
}

/// Waits until the address bar's query contains `want`: a form submitted with GET to the page it
/// is on changes only the query, so waiting for the path or a heading would pass before it loads.
pub async fn wait_query(c: &Client, want: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains(want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = c.current_url().await.unwrap();
    panic!("the browser stayed at {url}, expected a query with {want:?}");
}

/// Waits for the element's text to contain `want` after a navigation.
pub async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let mut last = String::new();
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
        {
            if t.contains(want) {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never showed {want:?}; last: {last:?}");
}

pub async fn sign_in(c: &Client, base: &str, name: &str) {
    sign_in_with(c, base, name, PASSWORD).await;
}

pub async fn sign_in_with(c: &Client, base: &str, name: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("#username"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(c, "/").await;
}
