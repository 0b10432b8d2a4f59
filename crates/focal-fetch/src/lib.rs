//! Downloading feed files: `http://`, `https://` (reqwest with rustls) and `file://` URLs.
//!
//! **Invariants.**
//! - A download is bounded: it stops at `max_bytes` (refused at once when the server announces
//!   more) and at `timeout`, whichever comes first.
//! - A file is whole or absent: bytes go to a hidden `.part` file that is synced and renamed to
//!   its final name only when complete. A download stopped for any reason (an error, a limit, a
//!   dropped future, a killed process) never leaves a file under a final name; a `.part` left by
//!   a killed process is removed by [`remove_partial`] before the next download.
//! - Errors say what happened without the URL, whose query may carry a key.
//! - A redirect is followed to another host (or another port) only when that host's addresses
//!   are public: a feed's server cannot steer a pull at loopback, private, link-local or
//!   unspecified addresses (see [`internal_address`]). Redirects within the first URL's host and
//!   port are followed as they come, whatever its address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to fetch, and within which limits.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    /// Extra request headers (already resolved: values, not environment variable names).
    pub headers: Vec<(String, String)>,
    pub max_bytes: u64,
    pub timeout: Duration,
    /// Validators of the last good response from this URL, sent as `If-None-Match` and
    /// `If-Modified-Since`.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// A complete download.
#[derive(Debug, Clone)]
pub struct Download {
    pub path: PathBuf,
    pub bytes: u64,
    /// The HTTP status (none for `file://`).
    pub status: Option<u16>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// 304: the content is the one the validators name.
    NotModified {
        status: u16,
    },
    Downloaded(Download),
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("HTTP {status} {reason}")]
    Status { status: u16, reason: String },
    #[error("{}", too_large(*limit, *announced))]
    TooLarge {
        limit: u64,
        /// What the server announced in Content-Length (or the file's size), if it did.
        announced: Option<u64>,
        received: u64,
        status: Option<u16>,
    },
    #[error("no complete download within the timeout of {secs} s")]
    Timeout { secs: u64, received: u64 },
    #[error("{message}")]
    Network {
        message: String,
        status: Option<u16>,
        received: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Url(String),
}

fn too_large(limit: u64, announced: Option<u64>) -> String {
    match announced {
        Some(n) => format!(
            "the file is {n} bytes, more than max_bytes ({limit} bytes); nothing was downloaded"
        ),
        None => format!("the download passed max_bytes ({limit} bytes) and was stopped"),
    }
}

impl FetchError {
    /// The HTTP status of the response, if one came.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            FetchError::TooLarge { status, .. } | FetchError::Network { status, .. } => *status,
            _ => None,
        }
    }

    /// Bytes received before the download stopped.
    pub fn received(&self) -> Option<u64> {
        match self {
            FetchError::TooLarge { received, .. }
            | FetchError::Timeout { received, .. }
            | FetchError::Network { received, .. } => Some(*received),
            _ => None,
        }
    }
}

