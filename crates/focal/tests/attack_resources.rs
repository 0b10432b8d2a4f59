//! Bounded resources (issue 11): concurrent requests were not limited, so a flood of slow or
//! large requests was queued and held without bound (four 6.9 MB TAXII posts at once took
//! 1.74 GB). Now at most `[web] max_concurrent_requests` requests and
//! `max_body_bytes_in_flight` body bytes are taken at once; the excess is answered 503 with
//! `Retry-After` at once (this failed before: the requests were all taken). Deeply nested JSON
//! is refused before it is parsed (that held before too, on TAXII and the API; kept here as a
//! regression check).
//!
//! Slow clients (issue 11): a client that sent its request head slowly, or declared a body and
//! sent it slowly, held its connection, and its request place, for ever. Now the head must
//! arrive within `[web] header_read_timeout_secs` (else the connection is closed) and the body
//! within `body_read_timeout_secs` (else 408 and the place comes back).

mod web;

use reqwest::header::AUTHORIZATION;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use web::*;

const TAXII: &str = "application/taxii+json;version=2.1";

/// Sets `[web]` limits in focal.toml.
fn set_limits(data: &Path, requests: usize, bytes: usize) {
    let path = data.join("focal.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("max_concurrent_requests =") {
                format!("max_concurrent_requests = {requests}")
            } else if l.starts_with("max_body_bytes_in_flight =") {
                format!("max_body_bytes_in_flight = {bytes}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(text.contains("max_concurrent_requests ="), "{text}");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// Sets `[web]` values in focal.toml (each key must already be there).
fn set_web(data: &Path, values: &[(&str, u64)]) {
    let path = data.join("focal.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (key, value) in values {
        let prefix = format!("{key} =");
        assert!(text.contains(&prefix), "{key} in {text}");
        text = text
            .lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    format!("{key} = {value}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
    }
    std::fs::write(&path, text).unwrap();
}

/// Reads what the server sends until it closes the connection. The socket's read timeout only
/// keeps a broken server from hanging the test; it is far beyond the configured timeouts.
fn read_until_closed(s: &mut TcpStream) -> std::io::Result<String> {
    use std::io::Read;
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A TAXII POST that declares `length` body bytes and sends only `sent` of them: the server
/// holds it while it waits for the rest.
fn stalled_post(base: &str, token: &str, length: usize, sent: usize) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /taxii2/root/collections/any/objects/ HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\n\
         Content-Length: {length}\r\n\r\n{}",
        "{".repeat(sent)
    )
    .unwrap();
    s.flush().unwrap();
    s
}

/// What the server answered to a request whose head was sent whole.
struct RawAnswer {
    status: u16,
    /// The status line, headers and body as text.
    text: String,
}

impl RawAnswer {
    fn retry_after(&self) -> u64 {
        self.text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("retry-after")
                    .then(|| value.trim().parse().ok())?
            })
            .expect("a 503 says when to retry")
    }
}

/// A TAXII POST that declares `length` body bytes, sends none, and asks the server to close the
/// connection after answering. `None` when the server took the request and waits for the body
/// instead of refusing it (the caller then tries again; dropping the connection frees its place).
fn declared_post(base: &str, token: &str, length: usize) -> Option<RawAnswer> {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /taxii2/root/collections/any/objects/ HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nAccept: {TAXII}\r\nContent-Type: {TAXII}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.flush().unwrap();
    // A refusal comes at once; a request that was taken waits for its body, so a silence this
    // long means "taken". It only decides whether to try again, never what the test asserts.
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            if out.is_empty() {
                return None;
            }
        }
        Err(e) => panic!("reading the answer to a declared POST: {e}"),
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Some(RawAnswer { status, text })
}

