//! Error answers, one shape per kind of client: a page in the application's layout (with the
//! navigation when someone is signed in) for the web UI, `{"error": "..."}` for everything
//! under `/api/` (and `/metrics`), TAXII error resources under `/taxii2/` (made in `taxii.rs`).
//!
//! Three ways an error reaches a browser, each covered here:
//! - a handler or the access layer answers one: [`page`];
//! - no route matches: [`fallback`], a 404;
//! - axum itself refuses (a malformed form or query, a method the route does not take, a
//!   path parameter that does not parse): its plain-text or empty answer is rewritten by
//!   [`uniform`], the layer just inside the access layer, so it still knows who is signed in.
//!   Page handlers take their path parameters with [`crate::extract::PagePath`], which answers
//!   404 when one does not parse (`/incidents/abc` names no incident).
//!
//! The security headers are added outside all of this (`telemetry::headers`), so error pages
//! carry the same CSP as every other page.

use crate::access::Principal;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use maud::html;
use std::panic::AssertUnwindSafe;

/// Whether errors on this path are answered in JSON rather than as pages.
pub fn wants_json(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// TAXII answers its own errors (error resources, `taxii.rs`); they are left alone.
fn is_taxii(path: &str) -> bool {
    path == "/taxii2" || path.starts_with("/taxii2/")
}

/// The heading of an error page.
fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad request",
        401 => "Sign-in required",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict",
        413 => "Too large",
        415 => "Unsupported form",
        422 => "Not accepted",
        429 => "Too many requests",
        503 => "Busy",
        s if s >= 500 => "Something went wrong",
        _ => "Problem",
    }
}

/// An error page in the application's layout: the navigation for a signed-in user, the message,
/// and a way on.
pub fn page(status: StatusCode, p: Option<&Principal>, message: &str) -> Response {
    let body = html! {
        p.error #error-message { (message) }
        p.error-status { "HTTP " (status.as_u16()) }
        @if p.is_some() {
            p { a href="/" id="error-home" { "Back to the dashboard" } }
        } @else {
            p { a href="/login" id="error-login" { "Sign in" } }
        }
    };
    (status, crate::ui::layout(title(status), p, body)).into_response()
}

/// `{"error": message}` with the status.
pub fn json(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// An error in the shape the path's clients expect.
pub fn for_path(status: StatusCode, path: &str, p: Option<&Principal>, message: &str) -> Response {
    if wants_json(path) {
        json(status, message)
    } else {
        page(status, p, message)
    }
}

/// No route matches: 404, as a page or as JSON.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path().to_string();
    let p = request.extensions().get::<Principal>().cloned();
    for_path(
        StatusCode::NOT_FOUND,
        &path,
        p.as_ref(),
        &format!("there is nothing at {path}"),
    )
}

/// Most of an axum refusal's text read to put into the page.
const MAX_REFUSAL_TEXT: usize = 4096;

/// Rewrites error answers that are neither a page nor JSON (axum's own plain-text rejections,
/// an empty 405) into the path's shape. Answers already made by Focal pass untouched.
pub async fn uniform(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let p = request.extensions().get::<Principal>().cloned();
    // A handler's panic becomes a 500 answer rather than a dropped connection.
    let resp = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!(path = %path, "a handler panicked");
            return internal(&path, p.as_ref());
        }
    };
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_taxii(&path) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let shaped = content_type.starts_with("text/html")
        || content_type.starts_with("application/json")
        || content_type.contains("+json");
    if shaped {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REFUSAL_TEXT).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_ascii_lowercase()
    } else {
        text
    };
    let mut out = for_path(status, &path, p.as_ref(), &message);
    // Keep what the refusal said beyond its body (Allow on a 405, Retry-After, WWW-Authenticate).
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The answer to a request whose handler panicked.
pub fn internal(path: &str, p: Option<&Principal>) -> Response {
    let mut r = for_path(
        StatusCode::INTERNAL_SERVER_ERROR,
        path,
        p,
        "internal error: the server could not answer this request; it has been logged",
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower_service::Service;

    async fn call(app: &mut Router, path: &str) -> (StatusCode, String, String) {
        let req = axum::http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = app.call(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/boom",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database went away") }),
            )
            .route(
                "/api/v1/boom",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database went away") }),
            )
            .route("/fine", get(|| async { "fine" }))
            .route(
                "/panics",
                get(|| async {
                    let v: Vec<u8> = Vec::new();
                    // An out-of-bounds index: a bug in a handler.
                    format!("{}", v[usize::from(v.is_empty())])
                }),
            )
            .route(
                "/shaped",
                get(|| async { page(StatusCode::CONFLICT, None, "already done") }),
            )
            .fallback(fallback)
            .layer(axum::middleware::from_fn(uniform))
    }

    #[tokio::test]
    async fn plain_text_server_errors_become_pages_or_json() {
        let mut app = app();
        let (status, ct, body) = call(&mut app, "/boom").await;
        assert_eq!(status, 500);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body.contains("<h1>Something went wrong</h1>"), "{body}");
        assert!(body.contains("database went away"), "{body}");
        let (status, ct, body) = call(&mut app, "/api/v1/boom").await;
        assert_eq!(status, 500);
        assert!(ct.starts_with("application/json"), "{ct}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "database went away");
        let (status, ct, body) = call(&mut app, "/panics").await;
        assert_eq!(status, 500);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body.contains("internal error"), "{body}");
    }

    #[tokio::test]
    async fn unknown_paths_are_404_pages_and_answers_already_shaped_pass() {
        let mut app = app();
        let (status, ct, body) = call(&mut app, "/no/such/page").await;
        assert_eq!(status, 404);
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(body.contains("<h1>Not found</h1>"), "{body}");
        let (status, ct, body) = call(&mut app, "/api/v1/nothing").await;
        assert_eq!(status, 404);
        assert!(ct.starts_with("application/json"), "{ct}");
        assert!(body.contains("\"error\""), "{body}");
        let (status, _, body) = call(&mut app, "/fine").await;
        assert_eq!((status.as_u16(), body.as_str()), (200, "fine"));
        let (status, _, body) = call(&mut app, "/shaped").await;
        assert_eq!(status, 409);
        assert!(body.contains("already done"), "{body}");
        assert_eq!(body.matches("<h1>").count(), 1, "not wrapped twice: {body}");
    }
}