/// The message of a reqwest error and its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Deletes the `.part` file unless the download completed and was renamed.
struct Partial {
    path: PathBuf,
    done: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes `.part` files left in `dir` by a download that was killed. Call it only while no other
/// download into `dir` runs (the caller holds a lock for the folder).
pub fn remove_partial(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Keeps the newest `keep` downloads in `dir` (names start with a sortable time stamp), and
/// removes the rest. Returns what it removed.
pub fn prune(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    files.sort();
    let excess = files.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = files.into_iter().take(excess).collect();
    for p in &removed {
        if let Err(e) = std::fs::remove_file(p) {
            tracing::warn!(file = %p.display(), error = %e, "an old download could not be removed");
        }
    }
    removed
}

/// A file name for a download made at `stamp` (sortable, e.g. `20260101T120000.123Z`): the stamp
/// and the last segment of the URL's path, reduced to safe characters.
pub fn file_name(url: &str, stamp: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let mut base: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    base = base.trim_start_matches('.').to_string();
    if base.is_empty() || !path.contains("/") || path.ends_with("://") {
        base = "download".into();
    }
    format!("{stamp}-{base}")
}

/// The `file://` URL of an absolute path, percent-encoded where the path needs it.
pub fn file_url(path: &Path) -> Option<String> {
    reqwest::Url::from_file_path(path).ok().map(String::from)
}

/// The local path a `file://` URL names (the scheme in any case), `Ok(None)` for any other
/// scheme. Which paths may be read is the caller's decision (Focal: `[feeds] file_dirs`).
pub fn file_path(url: &str) -> Result<Option<PathBuf>, FetchError> {
    let url = reqwest::Url::parse(url)
        .map_err(|e| FetchError::Url(format!("the pull URL is not valid: {e}")))?;
    if url.scheme() != "file" {
        return Ok(None);
    }
    url.to_file_path()
        .map(Some)
        .map_err(|_| FetchError::Url("the file URL names no local path".into()))
}

/// Why `ip` is not a public address, if it is not: a redirect to another host that lands on one
/// is refused, because a feed's server must not be able to steer a pull at the machine running
/// Focal, its network, or a cloud metadata service (169.254.169.254).
pub fn internal_address(ip: IpAddr) -> Option<&'static str> {
    fn v4(ip: Ipv4Addr) -> Option<&'static str> {
        let [a, b, ..] = ip.octets();
        if ip.is_loopback() {
            Some("a loopback address")
        } else if ip.is_private() {
            Some("a private address (RFC 1918)")
        } else if ip.is_link_local() {
            Some("a link-local address (169.254.0.0/16)")
        } else if a == 0 {
            Some("an unspecified address (0.0.0.0/8)")
        } else if a == 100 && (64..128).contains(&b) {
            Some("a shared address (100.64.0.0/10, carrier-grade NAT)")
        } else if ip.is_broadcast() {
            Some("the broadcast address")
        } else {
            None
        }
    }
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            let s = ip.segments();
            if let Some(mapped) = ip.to_ipv4_mapped() {
                v4(mapped)
            } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64: the IPv4 address it reaches.
                v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ))
            } else if ip.is_loopback() {
                Some("a loopback address")
            } else if ip.is_unspecified() {
                Some("the unspecified address")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("a unique local address (fc00::/7)")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address (fe80::/10)")
            } else if s[0] & 0xffc0 == 0xfec0 {
                Some("a site-local address (fec0::/10)")
            } else {
                None
            }
        }
    }
}

/// What one fetch knows about where it may go: its first host, what that host resolved to, and
/// which redirect is being followed (for messages). Shared by the redirect policy and the
/// resolver of the fetch's own client.
#[derive(Debug)]
struct Guard {
    /// The first URL's host (a name, or an address as the URL writes it) and port.
    host: String,
    port: Option<u16>,
    /// What `host` resolved to, when it is a name.
    addresses: Mutex<Vec<IpAddr>>,
    /// The redirect being followed; 0 for the first request.
    hop: AtomicUsize,
    /// Names redirected to, other than the first host: the names whose addresses are checked.
    /// (Any other name the client resolves is a proxy's, from the environment.)
    redirected_to: Mutex<Vec<String>>,
}

impl Guard {
    fn new(url: &reqwest::Url) -> Guard {
        Guard {
            host: url.host_str().unwrap_or("").to_ascii_lowercase(),
            port: url.port_or_known_default(),
            addresses: Mutex::new(Vec::new()),
            hop: AtomicUsize::new(0),
            redirected_to: Mutex::new(Vec::new()),
        }
    }
}

