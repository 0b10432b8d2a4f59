//! The feed registry and the background workers of `focal serve`, end to end: the real binary,
//! a real SQLite store, a real HTTP server (`python3 -m http.server`) serving the feed files,
//! a real SMTP server (aiosmtpd) for the notification worker, and `focal serve` read over HTTP.

mod support;
mod web;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{fails, fixture, focal, focal_command, json, ok, repo, s};

/// Generous: these wait for a scheduler on a shared, loaded machine, never for speed.
const DEADLINE: Duration = Duration::from_secs(180);

/// `python3 -m http.server` serving `dir` on a free loopback port.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        let port = focal_testkit::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server starts");
        let mut server = HttpServer { child, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("python3 -m http.server exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "http.server did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `focal serve` with extra flags, on a free port; killed when dropped.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(data: &Path, flags: &[&str]) -> Serve {
        use std::io::BufRead;
        let mut child = focal_command(data, &["--json", "serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("focal serve starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("focal serve prints its address");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("focal serve printed {line:?}: {e}"));
        let base = v["url"].as_str().unwrap().trim_end_matches('/').to_string();
        Serve { child, base }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data folder with the workload's ASN tables and constituents, and an admin whose password
/// is the web tests' one.
fn data_folder(dir: &Path, name: &str) -> PathBuf {
    let data = dir.join(name);
    ok(
        &data,
        &[
            "init",
            "--admin-password",
            web::PASSWORD,
            "--asn",
            s(&fixture("asn-ipv4.csv")),
            "--asn",
            s(&fixture("asn-ipv6.csv")),
        ],
    );
    ok(
        &data,
        &["constituents", "import", s(&fixture("constituents.csv"))],
    );
    data
}

/// A copy of a definition with a `[pull]` table appended: every second, plus `extra` lines.
fn with_pull(definition: &Path, dir: &Path, url: &str, extra: &str) -> PathBuf {
    pulled_every(definition, dir, url, "1s", extra)
}

fn pulled_every(definition: &Path, dir: &Path, url: &str, every: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(definition).unwrap();
    let out = dir.join(definition.file_name().unwrap());
    std::fs::write(
        &out,
        format!("{text}\n[pull]\nurl = \"{url}\"\nevery = \"{every}\"\n{extra}"),
    )
    .unwrap();
    out
}

fn get_json(base: &str, token: &str, path: &str) -> Value {
    let resp = web::client()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().unwrap()
}

/// Polls `check` until it returns something, or fails with `what` after the deadline.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The first pull (newest first) after pull `after` that `matches`.
fn pull_after(
    base: &str,
    token: &str,
    feed: &str,
    after: i64,
    matches: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let d = get_json(base, token, &format!("/api/v1/feeds/{feed}?limit=1000"));
    d["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|p| p["id"].as_i64().unwrap() > after && matches(p))
        .cloned()
}

/// Runs a command that must fail, and returns what it printed with `--json`.
fn json_failing(data: &Path, args: &[&str]) -> Value {
    let out = focal_command(data, &[&["--json"], args].concat())
        .output()
        .unwrap();
    assert!(!out.status.success(), "focal {args:?} should have failed");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "focal {args:?}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn stats(data: &Path) -> Value {
    json(data, &["stats"])
}

#[test]
fn the_registry_commands_add_list_show_remove_and_refuse_bad_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    web::set_file_dirs(&data, &[&repo().join("feeds/samples")]);
    let sample = repo().join("feeds/samples/spamhaus-drop.txt");

    // A bad definition is refused, naming the file and the setting.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = 'bad'\nformat = 'list'\n[pull]\nurl = 'ftp://example.org/x'\n",
    )
    .unwrap();
    let err = fails(&data, &["feeds", "add", s(&bad)]);
    assert!(
        err.contains(s(&bad)) && err.contains("pull.url") && err.contains("ftp://"),
        "{err}"
    );
    std::fs::write(
        &bad,
        "name = 'bad'\nformat = 'csv'\n[fields]\nip = 'source.ipaddr'\n",
    )
    .unwrap();
    let err = fails(&data, &["feeds", "add", s(&bad)]);
    assert!(
        err.contains(s(&bad)) && err.contains("fields.\"ip\""),
        "{err}"
    );
    std::fs::write(&bad, "name = 'no good'\nformat = 'list'\n").unwrap();
    let err = fails(&data, &["feeds", "add", s(&bad)]);
    assert!(err.contains(s(&bad)) && err.contains("name"), "{err}");
    assert_eq!(
        json(&data, &["feeds", "list"])["feeds"],
        Value::Array(vec![])
    );

    // A good one is copied in verbatim.
    let url = format!("file://{}", sample.display());
    let def = with_pull(
        &repo().join("feeds/spamhaus-drop.toml"),
        tmp.path(),
        &url,
        "max_bytes = \"1MiB\"\nkeep = 2\n",
    );
    let added = json(&data, &["feeds", "add", s(&def)]);
    assert_eq!(added["added"]["name"], "spamhaus-drop");
    let registered = data.join("feeds/spamhaus-drop.toml");
    assert_eq!(
        std::fs::read_to_string(&registered).unwrap(),
        std::fs::read_to_string(&def).unwrap()
    );
    let list = json(&data, &["feeds", "list"]);
    let f = &list["feeds"][0];
    assert_eq!(f["name"], "spamhaus-drop");
    assert_eq!(f["pull"]["url"], url.as_str());
    assert_eq!(f["pull"]["every_secs"], 1);
    assert_eq!(f["pull"]["max_bytes"], 1 << 20);
    assert!(f["last_pull"].is_null());

    // The same name again needs --replace.
    let err = fails(&data, &["feeds", "add", s(&def)]);
    assert!(
        err.contains("already registered") && err.contains("--replace"),
        "{err}"
    );
    ok(&data, &["feeds", "add", "--replace", s(&def)]);

    // Pulled now: the same figures as `focal ingest` of the same file elsewhere.
    let reference = tmp.path().join("reference");
    ok(&reference, &["init"]);
    let want = json(
        &reference,
        &[
            "ingest",
            "--feed",
            s(&repo().join("feeds/spamhaus-drop.toml")),
            s(&sample),
        ],
    )["files"][0]
        .clone();
    let pulled = json(
        &data,
        &["--actor", "tester", "feeds", "pull", "spamhaus-drop"],
    );
    let p = &pulled["pulls"][0];
    assert_eq!(p["result"], "ok", "{pulled}");
    for key in ["rows_read", "events_stored", "quarantined", "sha256"] {
        assert_eq!(p["summary"][key], want[key], "{key}");
    }
    assert_eq!(p["pull"]["requested_by"], "cli:tester");
    // Again: the same content is recorded as unchanged, with no new events.
    let again = json(&data, &["feeds", "pull"]);
    assert_eq!(again["pulls"][0]["result"], "unchanged");
    assert_eq!(again["pulls"][0]["summary"]["status"], "already_ingested");
    assert_eq!(stats(&data)["events"], want["events_stored"]);

    let show = json(&data, &["feeds", "show", "spamhaus-drop"]);
    assert_eq!(
        show["definition"].as_str().unwrap(),
        std::fs::read_to_string(&def).unwrap()
    );
    let results: Vec<&str> = show["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["unchanged", "ok"]);
    assert_eq!(show["feed"]["last_pull"]["result"], "unchanged");
    // A file:// URL has no validators, so each pull copies the file: only `keep` copies stay.
    ok(&data, &["feeds", "pull", "spamhaus-drop"]);
    let kept: Vec<String> = std::fs::read_dir(data.join("feeds/downloads/spamhaus-drop"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(kept.len(), 2, "three downloads, two kept: {kept:?}");

    // A definition edited by hand into something invalid is reported with file and setting.
    std::fs::write(
        data.join("feeds/broken.toml"),
        "name = 'broken'\nformat = 'list'\ntlp = 'PURPLE'\n",
    )
    .unwrap();
    let list = json(&data, &["feeds", "list"]);
    let problem = list["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("broken.toml") && problem.contains("tlp"),
        "{problem}"
    );
    std::fs::remove_file(data.join("feeds/broken.toml")).unwrap();

    ok(&data, &["feeds", "remove", "spamhaus-drop"]);
    assert!(!registered.exists());
    let err = fails(&data, &["feeds", "show", "spamhaus-drop"]);
    assert!(err.contains("no feed named \"spamhaus-drop\""), "{err}");
    let err = fails(&data, &["feeds", "remove", "spamhaus-drop"]);
    assert!(err.contains("no feed named"), "{err}");

    // Every change to the registry is in the audit log, with the definition before and after.
    let audit = json(&data, &["audit", "list", "--subject", "feed:spamhaus-drop"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["feed.add", "feed.replace", "feed.remove"]);
    // With no secret in it, the definition is recorded as written, with its SHA-256.
    let text = std::fs::read_to_string(&def).unwrap();
    let sha256 = sha256_hex(&text);
    for entry in [&audit[0]["after"], &audit[2]["before"]] {
        assert_eq!(entry["definition"], text.as_str());
        assert_eq!(entry["sha256"], sha256.as_str());
    }
    assert_eq!(audit[0]["after"]["from"], s(&def));
    assert!(audit[2]["after"].is_null());
    ok(&data, &["audit", "verify"]);
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A small real HTTP server that serves `feed.txt` only with the right key in `X-Api-Key`,
/// redirects `/elsewhere` to the same file on another host name, and sends `/endless` without a
/// Content-Length, until the client hangs up.
const KEYED_SERVER: &str = r#"
import http.server, sys
port, body = int(sys.argv[1]), open(sys.argv[2], 'rb').read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/endless':
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(body)
            except OSError:
                return
        if self.path == '/elsewhere':
            self.send_response(302)
            self.send_header('Location', 'http://localhost:%d/feed.txt' % port)
            self.end_headers()
            return
        if self.headers.get('X-Api-Key') != 'k3y-s3cret':
            self.send_response(403)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

#[test]
fn pull_headers_come_from_the_environment_and_are_never_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo().join("feeds/samples/blocklist-de-all.txt");
    let server = python_server(KEYED_SERVER, &[&sample]);
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    let def = with_pull(
        &repo().join("feeds/blocklist-de.toml"),
        tmp.path(),
        &server.url("feed.txt"),
        "[pull.headers_from_env]\nX-Api-Key = \"FOCAL_TEST_FEED_KEY\"\n",
    );
    ok(&data, &["feeds", "add", s(&def)]);

    // Without the variable: a failed pull saying which variable is missing, and no request.
    let out = focal_command(&data, &["--json", "feeds", "pull", "blocklist-de-all"])
        .env_remove("FOCAL_TEST_FEED_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = v["pulls"][0]["reason"].as_str().unwrap();
    assert!(
        error.contains("FOCAL_TEST_FEED_KEY") && error.contains("X-Api-Key"),
        "{error}"
    );
    // A wrong key: the server's refusal.
    let out = focal_command(&data, &["--json", "feeds", "pull", "blocklist-de-all"])
        .env("FOCAL_TEST_FEED_KEY", "wrong")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pulls"][0]["pull"]["http_status"], 403, "{v}");
    // The right one.
    let out = focal_command(&data, &["--json", "feeds", "pull", "blocklist-de-all"])
        .env("FOCAL_TEST_FEED_KEY", "k3y-s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pulls"][0]["result"], "ok", "{v}");
    assert!(v["pulls"][0]["summary"]["events_stored"].as_u64().unwrap() > 0);

    // A redirect to another host would take the key along: it is not followed.
    let elsewhere = with_pull(
        &repo().join("feeds/blocklist-de.toml"),
        tmp.path(),
        &server.url("elsewhere"),
        "[pull.headers_from_env]\nX-Api-Key = \"FOCAL_TEST_FEED_KEY\"\n",
    );
    ok(&data, &["feeds", "add", "--replace", s(&elsewhere)]);
    let out = focal_command(&data, &["--json", "feeds", "pull", "blocklist-de-all"])
        .env("FOCAL_TEST_FEED_KEY", "k3y-s3cret")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let error = v["pulls"][0]["reason"].as_str().unwrap();
    assert!(error.contains("another host"), "{error}");

    // A response without a length is stopped where it passes max_bytes.
    let endless = with_pull(
        &repo().join("feeds/blocklist-de.toml"),
        tmp.path(),
        &server.url("endless"),
        "max_bytes = 10000\n",
    );
    ok(&data, &["feeds", "add", "--replace", s(&endless)]);
    let v = json_failing(&data, &["feeds", "pull", "blocklist-de-all"]);
    let p = &v["pulls"][0]["pull"];
    assert_eq!(p["result"], "failed");
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("passed max_bytes (10000 bytes) and was stopped"),
        "{p}"
    );
    assert!(p["bytes"].as_u64().unwrap() > 10_000, "{p}");
    let files: Vec<String> = std::fs::read_dir(data.join("feeds/downloads/blocklist-de-all"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("endless"))
        .collect();
    assert!(files.is_empty(), "nothing is left of it: {files:?}");

    // The key is nowhere in the store or the output.
    let shown = ok(&data, &["--json", "feeds", "show", "blocklist-de-all"]);
    assert!(!shown.contains("k3y-s3cret"));
    let db = std::fs::read(data.join("focal.db")).unwrap();
    let wal = std::fs::read(data.join("focal.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(10).any(|w| w == b"k3y-s3cret"),
            "the key is stored"
        );
    }
}

#[test]
fn serve_pulls_a_feed_on_its_schedule_and_records_every_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let sample = repo().join("feeds/samples/abusech-feodo-ipblocklist.csv");
    std::fs::copy(&sample, www.join("feodo.csv")).unwrap();
    let http = HttpServer::start(&www);
    let shipped = repo().join("feeds/abusech-feodo-ipblocklist.toml");
    let feed = "abusech-feodo-ipblocklist";

    // What the file holds, as `focal ingest` finds it in a data folder of its own.
    let reference = data_folder(tmp.path(), "reference");
    let want = json(&reference, &["ingest", "--feed", s(&shipped), s(&sample)])["files"][0].clone();
    assert!(want["quarantined"].as_u64().unwrap() > 0, "{want}");

    let data = data_folder(tmp.path(), "data");
    let defs = tmp.path().join("defs");
    std::fs::create_dir(&defs).unwrap();
    let def = with_pull(&shipped, &defs, &http.url("feodo.csv"), "");
    ok(&data, &["feeds", "add", s(&def)]);
    let token = json(
        &data,
        &["users", "token", "add", "admin", "--scope", "read"],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let serve = Serve::start(&data, &["--notify-every", "0", "--sync-every", "0"]);
    let base = serve.base.clone();

    // The first scheduled pull ingests the file: exactly the reference figures.
    let first = wait_for("the first scheduled pull", || {
        pull_after(&base, &token, feed, 0, |p| p["result"] == "ok")
    });
    assert_eq!(first["requested_by"], "schedule");
    assert_eq!(first["http_status"], 200);
    assert_eq!(
        first["bytes"].as_u64().unwrap(),
        std::fs::metadata(&sample).unwrap().len()
    );
    let run = &first["run"];
    assert_eq!(run["status"], "completed");
    for key in ["rows_read", "events_stored", "duplicates", "quarantined"] {
        assert_eq!(run[key], want[key], "{key}: {first}");
    }
    let figures = |data: &Path| {
        let s = stats(data);
        (s["events"].clone(), s["quarantined"].clone())
    };
    assert_eq!(
        figures(&data),
        (want["events_stored"].clone(), want["quarantined"].clone())
    );
    let first_id = first["id"].as_i64().unwrap();

    // Nothing new on the server: the conditional request gets 304, and nothing is ingested.
    let unchanged = wait_for("a pull answered 304", || {
        pull_after(&base, &token, feed, first_id, |p| {
            p["result"] == "unchanged"
        })
    });
    assert_eq!(unchanged["http_status"], 304, "{unchanged}");
    assert!(unchanged["run"].is_null());
    // The same bytes served again as a newer file: downloaded, and found already ingested.
    let future = std::time::SystemTime::now() + Duration::from_secs(86_400);
    std::fs::File::options()
        .write(true)
        .open(www.join("feodo.csv"))
        .unwrap()
        .set_modified(future)
        .unwrap();
    let same = wait_for("a pull of the same content served anew", || {
        pull_after(&base, &token, feed, first_id, |p| {
            p["http_status"] == 200 && p["result"] == "unchanged"
        })
    });
    assert_eq!(same["run"]["status"], "already_ingested", "{same}");
    assert_eq!(same["run"]["events_stored"], 0);
    assert_eq!(
        figures(&data),
        (want["events_stored"].clone(), want["quarantined"].clone()),
        "no new events or quarantined records"
    );

    // A missing file: the pull fails with the server's answer.
    let gone = with_pull(&shipped, &defs, &http.url("missing.csv"), "");
    ok(&data, &["feeds", "add", "--replace", s(&gone)]);
    let last = same["id"].as_i64().unwrap();
    let not_found = wait_for("a failed pull of a missing file", || {
        pull_after(&base, &token, feed, last, |p| p["result"] == "failed")
    });
    assert_eq!(not_found["http_status"], 404, "{not_found}");
    assert!(
        not_found["error"].as_str().unwrap().contains("HTTP 404"),
        "{not_found}"
    );

    // A file over max_bytes: stopped, recorded with the reason, and no file is left of it.
    let mut big = std::fs::read_to_string(&sample).unwrap();
    while big.len() < 5000 {
        big.push_str("# padding that takes the file over the limit\n");
    }
    std::fs::write(www.join("big.csv"), &big).unwrap();
    let oversized = with_pull(&shipped, &defs, &http.url("big.csv"), "max_bytes = 2000\n");
    ok(&data, &["feeds", "add", "--replace", s(&oversized)]);
    let last = not_found["id"].as_i64().unwrap();
    let too_big = wait_for("a failed pull of an oversized file", || {
        pull_after(&base, &token, feed, last, |p| {
            p["error"].as_str().is_some_and(|e| e.contains("max_bytes"))
        })
    });
    assert_eq!(too_big["result"], "failed");
    let reason = too_big["error"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{} bytes", big.len()))
            && reason.contains("max_bytes (2000 bytes)"),
        "{reason}"
    );
    let downloads: Vec<String> = std::fs::read_dir(data.join("feeds/downloads").join(feed))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        downloads
            .iter()
            .all(|n| !n.contains("big.csv") && !n.ends_with(".part")),
        "{downloads:?}"
    );
    assert_eq!(
        figures(&data),
        (want["events_stored"].clone(), want["quarantined"].clone())
    );

    // The list shows the last pull; the pages and the dashboard show the failure.
    let list = get_json(&base, &token, "/api/v1/feeds");
    assert_eq!(list["scheduled"], true);
    let listed = &list["feeds"][0];
    assert_eq!(listed["name"], feed);
    assert_eq!(listed["pull"]["max_bytes"], 2000);
    assert!(listed["next_pull_due"].is_string());
    let admin = web::login(&base, "admin");
    let page = admin.get("/feeds").text().unwrap();
    assert!(
        page.contains(feed) && page.contains("id=\"registered\""),
        "{page}"
    );
    let page = admin.get(&format!("/feeds/{feed}")).text().unwrap();
    assert!(
        page.contains("max_bytes (2000 bytes)") && page.contains("HTTP 404"),
        "{page}"
    );
    assert!(page.contains("[pull]"), "the definition is shown: {page}");
    let dashboard = admin.get("/").text().unwrap();
    let health = &dashboard[dashboard
        .find("id=\"feed-health\"")
        .expect("a feed health table")..];
    assert!(
        health.contains(feed) && health.contains("failed"),
        "{health}"
    );

    // "Pull now" hands the feed to the scheduler; the attempt is recorded as the user's. Pulled
    // once a day, the feed is not due again for the scheduler itself.
    std::fs::write(www.join("feodo-again.csv"), std::fs::read(&sample).unwrap()).unwrap();
    let again = pulled_every(&shipped, &defs, &http.url("feodo-again.csv"), "1d", "");
    ok(&data, &["feeds", "add", "--replace", s(&again)]);
    let before =
        get_json(&base, &token, &format!("/api/v1/feeds/{feed}?limit=1"))["pulls"][0]["id"]
            .as_i64()
            .unwrap();
    let resp = admin.post_form(&format!("/feeds/{feed}/pull"), &[], Some(&admin.csrf));
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        format!("/feeds/{feed}?requested=1").as_str()
    );
    let by_hand = wait_for("the pull asked for in the web UI", || {
        pull_after(&base, &token, feed, before, |p| {
            p["requested_by"] == "web:admin"
        })
    });
    // New bytes at a new address, but the same content: nothing new is stored.
    assert_eq!(by_hand["result"], "unchanged", "{by_hand}");
    assert_eq!(by_hand["run"]["status"], "already_ingested");
    let audit = json(&data, &["audit", "list", "--action", "feed.pull"]);
    assert_eq!(audit[0]["actor"], "user:admin");
    assert_eq!(audit[0]["subject"], format!("feed:{feed}"));

    let metrics = admin.get("/metrics").text().unwrap();
    for line in [
        format!("focal_feed_pulls_total{{feed=\"{feed}\",result=\"ok\"}} 1"),
        "focal_worker_runs_total{worker=\"feeds\"}".to_string(),
        "focal_worker_failures_total{worker=\"feeds\"}".to_string(),
    ] {
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    drop(serve);
}

/// A due pull finds another ingest holding the store's ingest lock: the scheduler puts it off,
/// says so, and pulls once the lock is free; nothing is recorded for the put-off attempt.
#[test]
fn a_due_pull_waits_while_another_ingest_holds_the_lock() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let data = data_folder(tmp.path(), "data");
    web::set_file_dirs(&data, &[&repo().join("feeds/samples")]);
    let sample = repo().join("feeds/samples/blocklist-de-all.txt");
    let url = format!("file://{}", sample.display());
    let def = with_pull(
        &repo().join("feeds/blocklist-de.toml"),
        tmp.path(),
        &url,
        "",
    );
    ok(&data, &["feeds", "add", s(&def)]);
    // The lock every ingest into this store takes, held here as a long `focal ingest` would.
    let lock = std::fs::File::create(data.join("focal.ingest-lock")).unwrap();
    lock.lock().unwrap();
    let mut child = focal_command(
        &data,
        &[
            "--json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--feeds-every",
            "1",
            "--notify-every",
            "0",
            "--sync-every",
            "0",
        ],
    )
    .env("FOCAL_LOG", "focal=info")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = serde_json::from_str::<Value>(&line).unwrap()["url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let said = wait_for("the scheduler to say the pull is put off", || {
        rx.try_iter().find(|l| l.contains("put off"))
    });
    assert!(
        said.contains("blocklist-de-all") && said.contains("another ingest"),
        "{said}"
    );
    let token = json(
        &data,
        &["users", "token", "add", "admin", "--scope", "read"],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let held = get_json(&base, &token, "/api/v1/feeds/blocklist-de-all");
    assert_eq!(
        held["pulls"],
        Value::Array(vec![]),
        "nothing pulled while held"
    );
    drop(lock);
    let pulled = wait_for("the pull after the lock is free", || {
        pull_after(&base, &token, "blocklist-de-all", 0, |p| {
            p["result"] == "ok"
        })
    });
    assert_eq!(pulled["requested_by"], "schedule");
    let admin = web::login(&base, "admin");
    let metrics = admin.get("/metrics").text().unwrap();
    assert!(
        metrics.contains("focal_feed_pulls_deferred_total{feed=\"blocklist-de-all\"}"),
        "{metrics}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The notification worker sends a constituent's new events to its abuse address, with no
/// `focal notify` run by anyone.
#[test]
fn serve_sends_notifications_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_folder(tmp.path(), "data");
    let smtp = support::SmtpServer::start(tmp.path());
    support::set_notify(&data, &[("smtp", &format!("\"{}\"", smtp.address()))]);
    let serve = Serve::start(
        &data,
        &[
            "--notify-every",
            "1",
            "--feeds-every",
            "0",
            "--sync-every",
            "0",
        ],
    );
    // net-00000 owns 37.221.70.0/24 in the workload's constituency.
    let constituent = "net-00000";
    let address = std::fs::read_to_string(fixture("constituents.csv"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{constituent},")))
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .unwrap();
    let file = tmp.path().join("drones.csv");
    std::fs::write(
        &file,
        "timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port\n\
         2026-11-24T10:00:00Z,37.221.70.10,4444,tcp,,mirai,192.0.2.1,23\n\
         2026-11-24T11:00:00Z,37.221.70.11,4444,tcp,,mozi,192.0.2.1,23\n",
    )
    .unwrap();
    ok(
        &data,
        &[
            "ingest",
            "--feed",
            s(&repo().join("bench/reference-feed.toml")),
            s(&file),
        ],
    );
    let ids: std::collections::BTreeSet<String> = json(
        &data,
        &["events", "--constituent", constituent, "--limit", "0"],
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|e| e["extra.focal_event_id"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(ids.len(), 2);
    wait_for("the digest at the SMTP server", || {
        (smtp.count() > 0).then_some(())
    });
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "one digest");
    let m = &messages[0];
    assert_eq!(m["rcpt_to"].as_str().unwrap(), address);
    let csv = m["attachments"]["events.csv"].as_str().unwrap();
    let got: std::collections::BTreeSet<String> = csv
        .lines()
        .skip(1)
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(
        got, ids,
        "the digest lists exactly the constituent's events"
    );
    let outbox = json(&data, &["notify", "--outbox"]);
    assert_eq!(outbox[0]["state"], "sent", "{outbox}");
    let admin = web::login(&serve.base, "admin");
    let metrics = admin.get("/metrics").text().unwrap();
    assert!(
        metrics.contains("focal_worker_notifications_total{outcome=\"sent\"} 1"),
        "{metrics}"
    );
}

/// Rows in the reference feed's layout: valid ones (some repeated: duplicates) and a malformed
/// one now and then.
fn big_feed(path: &Path, rows: u32) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port"
    )
    .unwrap();
    for i in 0..rows {
        if i % 997 == 0 {
            writeln!(
                f,
                "2026-11-23T10:00:00Z,999.1.1.1,80,tcp,,mirai,192.0.2.10,80"
            )
            .unwrap();
            continue;
        }
        let n = if i % 7 == 0 { i / 7 } else { i };
        writeln!(
            f,
            "2026-11-23T{:02}:00:00Z,{}.{}.{}.{},23,tcp,,mirai,192.0.2.10,23",
            n % 24,
            1 + (n >> 24) % 200,
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255
        )
        .unwrap();
    }
}

/// SIGTERM while the feed worker ingests: serve exits 0 soon after, the ingest stops at a batch
/// boundary with its run kept for resuming, no partial download is left, and a later `focal
/// ingest` of the same file ends with exactly what an uninterrupted ingest stores: nothing lost,
/// nothing doubled.
#[test]
fn sigterm_stops_serve_and_its_workers_and_the_ingest_resumes_later() {
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let file = www.join("drones.csv");
    big_feed(&file, 400_000);
    let http = HttpServer::start(&www);
    let definition = repo().join("bench/reference-feed.toml");

    let reference = data_folder(tmp.path(), "reference");
    ok(&reference, &["ingest", "--feed", s(&definition), s(&file)]);
    let want = stats(&reference);

    let data = data_folder(tmp.path(), "data");
    let def = with_pull(&definition, tmp.path(), &http.url("drones.csv"), "");
    ok(&data, &["feeds", "add", s(&def)]);
    // Every worker runs; the notification worker's relay refuses connections (its failures
    // must not disturb anything).
    let closed = focal_testkit::free_port();
    support::set_notify(&data, &[("smtp", &format!("\"127.0.0.1:{closed}\""))]);
    let mut serve = Serve::start(&data, &["--notify-every", "1", "--sync-every", "1"]);
    // SIGTERM while the scheduled pull's ingest is running.
    wait_for("the scheduled pull's run", || {
        json(&data, &["runs"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["feed"] == "reference-drones" && r["status"] == "running")
            .then_some(())
    });
    let pid = serve.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait_for("serve to exit after SIGTERM", || {
        serve.child.try_wait().unwrap()
    });
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");

    let leftovers: Vec<String> = std::fs::read_dir(data.join("feeds/downloads/reference-drones"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The pull says how it ended: stopped with its run kept (the usual case), or finished in the
    // moment between the check above and the signal.
    let shown = json(&data, &["feeds", "show", "reference-drones"]);
    let pull = &shown["pulls"][0];
    // A third ending, on a loaded machine: the ingest did not reach its next batch within the
    // server's stop grace, so the process left without closing the pull; its run is kept,
    // "running", and must resume exactly like a stopped one.
    let cut_off = pull["result"].is_null();
    let stopped = pull["result"] == "failed" || cut_off;
    let kept_run = if cut_off {
        let runs = json(&data, &["runs"]);
        let running: Vec<_> = runs
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["feed"] == "reference-drones" && r["status"] == "running")
            .cloned()
            .collect();
        assert_eq!(running.len(), 1, "the cut-off run is kept: {runs}");
        running[0]["id"].clone()
    } else {
        pull["run_id"].clone()
    };
    if stopped && !cut_off {
        assert!(
            pull["error"]
                .as_str()
                .unwrap()
                .contains("stopped before the end"),
            "{pull}"
        );
        assert_eq!(pull["run"]["status"], "running", "{pull}");
    } else if !cut_off {
        assert_eq!(pull["result"], "ok", "{pull}");
    }

    let resumed = json(&data, &["ingest", "--feed", s(&definition), s(&file)]);
    let r = &resumed["files"][0];
    if stopped {
        assert_eq!(r["status"], "completed", "{resumed}");
        assert_eq!(r["resumed_from"], kept_run, "{resumed}");
        assert_eq!(
            r["rows_read"], 400_000,
            "rows before and after the stop add up to the file"
        );
    } else {
        assert_eq!(r["status"], "already_ingested", "{resumed}");
    }
    let got = stats(&data);
    for key in [
        "events",
        "quarantined",
        "unassigned",
        "per_constituent",
        "by_type",
    ] {
        assert_eq!(
            got[key], want[key],
            "{key} after SIGTERM and a later ingest"
        );
    }
    assert!(
        json(&data, &["runs"])
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "running"),
        "no run is left running"
    );
}

/// The workers write through a store of their own, so a scheduled ingest, which holds its
/// store's writer for the whole run, does not hold up the web's writes: an analyst signs in
/// (a session row is written) while the pull's run is still going.
#[test]
fn the_web_signs_in_while_a_scheduled_pull_ingests() {
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    std::fs::create_dir(&www).unwrap();
    big_feed(&www.join("drones.csv"), 1_000_000);
    let http = HttpServer::start(&www);
    let definition = repo().join("bench/reference-feed.toml");
    let data = data_folder(tmp.path(), "data");
    ok(
        &data,
        &[
            "users",
            "add",
            "analyst2",
            "--role",
            "analyst",
            "--password",
            web::PASSWORD,
        ],
    );
    let def = with_pull(&definition, tmp.path(), &http.url("drones.csv"), "");
    ok(&data, &["feeds", "add", s(&def)]);
    let serve = Serve::start(&data, &["--notify-every", "0", "--sync-every", "0"]);
    let running = || {
        json(&data, &["runs"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["feed"] == "reference-drones" && r["status"] == "running")
    };
    wait_for("the scheduled pull's run", || running().then_some(()));
    let session = web::login(&serve.base, "analyst2");
    assert_eq!(session.get("/feeds").status(), 200);
    assert!(
        running(),
        "the sign-in was answered while the ingest was still running"
    );
    // And the pull finishes with every row read.
    let done = wait_for("the pull to finish", || {
        let shown = json(&data, &["feeds", "show", "reference-drones"]);
        (shown["pulls"][0]["result"] == "ok").then_some(shown)
    });
    assert_eq!(done["pulls"][0]["run"]["rows_read"], 1_000_000, "{done}");
}

/// A real HTTP server that serves `feed.txt` only to a request carrying all three secrets of the
/// definition: the key in the query, the user and password of the URL (Basic), and the inline
/// `Authorization` header. Every request's path and Authorization headers go to `log`.
const SECRETS_SERVER: &str = r#"
import base64, http.server, sys
port, body, log = int(sys.argv[1]), open(sys.argv[2], 'rb').read(), sys.argv[3]
want = sorted(['Bearer hdr-S3CRET-1', 'Basic ' + base64.b64encode(b'feeduser:pw-S3CRET-2').decode()])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        auth = sorted(self.headers.get_all('Authorization') or [])
        with open(log, 'a') as f:
            f.write(repr((self.path, auth)) + '\n')
        if self.path != '/feed.txt?key=qs-S3CRET-3' or auth != want:
            self.send_response(403)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

/// Starts a `python3 -c SCRIPT PORT ARGS...` server on a free loopback port and waits for it.
fn python_server(script: &str, args: &[&Path]) -> HttpServer {
    let port = focal_testkit::free_port();
    let mut server = HttpServer {
        child: Command::new("python3")
            .args(["-c", script, &port.to_string()])
            .args(args)
            .spawn()
            .unwrap(),
        port,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("the test HTTP server", || {
        assert!(
            server.child.try_wait().unwrap().is_none(),
            "the test HTTP server exited"
        );
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .ok()
            .map(|_| ())
    });
    server
}

#[test]
fn secrets_of_a_definition_are_sent_but_shown_audited_and_stored_nowhere() {
    const SECRETS: [&str; 3] = ["hdr-S3CRET-1", "pw-S3CRET-2", "qs-S3CRET-3"];
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("received.log");
    std::fs::write(&log, "").unwrap();
    let server = python_server(
        SECRETS_SERVER,
        &[&repo().join("feeds/samples/blocklist-de-all.txt"), &log],
    );
    let feed = "blocklist-de-all";
    let url = format!(
        "http://feeduser:pw-S3CRET-2@127.0.0.1:{}/feed.txt?key=qs-S3CRET-3",
        server.port
    );
    let def = with_pull(
        &repo().join("feeds/blocklist-de.toml"),
        tmp.path(),
        &url,
        "[pull.headers]\nAuthorization = \"Bearer hdr-S3CRET-1\"\n",
    );
    let written = std::fs::read_to_string(&def).unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init", "--admin-password", web::PASSWORD]);
    let mut outputs = vec![ok(&data, &["--json", "feeds", "add", s(&def)])];
    // The registry keeps the file as written: the pull needs the secrets.
    assert_eq!(
        std::fs::read_to_string(data.join(format!("feeds/{feed}.toml"))).unwrap(),
        written
    );

    // The pull sends all three: the server answers only then.
    let pulled = json(&data, &["feeds", "pull", feed]);
    assert_eq!(pulled["pulls"][0]["result"], "ok", "{pulled}");
    assert!(
        pulled["pulls"][0]["summary"]["events_stored"]
            .as_u64()
            .unwrap()
            > 0
    );
    let received = std::fs::read_to_string(&log).unwrap();
    assert!(
        received.contains("key=qs-S3CRET-3")
            && received.contains("Bearer hdr-S3CRET-1")
            // feeduser:pw-S3CRET-2
            && received.contains("Basic ZmVlZHVzZXI6cHctUzNDUkVULTI="),
        "the server got the secrets: {received}"
    );

    // A definition edited by hand into something that is not TOML, on the line of a secret.
    std::fs::write(
        data.join("feeds/broken.toml"),
        "name = 'broken'\nformat = 'list'\n[pull]\nurl = 'https://x.org/?key=qs-S3CRET-3' oops\n",
    )
    .unwrap();

    let shown_url = format!(
        "http://[redacted]@127.0.0.1:{}/feed.txt?[redacted]",
        server.port
    );
    let list = json(&data, &["feeds", "list"]);
    assert_eq!(list["feeds"][0]["pull"]["url"], shown_url.as_str());
    assert_eq!(list["feeds"][0]["pull"]["headers"][0], "Authorization");
    assert!(
        list["problems"][0]
            .as_str()
            .unwrap()
            .contains("broken.toml: line 4, column"),
        "{list}"
    );
    let show = json(&data, &["feeds", "show", feed]);
    let definition = show["definition"].as_str().unwrap();
    assert!(
        definition.contains(&format!("url = \"{shown_url}\""))
            && definition.contains("Authorization = \"[redacted]\""),
        "{definition}"
    );
    outputs.extend([
        list.to_string(),
        show.to_string(),
        ok(&data, &["feeds", "show", feed]),
        ok(&data, &["feeds", "list"]),
        String::from_utf8_lossy(&focal(&data, &["feeds", "list"]).stderr).into_owned(),
    ]);

    // The web pages and the API, as an admin and with a read token.
    let token = json(
        &data,
        &["users", "token", "add", "admin", "--scope", "read"],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let serve = Serve::start(&data, &["--no-workers"]);
    let api = get_json(&serve.base, &token, "/api/v1/feeds");
    assert_eq!(api["feeds"][0]["pull"]["url"], shown_url.as_str());
    let detail = get_json(&serve.base, &token, &format!("/api/v1/feeds/{feed}"));
    assert_eq!(detail["definition"], definition);
    let admin = web::login(&serve.base, "admin");
    let feeds_page = admin.get("/feeds").text().unwrap();
    assert!(
        feeds_page.contains(&maud_escaped(&shown_url)),
        "{feeds_page}"
    );
    let feed_page = admin.get(&format!("/feeds/{feed}")).text().unwrap();
    assert!(
        feed_page.contains("Authorization = &quot;[redacted]&quot;"),
        "{feed_page}"
    );
    outputs.extend([
        api.to_string(),
        detail.to_string(),
        feeds_page,
        feed_page,
        admin.get("/audit").text().unwrap(),
    ]);
    drop(serve);

    // Removed: the audit log has the definition added and removed, redacted, and the file's
    // SHA-256.
    outputs.push(ok(&data, &["--json", "feeds", "remove", feed]));
    let audit = json(
        &data,
        &["audit", "list", "--subject", &format!("feed:{feed}")],
    );
    let (added, removed) = (&audit[0]["after"], &audit[1]["before"]);
    for entry in [added, removed] {
        assert_eq!(entry["definition"], definition, "{audit}");
        assert_eq!(entry["sha256"], sha256_hex(&written).as_str());
    }
    outputs.push(audit.to_string());
    outputs.push(json(&data, &["audit", "list"]).to_string());
    ok(&data, &["audit", "verify"]);

    for (i, out) in outputs.iter().enumerate() {
        for secret in SECRETS {
            assert!(!out.contains(secret), "{secret} in output {i}:\n{out}");
        }
    }
    let db = std::fs::read(data.join("focal.db")).unwrap();
    let wal = std::fs::read(data.join("focal.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for secret in SECRETS {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} is in the store"
            );
        }
    }
}

/// `text` as maud writes it into HTML.
fn maud_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Makes the store refuse (`true`) or accept audit entries, with a trigger: a real failure of
/// the audit write, as a full disk or a broken database would give.
fn refuse_audit(data: &Path, refuse: bool) {
    let sql = if refuse {
        "CREATE TRIGGER test_refuses_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'the test refuses audit entries'); END;"
    } else {
        "DROP TRIGGER test_refuses_audit;"
    };
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.commit()",
        ])
        .arg(data.join("focal.db"))
        .arg(sql)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_registry_change_the_audit_log_cannot_record_is_not_made() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    let srv = tmp.path().join("srv");
    std::fs::create_dir(&srv).unwrap();
    web::set_file_dirs(&data, &[&srv]);
    let shipped = repo().join("feeds/spamhaus-drop.toml");
    let url = |name: &str| format!("file://{}", srv.join(name).display());
    let first = with_pull(&shipped, tmp.path(), &url("first.txt"), "");
    let registered = data.join("feeds/spamhaus-drop.toml");
    let files = || -> Vec<String> {
        std::fs::read_dir(data.join("feeds"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    refuse_audit(&data, true);
    let err = fails(&data, &["feeds", "add", s(&first)]);
    assert!(
        err.contains("audit log") && err.contains("was not changed"),
        "{err}"
    );
    assert!(files().is_empty(), "nothing registered: {:?}", files());
    assert_eq!(
        json(&data, &["feeds", "list"])["feeds"],
        Value::Array(vec![])
    );

    refuse_audit(&data, false);
    ok(&data, &["feeds", "add", s(&first)]);
    let text = std::fs::read_to_string(&registered).unwrap();
    refuse_audit(&data, true);
    let again = tmp.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let second = with_pull(&shipped, &again, &url("second.txt"), "");
    let err = fails(&data, &["feeds", "add", "--replace", s(&second)]);
    assert!(err.contains("was not changed"), "{err}");
    assert_eq!(std::fs::read_to_string(&registered).unwrap(), text);
    let err = fails(&data, &["feeds", "remove", "spamhaus-drop"]);
    assert!(err.contains("was not removed"), "{err}");
    assert_eq!(std::fs::read_to_string(&registered).unwrap(), text);
    assert_eq!(files(), ["spamhaus-drop.toml"], "no staged file is left");

    refuse_audit(&data, false);
    let audit = json(&data, &["audit", "list", "--subject", "feed:spamhaus-drop"]);
    assert_eq!(audit.as_array().unwrap().len(), 1, "only the add: {audit}");
    ok(&data, &["audit", "verify"]);
}

/// A real HTTP server that writes `started` when asked for anything and then never answers:
/// a pull of it keeps the feed scheduler busy.
const STALLING_SERVER: &str = r#"
import http.server, sys, time
port, started = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        open(started, 'w').close()
        time.sleep(3600)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

#[test]
fn pull_now_is_audited_only_when_the_scheduler_takes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let started = tmp.path().join("started");
    let server = python_server(STALLING_SERVER, &[&started]);
    let data = tmp.path().join("data");
    ok(&data, &["init", "--admin-password", web::PASSWORD]);
    let feed = "spamhaus-drop";
    let def = with_pull(
        &repo().join("feeds/spamhaus-drop.toml"),
        tmp.path(),
        &server.url("drop.txt"),
        "",
    );
    ok(&data, &["feeds", "add", s(&def)]);
    let serve = Serve::start(&data, &["--notify-every", "0", "--sync-every", "0"]);
    // The scheduler's first pull hangs on the server: it takes no request meanwhile.
    wait_for("the scheduled pull to reach the server", || {
        started.exists().then_some(())
    });
    let admin = web::login(&serve.base, "admin");
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..40 {
        let resp = admin.post_form(&format!("/feeds/{feed}/pull"), &[], Some(&admin.csrf));
        match resp.status().as_u16() {
            303 => taken += 1,
            503 => {
                let page = resp.text().unwrap();
                assert!(
                    page.contains(&format!("feed {feed} was not pulled"))
                        && page.contains("pulls waiting"),
                    "{page}"
                );
                refused += 1;
            }
            other => panic!("pull now answered {other}"),
        }
    }
    assert!(taken > 0 && refused > 0, "{taken} taken, {refused} refused");
    let audit = json(&data, &["audit", "list", "--action", "feed.pull"]);
    assert_eq!(
        audit.as_array().unwrap().len(),
        taken,
        "one entry per request handed on: {audit}"
    );
    drop(serve);
}

/// Runs a command that must fail at once (not run on), and returns its stderr.
fn fails_soon(data: &Path, args: &[&str]) -> String {
    let mut child = focal_command(data, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(&format!("focal {args:?} to stop"), || {
        child.try_wait().unwrap()
    });
    if status.success() {
        panic!("focal {args:?} should have failed");
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn worker_intervals_are_bounded_in_the_configuration_and_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init"]);
    for flag in [
        "--feeds-every",
        "--notify-every",
        "--sync-every",
        "--drop-every",
    ] {
        let err = fails_soon(
            &data,
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                flag,
                "18446744073709551615",
            ],
        );
        assert!(
            err.contains(flag) && err.contains("longer than 366 days"),
            "{flag}: {err}"
        );
    }
    // 366 days is the most.
    let config = data.join("focal.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("notify_every = 300"), "{text}");
    std::fs::write(
        &config,
        text.replace("notify_every = 300", "notify_every = 31622401"),
    )
    .unwrap();
    for args in [&["stats"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let err = fails_soon(&data, args);
        assert!(
            err.contains("focal.toml") && err.contains("workers.notify_every: 31622401 seconds"),
            "{args:?}: {err}"
        );
    }
    std::fs::write(
        &config,
        text.replace("notify_every = 300", "notify_every = 31622400"),
    )
    .unwrap();
    json(&data, &["stats"]);
}

/// Gives `path` the modification time `secs` after the epoch.
fn set_mtime(path: &Path, secs: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn time_last_modified_dates_records_by_the_pull_s_last_modified_or_the_file_s_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_folder(tmp.path(), "data");
    let shipped = std::fs::read_to_string(repo().join("feeds/blocklist-de-ssh.toml")).unwrap();

    // A pull: python's http.server sends the served file's mtime as Last-Modified
    // (Tue, 24 Nov 2026 11:00:00 GMT); the download itself is written now.
    let served = tmp.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let file = served.join("ssh.txt");
    std::fs::copy(repo().join("feeds/samples/blocklist-de-ssh.txt"), &file).unwrap();
    set_mtime(&file, 1_795_518_000);
    let server = HttpServer::start(&served);
    let pulled = tmp.path().join("pulled.toml");
    std::fs::write(
        &pulled,
        format!(
            "{shipped}\n[time]\nlast_modified = true\n\n[pull]\nurl = \"{}\"\n",
            server.url("ssh.txt")
        ),
    )
    .unwrap();
    ok(&data, &["feeds", "add", s(&pulled)]);
    ok(&data, &["feeds", "pull", "blocklist-de-ssh"]);
    let events = support::all_events(&data);
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["time.source"], "2026-11-24T11:00:00+00:00", "{e:#}");
    }

    // `focal ingest` of a local file: its mtime (Fri, 20 Nov 2026 08:00:00 GMT).
    let local = tmp.path().join("local.toml");
    std::fs::write(
        &local,
        shipped.replace("name = \"blocklist-de-ssh\"", "name = \"ssh-local\"")
            + "\n[time]\nlast_modified = true\n",
    )
    .unwrap();
    let copy = tmp.path().join("ssh-copy.txt");
    std::fs::copy(repo().join("feeds/samples/blocklist-de-ssh.txt"), &copy).unwrap();
    set_mtime(&copy, 1_795_161_600);
    ok(&data, &["ingest", "--feed", s(&local), s(&copy)]);
    let local_events: Vec<Value> = support::all_events(&data)
        .into_iter()
        .filter(|e| e["feed.name"] == "ssh-local")
        .collect();
    assert_eq!(local_events.len(), events.len());
    for e in &local_events {
        assert_eq!(e["time.source"], "2026-11-20T08:00:00+00:00", "{e:#}");
    }

    // Without the setting, the same file gives no time.source at all.
    let untimed = tmp.path().join("untimed.toml");
    std::fs::write(
        &untimed,
        shipped.replace("name = \"blocklist-de-ssh\"", "name = \"ssh-untimed\""),
    )
    .unwrap();
    ok(&data, &["ingest", "--feed", s(&untimed), s(&copy)]);
    let untimed_events: Vec<Value> = support::all_events(&data)
        .into_iter()
        .filter(|e| e["feed.name"] == "ssh-untimed")
        .collect();
    assert_eq!(untimed_events.len(), events.len());
    assert!(
        untimed_events
            .iter()
            .all(|e| e.get("time.source").is_none())
    );
}

/// A copy of a definition with a `[drop]` table appended.
fn with_drop(definition: &Path, dir: &Path, quiet: &str) -> PathBuf {
    let text = std::fs::read_to_string(definition).unwrap();
    let out = dir.join(definition.file_name().unwrap());
    std::fs::write(&out, format!("{text}\n[drop]\nquiet = \"{quiet}\"\n")).unwrap();
    out
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_drop_folder_takes_complete_files_once_and_moves_them_to_done_or_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_folder(tmp.path(), "data");
    let sample = repo().join("feeds/samples/spamhaus-drop.txt");
    let def = with_drop(&repo().join("feeds/spamhaus-drop.toml"), tmp.path(), "1s");
    ok(&data, &["feeds", "add", s(&def)]);
    let want = json(&data, &["feeds", "test", s(&def), s(&sample)]);
    let want_events = want["events"].as_u64().unwrap();
    assert!(want_events > 0);

    let drop = data.join("drop/spamhaus-drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(&sample, drop.join("drop-1.txt")).unwrap();
    // rsync's temporary file of a transfer still going on.
    let partial = drop.join(".drop-2.txt.Xy12Ab");
    std::fs::copy(&sample, &partial).unwrap();

    let first = json(&data, &["feeds", "watch", "--once"]);
    let taken = first["taken"].as_array().unwrap();
    assert_eq!(taken.len(), 1, "{first:#}");
    assert_eq!(taken[0]["outcome"], "done", "{first:#}");
    assert_eq!(taken[0]["events_stored"], want_events, "{first:#}");
    assert_eq!(names_in(&drop.join("done")), ["drop-1.txt"]);
    assert_eq!(
        names_in(&drop),
        [".drop-2.txt.Xy12Ab", ".lock", "done", "failed"]
    );
    assert_eq!(stats(&data)["events"], want_events);

    // rsync renames the finished transfer (the same content as drop-1.txt); a corrupt gzip
    // arrives too.
    std::fs::rename(&partial, drop.join("drop-2.txt")).unwrap();
    std::fs::write(
        drop.join("bad.txt.gz"),
        b"\x1f\x8b\x08\x00garbage, not deflate",
    )
    .unwrap();
    let second = json(&data, &["feeds", "watch", "--once"]);
    let taken: BTreeMap<String, &Value> = second["taken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let file = t["file"].as_str().unwrap();
            (
                Path::new(file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                t,
            )
        })
        .collect();
    assert_eq!(taken.len(), 2, "{second:#}");
    assert_eq!(
        taken["drop-2.txt"]["outcome"], "already_ingested",
        "{second:#}"
    );
    assert_eq!(taken["bad.txt.gz"]["outcome"], "failed", "{second:#}");
    assert_eq!(names_in(&drop.join("done")), ["drop-1.txt", "drop-2.txt"]);
    assert_eq!(
        names_in(&drop.join("failed")),
        ["bad.txt.gz", "bad.txt.gz.reason"]
    );
    let reason = std::fs::read_to_string(drop.join("failed/bad.txt.gz.reason")).unwrap();
    assert!(reason.contains("bad.txt.gz"), "{reason}");
    assert_eq!(
        stats(&data)["events"],
        want_events,
        "nothing ingested twice"
    );

    // Nothing left: another pass takes nothing.
    let third = json(&data, &["feeds", "watch", "--once"]);
    assert_eq!(third["taken"], serde_json::json!([]));

    // Bad settings are refused, naming them.
    let shipped = std::fs::read_to_string(repo().join("feeds/spamhaus-drop.toml")).unwrap();
    for (table, setting) in [
        ("[drop]\nquiet = 0\n", "drop.quiet"),
        ("[drop]\nquiet = \"2d\"\n", "drop.quiet"),
        ("[drop]\nmax_files = 0\n", "drop.max_files"),
    ] {
        let bad = tmp.path().join("bad-drop.toml");
        std::fs::write(
            &bad,
            shipped.replace("name = \"spamhaus-drop\"", "name = \"bad-drop\"") + "\n" + table,
        )
        .unwrap();
        let err = fails(&data, &["feeds", "add", s(&bad)]);
        assert!(err.contains(setting), "{table}: {err}");
    }
}

/// A watcher killed (SIGKILL) in the middle of a dropped file's ingest: after a restart the
/// file is taken once, its interrupted run resumed, and the store ends with exactly what an
/// uninterrupted ingest stores.
#[test]
fn a_drop_folder_file_half_ingested_when_killed_is_ingested_once_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("drones.csv");
    big_feed(&file, 400_000);
    let definition = repo().join("bench/reference-feed.toml");
    let reference = data_folder(tmp.path(), "reference");
    ok(&reference, &["ingest", "--feed", s(&definition), s(&file)]);
    let want = stats(&reference);

    let data = data_folder(tmp.path(), "data");
    let def = with_drop(&definition, tmp.path(), "1s");
    ok(&data, &["feeds", "add", s(&def)]);
    let drop = data.join("drop/reference-drones");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(&file, drop.join("drones.csv")).unwrap();

    let mut watcher = focal_command(&data, &["feeds", "watch", "--every", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the dropped file's run", || {
        json(&data, &["runs"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["feed"] == "reference-drones" && r["status"] == "running")
            .then_some(())
    });
    watcher.kill().unwrap();
    watcher.wait().unwrap();

    let after = json(&data, &["feeds", "watch", "--once"]);
    let done = names_in(&drop.join("done"));
    assert_eq!(done, ["drones.csv"], "{after:#}");
    let taken = after["taken"].as_array().unwrap();
    // Killed mid-ingest (the usual case): resumed now. Or the ingest ended in the moment
    // between the check and the kill: moved then, or found already ingested now.
    if let Some(t) = taken.first() {
        assert_eq!(taken.len(), 1, "{after:#}");
        assert!(
            t["outcome"] == "already_ingested" || !t["resumed_from"].is_null(),
            "{after:#}"
        );
    }
    let got = stats(&data);
    for key in ["events", "quarantined", "by_type"] {
        assert_eq!(got[key], want[key], "{key} after a kill and a restart");
    }
    assert!(
        json(&data, &["runs"])
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "running"),
        "no run is left running"
    );
}

/// `focal serve`'s drop-folder worker takes a delivered file on its own.
#[test]
fn serve_takes_dropped_files_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_folder(tmp.path(), "data");
    let sample = repo().join("feeds/samples/spamhaus-drop.txt");
    let def = with_drop(&repo().join("feeds/spamhaus-drop.toml"), tmp.path(), "1s");
    ok(&data, &["feeds", "add", s(&def)]);
    let want = json(&data, &["feeds", "test", s(&def), s(&sample)]);
    let drop = data.join("drop/spamhaus-drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::copy(&sample, drop.join("delivered.txt")).unwrap();
    let _serve = Serve::start(
        &data,
        &[
            "--drop-every",
            "1",
            "--feeds-every",
            "0",
            "--notify-every",
            "0",
            "--sync-every",
            "0",
        ],
    );
    wait_for("the dropped file in done/", || {
        drop.join("done/delivered.txt").exists().then_some(())
    });
    assert!(!drop.join("delivered.txt").exists());
    assert_eq!(stats(&data)["events"], want["events"]);
}