/// Whether the server has answered a stalled request (a probe sent beside it can win the race
/// for the last place, and then the stalled one is the request refused).
fn answered(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let peeked = s.peek(&mut byte);
    s.set_nonblocking(false).unwrap();
    !matches!(peeked, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Repeats `attempt` until it answers `want` (the server takes the held requests in its own
/// time), at most 100 times.
fn eventually(
    what: &str,
    want: u16,
    mut attempt: impl FnMut() -> reqwest::blocking::Response,
) -> reqwest::blocking::Response {
    let mut last = 0;
    for _ in 0..100 {
        let resp = attempt();
        last = resp.status().as_u16();
        if last == want {
            return resp;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{what}: never answered {want} (last {last})");
}

fn retry_after(resp: &reqwest::blocking::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .expect("a 503 says when to retry")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn requests_beyond_the_limits_are_refused_at_once_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    focal(&data, &["init", "--admin-password", PASSWORD]);
    let site = Site::at(&data);
    let token = site.token("admin", "write");
    set_limits(&data, 2, 100_000);
    // The slow uploads must keep their places for the whole test, not be cut off as slow.
    set_web(&data, &[("body_read_timeout_secs", 600)]);
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let get = || {
        client()
            .get(format!("{base}/api/v1/events?limit=1"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .unwrap()
    };
    // The probes declare their body and send none of it: the server refuses on the declared
    // length alone, and a body left unread when it closes the connection would make the kernel
    // reset it, which can destroy the answer before the client reads it.
    let post = |length: usize| declared_post(&base, &token, length);

    // One slow upload holds a place and 60,000 of the 100,000 body bytes.
    let mut a = stalled_post(&base, &token, 60_000, 10);
    // Another 60,000 bytes do not fit beside it: refused, not queued. (Should the probe be
    // taken first, the slow upload is the one refused: send it again.)
    let mut attempts = 0;
    let refused = loop {
        attempts += 1;
        assert!(attempts <= 100, "a second large body was never refused");
        if answered(&a) {
            a = stalled_post(&base, &token, 60_000, 10);
        }
        match post(60_000) {
            Some(answer) if answer.status == 503 => break answer,
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    assert!(refused.retry_after() >= 1, "{}", refused.text);
    assert!(refused.text.contains("request bytes"), "{}", refused.text);
    // A request without a body still has the second place.
    assert_eq!(get().status(), 200);
    // A body larger than the whole budget could never be taken.
    let whole = post(200_000).expect("a body over the budget is answered at once");
    assert_eq!(whole.status, 413, "{}", whole.text);
    // A second slow request takes the last place: the next is refused.
    let mut d = stalled_post(&base, &token, 10, 0);
    let resp = eventually("a third request", 503, || {
        if answered(&a) {
            a = stalled_post(&base, &token, 60_000, 10);
        }
        if answered(&d) {
            d = stalled_post(&base, &token, 10, 0);
        }
        get()
    });
    assert!(retry_after(&resp) >= 1);
    assert!(resp.text().unwrap().contains("too many requests"));
    // Monitoring still answers.
    assert_eq!(
        client()
            .get(format!("{base}/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
    // The places come back when the slow clients go.
    drop(a);
    drop(d);
    eventually("a request after the slow ones left", 200, get);
    let admin = login(&base, "admin");
    let metrics = admin.get("/metrics").text().unwrap();
    assert!(
        metric(&metrics, "focal_http_refused_total{why=\"requests\"}") >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "focal_http_refused_total{why=\"body_bytes\"}") >= 1.0,
        "{metrics}"
    );
}

#[test]
fn deeply_nested_json_is_refused_before_it_is_parsed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    focal(&data, &["init", "--admin-password", PASSWORD]);
    let site = Site::at(&data);
    let token = site.token("admin", "write");
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let collections: serde_json::Value = client()
        .get(format!("{base}/taxii2/root/collections/"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("accept", TAXII)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let collection = collections["collections"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let depth = 1_000_000;
    let nested = format!("{{\"objects\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    let resp = client()
        .post(format!(
            "{base}/taxii2/root/collections/{collection}/objects/"
        ))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("accept", TAXII)
        .header("content-type", TAXII)
        .body(nested)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    assert!(
        [400, 413, 422].contains(&status),
        "{status}: {}",
        resp.text().unwrap()
    );
    let nested = format!("{{\"text\":{}{}}}", "[".repeat(30_000), "]".repeat(30_000));
    let resp = client()
        .post(format!("{base}/api/v1/incidents/1/comment"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .unwrap();
    assert!(
        [400, 413, 422].contains(&resp.status().as_u16()),
        "{}",
        resp.status()
    );
    // The server is still there.
    assert_eq!(
        client()
            .get(format!("{base}/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn slow_clients_are_cut_off_and_their_places_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    focal(&data, &["init", "--admin-password", PASSWORD]);
    let site = Site::at(&data);
    let token = site.token("admin", "write");
    set_web(
        &data,
        &[
            ("max_concurrent_requests", 1),
            ("header_read_timeout_secs", 1),
            ("body_read_timeout_secs", 1),
        ],
    );
    let server = site.serve("127.0.0.1:0");
    let base = server.base.clone();
    let addr = base.trim_start_matches("http://").to_string();
    let get = || {
        client()
            .get(format!("{base}/api/v1/events?limit=1"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .unwrap()
    };

    // A request head that never ends: the server closes the connection without an answer
    // to a request it never got (before, it waited for the rest for ever).
    let mut head = TcpStream::connect(&addr).unwrap();
    write!(
        head,
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nX-Slow: "
    )
    .unwrap();
    head.flush().unwrap();
    let answer = read_until_closed(&mut head).expect("the server closes a stalled head");
    assert!(!answer.contains("200 OK"), "{answer}");
    // A trickle of header bytes does not keep it open either.
    let mut trickle = TcpStream::connect(&addr).unwrap();
    let mut closed = false;
    for _ in 0..600 {
        if trickle.write_all(b"X-More: a\r\n").is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(closed, "a head sent a line at a time was never cut off");

    // A body that never arrives holds the only place while it is awaited ...
    // (It holds it for a second only: should that pass before a probe lands, or a probe win
    // the race for the place, the stalled body is sent again.)
    let mut body = stalled_post(&base, &token, 1000, 10);
    eventually("a request beside the stalled body", 503, || {
        if answered(&body) {
            body = stalled_post(&base, &token, 1000, 10);
        }
        get()
    });
    // ... until it is cut off with 408 ...
    let answer = read_until_closed(&mut body).expect("the server answers a stalled body");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive in time"), "{answer}");
    // ... and the place comes back, though that client never went away.
    eventually("a request after the stalled body was cut off", 200, get);
    drop(body);

    // A body within the limits still goes through.
    let resp = client()
        .post(format!("{base}/api/v1/incidents/1/comment"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(r#"{"text":"hello"}"#)
        .send()
        .unwrap();
    assert_ne!(resp.status().as_u16(), 408);
    let admin = login(&base, "admin");
    let metrics = admin.get("/metrics").text().unwrap();
    assert!(
        metric(&metrics, "focal_http_refused_total{why=\"body_timeout\"}") >= 1.0,
        "{metrics}"
    );
}