/// An address literal as a URL's host writes it (`127.0.0.1`, `[::1]`).
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Resolves host names as the system does, and refuses a name redirected to (other than the
/// first URL's host) that resolves to an address that is not public (see [`internal_address`]).
/// Checking here, on the addresses the connection then uses, leaves no gap for a name that
/// resolves differently the second time. Address literals are not resolved: the redirect policy
/// checks them. A proxy's name is resolved unchecked: it is the operator's, and the proxy then
/// resolves the names redirected to.
struct GuardedResolver(Arc<Guard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let checked = guard
                .redirected_to
                .lock()
                .map_or(true, |names| names.contains(&host));
            if host == guard.host {
                if let Ok(mut known) = guard.addresses.lock() {
                    *known = addresses.iter().map(SocketAddr::ip).collect();
                }
            } else if let Some((ip, why)) = addresses
                .iter()
                .filter(|_| checked)
                .find_map(|a| internal_address(a.ip()).map(|why| (a.ip(), why)))
            {
                let hop = guard.hop.load(Ordering::Relaxed);
                return Err(format!(
                    "redirect {hop} to host {host} refused: it resolves to {ip}, {why}; a pull follows a redirect to another host only to public addresses"
                )
                .into());
            }
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Follows up to 10 redirects, never from https to http, and to another host (or port) only
/// when its addresses are public (address literals here, names in [`GuardedResolver`]). When the
/// request carries headers of the definition (often a key), only within the first URL's origin:
/// reqwest drops only its own credential headers on a redirect elsewhere, not a custom
/// `X-Api-Key`. Messages name the redirect and the host, never the URL (its query may be a key).
fn redirects(own_headers: bool, guard: Arc<Guard>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.follow();
        };
        let hop = attempt.previous().len();
        if hop > 10 {
            return attempt.error("more than 10 redirects");
        }
        let to = attempt.url();
        let host = to.host_str().unwrap_or("").to_ascii_lowercase();
        let port = to.port_or_known_default();
        let target = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        if first.scheme() == "https" && to.scheme() != "https" {
            return attempt.error(format!(
                "redirect {hop} to {target} refused: from https to http"
            ));
        }
        if own_headers && first.origin() != to.origin() {
            return attempt.error(format!(
                "redirect {hop} to {target} refused: it goes to another host, and the pull sends headers of its own"
            ));
        }
        if host != guard.host || port != guard.port {
            // Another host, or another port of the first one: only to public addresses.
            let refused = match literal(&host) {
                Some(ip) => internal_address(ip).map(|why| format!("{ip} is {why}")),
                None if host == guard.host => guard.addresses.lock().ok().and_then(|known| {
                    known.iter().find_map(|ip| {
                        internal_address(*ip).map(|why| format!("{host} resolves to {ip}, {why}"))
                    })
                }),
                // Checked when it is resolved, on the addresses connected to.
                None => {
                    if let Ok(mut names) = guard.redirected_to.lock()
                        && !names.contains(&host)
                    {
                        names.push(host.clone());
                    }
                    None
                }
            };
            if let Some(why) = refused {
                return attempt.error(format!(
                    "redirect {hop} to {target} refused: {why}; a pull follows a redirect to another host only to public addresses"
                ));
            }
        }
        guard.hop.store(hop, Ordering::Relaxed);
        attempt.follow()
    })
}

/// Downloads `request.url` into `dir/name`. `dir` must exist.
pub async fn fetch(request: &Request, dir: &Path, name: &str) -> Result<Outcome, FetchError> {
    let received = Arc::new(AtomicU64::new(0));
    let secs = request.timeout.as_secs().max(1);
    match tokio::time::timeout(request.timeout, fetch_inner(request, dir, name, &received)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout {
            secs,
            received: received.load(Ordering::Relaxed),
        }),
    }
}

