//! Helpers for the web tests: a demo data folder with one account per role, the real
//! `focal serve` on a free loopback port, and a real HTTP client that signs in through the
//! login form (cookies and CSRF tokens handled by hand, so the tests see exactly what a browser
//! would be sent).
#![allow(dead_code)]

use reqwest::blocking::{Client, Response};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const PASSWORD: &str = "correct horse battery";

/// Who the test's own `focal` commands (setup, the server's workers) are recorded as. The
/// command line names people as the web does (`user:<name>`), so a test that wants only the
/// web's entries leaves this one out.
pub const SETUP_ACTOR: &str = "user:setup";

pub fn focal(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("FOCAL_LOG", "warn")
        .env("FOCAL_ACTOR", SETUP_ACTOR)
        .output()
        .expect("the focal binary runs");
    assert!(
        out.status.success(),
        "focal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

pub fn focal_json(data: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = focal(data, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("focal {args:?}: {e}: {text}"))
}

/// A demo data folder with accounts: admin, analyst, auditor, `constituent` of org A, `peer`,
/// and `other` (a constituent of org B), all with [`PASSWORD`].
pub struct Site {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub org_a: String,
    pub org_b: String,
}

impl Site {
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let demo = focal_json(&data, &["demo", "--no-serve"]);
        assert!(demo["accounts"].is_array());
        // Two organisations with incidents: A and B.
        let incidents = focal_json(&data, &["incidents", "--limit", "100000"]);
        let mut orgs: Vec<String> = incidents
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["constituent"].as_str().unwrap().to_string())
            .collect();
        orgs.sort();
        orgs.dedup();
        assert!(
            orgs.len() >= 2,
            "the demo has incidents of several organisations"
        );
        let (org_a, org_b) = (orgs[0].clone(), orgs[1].clone());
        for (name, role, org) in [
            ("admin2", "admin", None),
            ("analyst2", "analyst", None),
            ("auditor", "auditor", None),
            ("constituent_a", "constituent", Some(&org_a)),
            ("constituent_b", "constituent", Some(&org_b)),
            ("peer", "peer", None),
        ] {
            let mut args = vec!["users", "add", name, "--role", role, "--password", PASSWORD];
            if let Some(o) = org {
                args.extend(["--organisation", o.as_str()]);
            }
            focal(&data, &args);
        }
        Site {
            dir,
            data,
            org_a,
            org_b,
        }
    }

    /// The data folder `data` (made by `init`, without the demo's accounts and organisations).
    pub fn at(data: &Path) -> Site {
        Site {
            data: data.to_path_buf(),
            org_a: String::new(),
            org_b: String::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn serve(&self, listen: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_focal"))
            .arg("--data")
            .arg(&self.data)
            .args(["--json", "serve", "--listen", listen])
            .env("FOCAL_LOG", "warn")
            .env("FOCAL_ACTOR", SETUP_ACTOR)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("focal serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("focal serve prints its address");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("focal serve printed {line:?}: {e}"));
        let addr = v["listening"].as_str().unwrap().to_string();
        let port = addr.rsplit(':').next().unwrap().to_string();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A token for `name` (scope read or write).
    pub fn token(&self, name: &str, scope: &str) -> String {
        focal_json(
            &self.data,
            &["users", "token", "add", name, "--scope", scope],
        )["token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name` in the response's Set-Cookie headers, and the whole header.
pub fn set_cookie(resp: &Response, name: &str) -> Option<(String, String)> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap().to_string();
            (value, v.to_string())
        })
}

/// The first `name="csrf" value="..."` in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// A signed-in browser-like session: its cookie and the CSRF token of its forms.
pub struct Session {
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

/// A client whose connections come from `ip`: any address of 127.0.0.0/8 is this machine's
/// loopback on Linux, so one test can play several clients against one server.
pub fn client_from(ip: &str) -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Fetches the login form and posts it. Returns the login response.
pub fn login_response(base: &str, name: &str, password: &str) -> Response {
    login_with(&client(), base, name, password, &[])
}

/// As [`login_response`], from the client `c`, with extra headers on both requests (such as
/// `X-Forwarded-For`).
pub fn login_with(
    c: &Client,
    base: &str,
    name: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut get = c.get(format!("{base}/login"));
    for (k, v) in headers {
        get = get.header(*k, *v);
    }
    let form = get.send().unwrap();
    let (pre, _) =
        set_cookie(&form, "focal_login_csrf").expect("the login form sets its CSRF cookie");
    let html = form.text().unwrap();
    let csrf = csrf_in(&html).expect("the login form has a CSRF field");
    let mut post = c
        .post(format!("{base}/login"))
        .header(COOKIE, format!("focal_login_csrf={pre}"));
    for (k, v) in headers {
        post = post.header(*k, *v);
    }
    post.form(&[
        ("csrf", csrf.as_str()),
        ("username", name),
        ("password", password),
    ])
    .send()
    .unwrap()
}

/// Sets `[web] trusted_proxies` in the data folder's focal.toml.
pub fn set_trusted_proxies(data: &Path, proxies: &[&str]) {
    let path = data.join("focal.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let list = proxies
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let replaced = text.replace(
        "trusted_proxies = []",
        &format!("trusted_proxies = [{list}]"),
    );
    assert_ne!(
        replaced, text,
        "focal.toml has an empty trusted_proxies:\n{text}"
    );
    std::fs::write(&path, replaced).unwrap();
}

/// Sets `[feeds] file_dirs` in the data folder's focal.toml: the directories `file://` pulls
/// may read.
pub fn set_file_dirs(data: &Path, dirs: &[&Path]) {
    let path = data.join("focal.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let list = dirs
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let replaced = text.replace("file_dirs = []", &format!("file_dirs = [{list}]"));
    assert_ne!(replaced, text, "focal.toml has an empty file_dirs:\n{text}");
    std::fs::write(&path, replaced).unwrap();
}

/// The sum of a Prometheus metric's samples whose line starts with `prefix` (a name, or a
/// name and the start of its labels).
pub fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every audit entry with this action, oldest first.
pub fn audit_entries(data: &Path, action: &str) -> Vec<Value> {
    match focal_json(data, &["audit", "list", "--action", action, "--limit", "0"]) {
        Value::Array(list) => list,
        other => panic!("audit list printed {other}"),
    }
}

pub fn login(base: &str, name: &str) -> Session {
    let resp = login_response(base, name, PASSWORD);
    assert_eq!(resp.status(), 303, "{name} signs in");
    let (cookie, _) = set_cookie(&resp, "focal_session").expect("a session cookie");
    let page = client()
        .get(format!("{base}/"))
        .header(COOKIE, format!("focal_session={cookie}"))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200, "{name} sees the dashboard");
    let csrf = csrf_in(&page.text().unwrap()).expect("the sign-out form carries the CSRF token");
    Session {
        base: base.to_string(),
        cookie,
        csrf,
    }
}

impl Session {
    pub fn get(&self, path: &str) -> Response {
        client()
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("focal_session={}", self.cookie))
            .send()
            .unwrap()
    }
    pub fn post_form(&self, path: &str, fields: &[(&str, &str)], csrf: Option<&str>) -> Response {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if let Some(c) = csrf {
            all.push(("csrf", c));
        }
        client()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("focal_session={}", self.cookie))
            .form(&all)
            .send()
            .unwrap()
    }
}

/// True if `id` occurs in `text` as a whole token (not as the prefix of a longer id).
pub fn contains_id(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        let word =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        !word(before) && !word(after)
    })
}
