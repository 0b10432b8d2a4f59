//! Signing in and out: the login page, throttled password checks, sessions kept in the store
//! (by the SHA-256 of a random 256-bit cookie value), and the cookies.
//!
//! The session cookie is `HttpOnly; SameSite=Strict; Path=/` and `Secure`, except when the
//! server listens on a loopback address: Focal serves plain HTTP, so `Secure` there would make
//! a local demo impossible to sign in to. On any other address Focal is expected behind a
//! TLS-terminating proxy and always sets `Secure`.

use crate::AppState;
use crate::access::{Principal, Via, refuse};
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_store::sharing::SharingStore;
use focal_store::web::WebStore;
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "focal_session";
/// The login form's double-submit CSRF token (there is no session yet to tie it to).
pub const LOGIN_CSRF_COOKIE: &str = "focal_login_csrf";
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 8;
/// Failures allowed per user name before waiting starts; then the wait doubles with each one.
const FREE_USER_FAILURES: u32 = 3;
/// Per client address more are allowed (several people may share one address), so that one
/// address guessing across many names is slowed too.
const FREE_IP_FAILURES: u32 = 20;
const FIRST_WAIT_SECONDS: i64 = 30;
const MAX_WAIT_SECONDS: i64 = 15 * 60;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", routing::get(login_page).post(login))
        .route("/logout", routing::post(logout))
}

/// The value of a cookie in the request, if present.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.web.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn random_token() -> Option<String> {
    focal_sharing::users::new_token().ok().map(|(t, _)| t)
}

/// Seconds to wait before another attempt is considered, after `failures` failures of which
/// `free` cost nothing.
pub fn wait_seconds(failures: u32, free: u32) -> i64 {
    if failures < free {
        return 0;
    }
    let exp = (failures - free).min(20);
    (FIRST_WAIT_SECONDS << exp).min(MAX_WAIT_SECONDS)
}

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    login_form(&state, &headers, None, StatusCode::OK)
}

/// The login form. An existing login CSRF cookie is kept rather than replaced, so that a second
/// load of the form (another tab, or the browser's favicon request redirected here) does not
/// invalidate the form already shown.
fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let existing = cookie(headers, LOGIN_CSRF_COOKIE).filter(|c| {
        c.len() == 70 && c.starts_with("focal_") && c[6..].bytes().all(|b| b.is_ascii_hexdigit())
    });
    let Some(csrf) = existing.or_else(random_token) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "/login", "no randomness");
    };
    let page = crate::ui::login_page(&csrf, message);
    let mut resp = (status, Html(page)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, 3600),
    );
    resp
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

enum Outcome {
    Ok(String),
    Wrong,
    Wait(i64),
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if form.username.len() > 128 || form.password.len() > 1024 {
        return login_form(
            &state,
            &headers,
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let st = state.clone();
    let ip = peer.ip().to_string();
    let outcome = tokio::task::spawn_blocking(move || attempt(&st, &form, &ip)).await;
    match outcome {
        Ok(Ok(Outcome::Ok(cookie_value))) => {
            let mut resp = Redirect::to("/").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, &cookie_value, SESSION_HOURS * 3600),
            );
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, LOGIN_CSRF_COOKIE, "", 0),
            );
            resp
        }
        Ok(Ok(Outcome::Wrong)) => login_form(
            &state,
            &headers,
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
        ),
        Ok(Ok(Outcome::Wait(seconds))) => {
            let mut resp = login_form(
                &state,
                &headers,
                Some(&format!(
                    "Too many failed attempts: try again in {seconds} s."
                )),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "login failed on a store error");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "/login",
                "internal error",
            )
        }
        Err(_) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "/login",
            "internal error",
        ),
    }
}

/// Checks throttling for the user name and the client address, then the password. Blocking.
fn attempt(state: &AppState, form: &LoginForm, ip: &str) -> anyhow_lite::Result<Outcome> {
    let now = jiff::Timestamp::now().as_microsecond();
    let keys = [format!("user:{}", form.username), format!("ip:{ip}")];
    let mut wait = 0i64;
    for (key, free) in keys.iter().zip([FREE_USER_FAILURES, FREE_IP_FAILURES]) {
        let f = state.store.login_failures(key)?;
        let until = f.last_at + wait_seconds(f.failures, free) * 1_000_000;
        if until > now {
            wait = wait.max((until - now + 999_999) / 1_000_000);
        }
    }
    if wait > 0 {
        return Ok(Outcome::Wait(wait));
    }
    let user = state.store.user(&form.username)?;
    let ok = user.as_ref().is_some_and(|u| {
        !u.disabled
            && u.role != "peer"
            && u.password_hash
                .as_deref()
                .is_some_and(|h| focal_sharing::users::verify_password(h, &form.password))
    });
    let Some(user) = user.filter(|_| ok) else {
        for key in &keys {
            state.store.record_login_failure(key, now)?;
        }
        return Ok(Outcome::Wrong);
    };
    for key in &keys {
        state.store.clear_login_failures(key)?;
    }
    let (id, id_hash) =
        focal_sharing::users::new_token().map_err(|e| anyhow_lite::Error(e.to_string()))?;
    let (csrf, _) =
        focal_sharing::users::new_token().map_err(|e| anyhow_lite::Error(e.to_string()))?;
    let expires = now + SESSION_HOURS * 3600 * 1_000_000;
    state
        .store
        .create_session(&id_hash, user.id, &csrf, now, expires)?;
    Ok(Outcome::Ok(id))
}

async fn logout(State(state): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    if let Via::Session { id_hash, .. } = &p.via {
        let (st, id) = (state.clone(), id_hash.clone());
        let done = tokio::task::spawn_blocking(move || st.store.delete_session(&id)).await;
        if !matches!(done, Ok(Ok(()))) {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "/logout",
                "internal error",
            );
        }
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    resp
}

/// A small error type for the blocking login work: store errors and token generation.
mod anyhow_lite {
    #[derive(Debug)]
    pub struct Error(pub String);
    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl From<focal_store::StoreError> for Error {
        fn from(e: focal_store::StoreError) -> Self {
            Error(e.to_string())
        }
    }
    pub type Result<T> = std::result::Result<T, Error>;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wait_doubles_after_the_free_failures_and_is_capped() {
        use super::wait_seconds;
        assert_eq!(wait_seconds(2, 3), 0);
        assert_eq!(wait_seconds(3, 3), 30);
        assert_eq!(wait_seconds(4, 3), 60);
        assert_eq!(wait_seconds(5, 3), 120);
        assert_eq!(wait_seconds(60, 3), 15 * 60);
        assert_eq!(wait_seconds(19, 20), 0);
    }
}