async fn fetch_inner(
    request: &Request,
    dir: &Path,
    name: &str,
    received: &AtomicU64,
) -> Result<Outcome, FetchError> {
    let url = reqwest::Url::parse(&request.url)
        .map_err(|e| FetchError::Url(format!("the pull URL is not valid: {e}")))?;
    let final_path = dir.join(name);
    let part_path = dir.join(format!(".{name}.part"));
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| FetchError::Io { path, source }
    };
    let mut partial = Partial {
        path: part_path.clone(),
        done: false,
    };
    let mut out = tokio::fs::File::create(&part_path)
        .await
        .map_err(io(&part_path))?;
    // The modification time the download is given: a file:// source's own, or the server's
    // Last-Modified (`time.last_modified` reads it as the records' time).
    let modified: Option<std::time::SystemTime>;
    let (status, etag, last_modified) = match url.scheme() {
        "file" => {
            let source = url
                .to_file_path()
                .map_err(|_| FetchError::Url("the file URL names no local path".into()))?;
            let mut input = tokio::fs::File::open(&source).await.map_err(io(&source))?;
            let meta = input.metadata().await.map_err(io(&source))?;
            modified = meta.modified().ok();
            let size = meta.len();
            if size > request.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: request.max_bytes,
                    announced: Some(size),
                    received: 0,
                    status: None,
                });
            }
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = input.read(&mut buf).await.map_err(io(&source))?;
                if n == 0 {
                    break;
                }
                // The file may grow while it is read: the limit holds for what is copied.
                let total = received.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                if total > request.max_bytes {
                    return Err(FetchError::TooLarge {
                        limit: request.max_bytes,
                        announced: None,
                        received: total,
                        status: None,
                    });
                }
                out.write_all(&buf[..n]).await.map_err(io(&part_path))?;
            }
            (None, None, None)
        }
        "http" | "https" => {
            let guard = Arc::new(Guard::new(&url));
            let client = reqwest::Client::builder()
                .user_agent(concat!("Focal/", env!("CARGO_PKG_VERSION"), " (feed pull)"))
                .connect_timeout(request.timeout.min(Duration::from_secs(30)))
                .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
                .redirect(redirects(!request.headers.is_empty(), guard))
                .build()
                .map_err(|e| FetchError::Network {
                    message: describe(e),
                    status: None,
                    received: 0,
                })?;
            let mut req = client.get(url);
            for (k, v) in &request.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if let Some(etag) = &request.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, etag.as_str());
            }
            if let Some(lm) = &request.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm.as_str());
            }
            let mut resp = req.send().await.map_err(|e| FetchError::Network {
                message: describe(e),
                status: None,
                received: 0,
            })?;
            let status = resp.status();
            if status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(Outcome::NotModified { status: 304 });
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    status: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("").to_string(),
                });
            }
            let header = |name: reqwest::header::HeaderName| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| v.len() <= 1024)
                    .map(str::to_string)
            };
            let etag = header(reqwest::header::ETAG);
            let last_modified = header(reqwest::header::LAST_MODIFIED);
            modified = last_modified
                .as_deref()
                .and_then(|v| httpdate::parse_http_date(v).ok());
            if let Some(n) = resp.content_length()
                && n > request.max_bytes
            {
                return Err(FetchError::TooLarge {
                    limit: request.max_bytes,
                    announced: Some(n),
                    received: 0,
                    status: Some(status.as_u16()),
                });
            }
            loop {
                let chunk = resp.chunk().await.map_err(|e| FetchError::Network {
                    message: describe(e),
                    status: Some(status.as_u16()),
                    received: received.load(Ordering::Relaxed),
                })?;
                let Some(chunk) = chunk else { break };
                let total =
                    received.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
                if total > request.max_bytes {
                    return Err(FetchError::TooLarge {
                        limit: request.max_bytes,
                        announced: None,
                        received: total,
                        status: Some(status.as_u16()),
                    });
                }
                out.write_all(&chunk).await.map_err(io(&part_path))?;
            }
            (Some(status.as_u16()), etag, last_modified)
        }
        other => {
            return Err(FetchError::Url(format!(
                "{other}: only http, https and file URLs can be pulled"
            )));
        }
    };
    out.flush().await.map_err(io(&part_path))?;
    if let Some(time) = modified {
        let file = out.into_std().await;
        if let Err(e) = file.set_modified(time) {
            // The download is good; only its time is the download's instead.
            tracing::warn!(path = %part_path.display(), error = %e, "Could not set the downloaded file's modification time.");
        }
        out = tokio::fs::File::from_std(file);
    }
    out.sync_all().await.map_err(io(&part_path))?;
    drop(out);
    tokio::fs::rename(&part_path, &final_path)
        .await
        .map_err(io(&final_path))?;
    partial.done = true;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Outcome::Downloaded(Download {
        path: final_path,
        bytes: received.load(Ordering::Relaxed),
        status,
        etag,
        last_modified,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: String, max_bytes: u64) -> Request {
        Request {
            url,
            headers: vec![],
            max_bytes,
            timeout: Duration::from_secs(30),
            etag: None,
            last_modified: None,
        }
    }

    #[tokio::test]
    async fn file_urls_are_copied_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("feed.txt");
        std::fs::write(&source, b"192.0.2.1\n192.0.2.2\n").unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let url = format!("file://{}", source.display());
        let Outcome::Downloaded(d) = fetch(&request(url.clone(), 1000), &out, "a.txt")
            .await
            .unwrap()
        else {
            panic!("a file URL is always downloaded");
        };
        assert_eq!(d.bytes, 20);
        assert_eq!(std::fs::read(&d.path).unwrap(), b"192.0.2.1\n192.0.2.2\n");
        let e = fetch(&request(url, 10), &out, "b.txt").await.unwrap_err();
        assert!(
            matches!(
                e,
                FetchError::TooLarge {
                    announced: Some(20),
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("max_bytes (10 bytes)"), "{e}");
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt"], "nothing is left of the refused download");
        let e = fetch(
            &request(format!("file://{}/missing", tmp.path().display()), 10),
            &out,
            "c.txt",
        )
        .await
        .unwrap_err();
        assert!(matches!(e, FetchError::Io { .. }), "{e}");
    }

    /// A small real HTTP server on 127.0.0.1: `/feed.txt` is served, `/go?to=URL` redirects to
    /// URL; every path asked for is appended to `log`.
    const REDIRECTING_SERVER: &str = r#"
import http.server, sys, urllib.parse
port, log = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, 'a') as f:
            f.write(self.path + '\n')
        u = urllib.parse.urlparse(self.path)
        if u.path == '/go':
            self.send_response(302)
            self.send_header('Location', urllib.parse.parse_qs(u.query)['to'][0])
            self.end_headers()
            return
        body = b'192.0.2.1\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"#;

    struct Server {
        child: std::process::Child,
        port: u16,
        log: PathBuf,
    }

    impl Server {
        fn start(dir: &Path, name: &str) -> Server {
            let port = focal_testkit::free_port();
            let log = dir.join(format!("{name}.log"));
            std::fs::write(&log, "").unwrap();
            let mut child = std::process::Command::new("python3")
                .args(["-c", REDIRECTING_SERVER, &port.to_string()])
                .arg(&log)
                .spawn()
                .expect("python3 runs");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let started = std::time::Instant::now();
            while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
                assert!(child.try_wait().unwrap().is_none(), "the server exited");
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the server did not listen"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Server { child, port, log }
        }

        fn asked(&self) -> Vec<String> {
            std::fs::read_to_string(&self.log)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn redirects_to_internal_addresses_of_another_host_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (
            Server::start(tmp.path(), "a"),
            Server::start(tmp.path(), "b"),
        );
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let go = |to: String| request(format!("http://127.0.0.1:{}/go?to={to}", a.port), 1000);

        // Within the first URL's host and port: followed, loopback or not.
        let same = go(format!("http://127.0.0.1:{}/feed.txt", a.port));
        let Outcome::Downloaded(d) = fetch(&same, &out, "same.txt").await.unwrap() else {
            panic!("a download");
        };
        assert_eq!(std::fs::read(&d.path).unwrap(), b"192.0.2.1\n");

        // Another port on loopback: another server, refused before it is asked anything.
        let e = fetch(
            &go(format!("http://127.0.0.1:{}/feed.txt", b.port)),
            &out,
            "b.txt",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&format!("redirect 1 to 127.0.0.1:{} refused", b.port))
                && e.contains("127.0.0.1 is a loopback address"),
            "{e}"
        );
        // A name that resolves to loopback: refused when resolved.
        let e = fetch(
            &go(format!("http://localhost:{}/feed.txt", b.port)),
            &out,
            "c.txt",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("redirect 1 to host localhost refused") && e.contains("loopback"),
            "{e}"
        );
        // A cloud metadata service, after a first redirect within the host.
        let metadata = format!(
            "http://127.0.0.1:{}/go?to=http://169.254.169.254/latest/meta-data/",
            a.port
        );
        let e = fetch(
            &go(metadata.replace('?', "%3F").replace('=', "%3D")),
            &out,
            "d.txt",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("redirect 2 to 169.254.169.254:80 refused") && e.contains("link-local"),
            "{e}"
        );
        assert!(!e.contains("meta-data"), "no URL in messages: {e}");
        assert!(
            b.asked().is_empty(),
            "the other server was never asked: {:?}",
            b.asked()
        );
        assert_eq!(a.asked().len(), 6, "{:?}", a.asked());
        let mut files: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["same.txt"], "nothing is left of the refused pulls");
    }

    #[test]
    fn internal_addresses() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("100.64.0.1", "shared"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "site-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
        ] {
            let got = internal_address(ip.parse().unwrap());
            assert!(got.is_some_and(|g| g.contains(why)), "{ip}: {got:?}");
        }
        for ip in [
            "192.0.2.1",
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.63.255.255",
            "100.128.0.1",
            "2001:db8::1",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(internal_address(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn names_and_pruning() {
        assert_eq!(
            file_name("https://x.org/a/drop_v4.json?key=s3cret", "T1"),
            "T1-drop_v4.json"
        );
        assert_eq!(file_name("https://x.org/", "T1"), "T1-download");
        assert_eq!(file_name("https://x.org/../.hidden", "T1"), "T1-hidden");
        let tmp = tempfile::tempdir().unwrap();
        for n in ["T1-a", "T3-a", "T2-a", ".T4-a.part"] {
            std::fs::write(tmp.path().join(n), b"x").unwrap();
        }
        let removed = prune(tmp.path(), 2);
        assert_eq!(removed, vec![tmp.path().join("T1-a")]);
        remove_partial(tmp.path());
        assert!(!tmp.path().join(".T4-a.part").exists());
        assert!(tmp.path().join("T3-a").exists() && tmp.path().join("T2-a").exists());
    }
}
