//! The web UI end to end in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` with fantoccini): sign in, search events, open an incident, move it, correct a
//! constituent's abuse address in its edit form, pull a feed from its page, sign out; and a
//! constituent who cannot reach another organisation's incident by URL. Screenshots of the main
//! pages go to `target/screenshots/` (not committed).
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them). The test
//! fails, never skips, when they are missing.

mod web;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use web::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: install it with `apt-get install -y chromium chromium-driver` \
             (the `{package}` Debian package; .ci/run does this)"
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Wait until it accepts connections (it exits or answers; no fixed sleep).
    let mut tries = 0;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tries += 1;
        assert!(tries < 600, "chromedriver did not open port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().unwrap();
    let path = profile.path().to_path_buf();
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
        profile: path,
    }
}

async fn browser(driver: &Driver) -> Client {
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

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits (a bounded while) for the page to reach `path`: a click does not wait for the
/// navigation it starts.
async fn wait_path(c: &Client, path: &str) {
    for _ in 0..200 {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = c.current_url().await.unwrap();
    let source = c.source().await.unwrap_or_default();
    panic!("the browser stayed at {url}, expected {path}: {source}");
}

/// Waits for the element's text to contain `want` after a navigation.
async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
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

async fn sign_in(c: &Client, base: &str, name: &str) {
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
        .send_keys(PASSWORD)
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

async fn sign_out(c: &Client, base: &str) {
    c.find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(c, "/login").await;
    c.goto(&format!("{base}/incidents")).await.unwrap();
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/login",
        "signed out: pages send you to the login form"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_works_an_incident_and_a_constituent_cannot_reach_another_organisation() {
    let site = Site::new();
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let incidents = |org: &str| -> Vec<Value> {
        focal_json(
            &site.data,
            &["incidents", "--constituent", org, "--open", "--limit", "10"],
        )
        .as_array()
        .unwrap()
        .clone()
    };
    let open = incidents(&site.org_a);
    let id_a = open.first().expect("an open incident of org A")["id"]
        .as_i64()
        .unwrap();
    let id_b = focal_json(
        &site.data,
        &["incidents", "--constituent", &site.org_b, "--limit", "1"],
    )[0]["id"]
        .as_i64()
        .unwrap();

    let driver = start_driver();
    let c = browser(&driver).await;

    // An analyst signs in and sees the dashboard with its chart.
    sign_in(&c, &base, "analyst2").await;
    assert_eq!(text(&c, "h1").await, "Dashboard");
    c.find(Locator::Css("svg.chart"))
        .await
        .expect("the events-per-day chart");
    shot(&c, "dashboard").await;

    // Event search by constituent: every row is that constituent's.
    c.goto(&format!("{base}/events")).await.unwrap();
    c.find(Locator::Css("#f-constituent"))
        .await
        .unwrap()
        .send_keys(&site.org_a)
        .await
        .unwrap();
    c.find(Locator::Css("#search"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "h1", "Events").await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.query()
            .unwrap_or("")
            .contains(&format!("constituent={}", site.org_a)),
        "{url}"
    );
    let rows = c.find_all(Locator::Css("#events tbody tr")).await.unwrap();
    assert!(!rows.is_empty(), "org A has events");
    for row in &rows {
        let cells = row.find_all(Locator::Css("td")).await.unwrap();
        assert_eq!(cells[6].text().await.unwrap(), site.org_a);
    }
    shot(&c, "events").await;

    // Open an incident from the list and move it to the first state offered.
    c.goto(&format!("{base}/incidents?constituent={}", site.org_a))
        .await
        .unwrap();
    shot(&c, "incidents").await;
    c.find(Locator::LinkText(&id_a.to_string()))
        .await
        .expect("the incident in the list")
        .click()
        .await
        .unwrap();
    wait_path(&c, &format!("/incidents/{id_a}")).await;
    let before = text(&c, "#state").await;
    assert_eq!(before, open[0]["state"].as_str().unwrap());
    let button = c
        .find(Locator::Css("form.inline button[id^='to-']"))
        .await
        .expect("a transition button");
    let target = button.text().await.unwrap();
    button.click().await.unwrap();
    wait_text(&c, "#state", &target).await;
    assert_eq!(text(&c, "#state").await, target);
    assert!(text(&c, "#timeline").await.contains("user:analyst2"));
    c.find(Locator::Css("#comment"))
        .await
        .unwrap()
        .send_keys("Called the constituent <script>alert(1)</script>")
        .await
        .unwrap();
    c.find(Locator::Css("#add-comment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The comment is shown as text, never run.
    wait_text(&c, "#timeline", "<script>alert(1)</script>").await;
    assert!(c.find(Locator::Css("#timeline script")).await.is_err());
    shot(&c, "incident").await;
    let stored = focal_json(&site.data, &["incidents", "show", &id_a.to_string()]);
    assert_eq!(stored["incident"]["state"], target.as_str(), "{stored}");

    for (page, name) in [
        ("/constituents", "constituents"),
        (
            &format!("/constituents/{}", site.org_a) as &str,
            "constituent",
        ),
        ("/feeds", "feeds"),
        ("/incidents", "incidents-all"),
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        shot(&c, name).await;
    }

    // The analyst corrects org A's abuse address in the edit form and sees it saved.
    let new_address = "soc-desk@org-a.example";
    c.goto(&format!("{base}/constituents/{}", site.org_a))
        .await
        .unwrap();
    let field = c
        .find(Locator::Css("#edit-constituent #c-abuse_email"))
        .await
        .expect("the edit form's abuse e-mail field");
    field.clear().await.unwrap();
    field.send_keys(new_address).await.unwrap();
    c.find(Locator::Css("#save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "#saved", "Changes saved.").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/constituents/{}", site.org_a)
    );
    assert_eq!(text(&c, "#abuse-email").await, new_address);
    shot(&c, "constituent-edited").await;
    let stored = focal_json(&site.data, &["constituents", "list"]);
    let org_a = stored
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == site.org_a.as_str())
        .expect("org A is listed");
    assert_eq!(org_a["abuse_email"], new_address, "{org_a}");

    // A registered feed's page, and "Pull now": the scheduler pulls it as the analyst asked.
    c.goto(&format!("{base}/feeds")).await.unwrap();
    c.find(Locator::LinkText("spamhaus-drop"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_path(&c, "/feeds/spamhaus-drop").await;
    c.find(Locator::Css("#pull-now"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "#requested", "handed to the scheduler").await;
    let mut pulled = false;
    for _ in 0..600 {
        c.goto(&format!("{base}/feeds/spamhaus-drop"))
            .await
            .unwrap();
        if text(&c, "#pulls").await.contains("web:analyst2") {
            pulled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pulled, "the pull asked for in the browser was made");
    shot(&c, "feed").await;
    sign_out(&c, &base).await;

    // An auditor sees the audit log, with the analyst's transition in it.
    sign_in(&c, &base, "auditor").await;
    c.goto(&format!("{base}/audit?after=0")).await.unwrap();
    shot(&c, "audit").await;
    sign_out(&c, &base).await;

    // A constituent sees its own incident but not another organisation's, even by URL.
    sign_in(&c, &base, "constituent_a").await;
    c.goto(&format!("{base}/incidents/{id_a}")).await.unwrap();
    assert_eq!(text(&c, "#state").await, target);
    c.goto(&format!("{base}/incidents/{id_b}")).await.unwrap();
    let source = c.source().await.unwrap();
    assert!(source.contains("there is no such incident"), "{source}");
    assert!(!contains_id(&source, &site.org_b));
    shot(&c, "constituent-denied").await;
    sign_out(&c, &base).await;

    c.close().await.unwrap();
}
