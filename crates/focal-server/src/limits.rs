//! What the server takes on at once: at most `max_requests` requests in progress, and at most
//! `max_body_bytes` of request bodies declared by the requests in progress. A request beyond
//! either is answered at once with `503 Service Unavailable` and `Retry-After`, never queued:
//! a flood costs a refusal each, not memory or threads. (`/healthz` and `/metrics` are exempt,
//! so monitoring still sees an overloaded server.)
//!
//! Body bytes are reserved by the declared `Content-Length`; a body without one reserves the
//! most any route accepts ([`crate::access::body_limit`] enforces each route's own limit while it
//! is read). A single body larger than the whole budget could never be taken, so it is refused
//! with 413 rather than 503. Together with the per-route body limits and the JSON checks (TAXII:
//! nesting checked before parsing, `focal_sharing::validate`), this bounds the memory requests
//! can pin. A parsed JSON body costs a multiple of its size: a `serde_json::Value` is 32 bytes and
//! the smallest JSON value with its separator 2, and arrays and maps add their allocations; an
//! attacker pass measured about 33 times (resident memory, a 9.6 MB TAXII body of small nested
//! arrays), so the bodies in flight together cost at most about 35 × `max_body_bytes`. That is
//! why the default budget is 32 MiB (about 1.1 GiB at worst) and not more.
//!
//! A place is held only as long as the request takes, so a client must not be able to take
//! its time: a body that has not finished arriving `body_read_timeout` after the request's head
//! is cut off, answered `408 Request Timeout` (the connection closed) and its places released.
//! (The request head has its own timeout, set on the connection in [`crate::serve`].)

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Requests in progress at once, by default.
pub const DEFAULT_MAX_REQUESTS: usize = 64;
/// Request body bytes in flight at once, by default (32 MiB: three full TAXII envelopes).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// What a body of unknown length reserves: the largest any route accepts (a TAXII envelope).
const UNKNOWN_LENGTH: usize = 10 * 1024 * 1024 + 64 * 1024;
/// How long a request's head may take to arrive, by default.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request's body may take to arrive after its head, by default.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Body bytes are counted in units of this many (a semaphore counts in u32 permits).
const UNIT: usize = 1024;

/// Event exports built at once. Each holds up to 10,000 events and their CSV or JSON in memory
/// (tens of MiB), and under 64 connections of export requests the server's memory followed
/// their number; more wait (asynchronously, within `max_requests`) for a place.
pub const EXPORTS_AT_ONCE: usize = 4;

/// The budgets of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    requests: Arc<Semaphore>,
    body_units: Arc<Semaphore>,
    exports: Arc<Semaphore>,
    max_requests: usize,
    max_body_bytes: usize,
    body_read_timeout: Duration,
}

impl Limits {
    pub fn new(max_requests: usize, max_body_bytes: usize) -> Limits {
        let max_requests = max_requests.max(1);
        let max_body_bytes = max_body_bytes.max(UNIT);
        Limits {
            requests: Arc::new(Semaphore::new(max_requests)),
            body_units: Arc::new(Semaphore::new(max_body_bytes / UNIT)),
            exports: Arc::new(Semaphore::new(EXPORTS_AT_ONCE)),
            max_requests,
            max_body_bytes,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }

    /// The same budgets, with bodies cut off `timeout` after their request's head.
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Limits {
        self.body_read_timeout = timeout;
        self
    }

    pub fn body_read_timeout(&self) -> Duration {
        self.body_read_timeout
    }

    /// A place to build an event export in; waits for one ([`EXPORTS_AT_ONCE`]).
    pub async fn export_place(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.exports.clone().acquire_owned().await.ok()
    }

    pub fn max_requests(&self) -> usize {
        self.max_requests
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(DEFAULT_MAX_REQUESTS, DEFAULT_MAX_BODY_BYTES)
    }
}

/// A refusal, counted in `/metrics` as `focal_http_refused_total{why}`.
fn refuse(status: StatusCode, why: &'static str, message: &str) -> Response {
    metrics::counter!("focal_http_refused_total", "why" => why).increment(1);
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// The layer: takes a place for the request and its body, or refuses it.
pub async fn limit(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/metrics" {
        return next.run(req).await;
    }
    let Ok(_request) = limits.requests.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "requests",
            "too many requests in progress; try again shortly",
        );
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    let bytes = if has_body {
        declared.unwrap_or(UNKNOWN_LENGTH)
    } else {
        0
    };
    if bytes > limits.max_body_bytes {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body larger than the server takes at once",
        );
    }
    let units = bytes.div_ceil(UNIT) as u32;
    let _body = if units > 0 {
        match limits.body_units.clone().try_acquire_many_owned(units) {
            Ok(p) => Some(p),
            Err(_) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "body_bytes",
                    "too many request bytes in progress; try again shortly",
                );
            }
        }
    } else {
        None
    };
    if !has_body {
        return next.run(req).await;
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(Deadline {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
            timed_out: timed_out.clone(),
            finished: false,
        })
    });
    let resp = next.run(req).await;
    if timed_out.load(Ordering::Relaxed) {
        // Whatever the handler made of the failed read, the client was too slow; the rest of
        // its body is not waited for.
        let mut resp = refuse(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body did not arrive in time",
        );
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    resp
}

/// A request body that fails once its deadline has passed, and says so in `timed_out`.
struct Deadline {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
    /// The whole body arrived: the deadline no longer matters.
    finished: bool,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        // What has arrived is taken first: only a client that keeps the reader waiting past
        // the deadline is cut off.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {}
            Poll::Ready(None) => {
                this.finished = true;
                return Poll::Ready(None);
            }
            ready => return ready,
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            this.finished = true;
            return Poll::Ready(Some(Err(axum::Error::new(
                "the request body did not arrive in time",
            ))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
