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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Follows up to 10 redirects, never from https to http. When the request carries headers of the
/// definition (often a key), only within the first URL's origin: reqwest drops only its own
/// credential headers on a redirect elsewhere, not a custom `X-Api-Key`.
fn redirects(own_headers: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(first) = attempt.previous().first().cloned() else {
            return attempt.follow();
        };
        if attempt.previous().len() > 10 {
            return attempt.error("more than 10 redirects");
        }
        let to = attempt.url();
        if first.scheme() == "https" && to.scheme() != "https" {
            return attempt.error("redirected from https to http; not followed");
        }
        if own_headers && first.origin() != to.origin() {
            return attempt.error(
                "redirected to another host; not followed, because the pull sends headers of its own",
            );
        }
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
    let (status, etag, last_modified) = match url.scheme() {
        "file" => {
            let source = url
                .to_file_path()
                .map_err(|_| FetchError::Url("the file URL names no local path".into()))?;
            let mut input = tokio::fs::File::open(&source).await.map_err(io(&source))?;
            let size = input.metadata().await.map_err(io(&source))?.len();
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
            let client = reqwest::Client::builder()
                .user_agent(concat!("Focal/", env!("CARGO_PKG_VERSION"), " (feed pull)"))
                .connect_timeout(request.timeout.min(Duration::from_secs(30)))
                .redirect(redirects(!request.headers.is_empty()))
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
