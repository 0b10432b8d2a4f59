//! Signing in and out: the login page, the sign-in form (checked by the one authenticator,
//! `focal_identity::Authenticator::sign_in`: throttled, argon2id, a session stored by the
//! SHA-256 of a random 256-bit cookie value), and the cookies.
//!
//! The session cookie is `HttpOnly; SameSite=Strict; Path=/` and `Secure`, except when the
//! server listens on a loopback address and the request did not come through a trusted proxy:
//! Focal serves plain HTTP, so `Secure` there would make a local demo impossible to sign in to.
//! On any other address, and through a trusted proxy (the TLS terminator in front of a Focal
//! that listens on loopback, the usual deployment), it sets `Secure` (see
//! [`crate::access::BehindTlsProxy`]).

use crate::AppState;
use crate::access::{BehindTlsProxy, ClientAddress, Principal, refuse};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_identity::{Refused, SESSION_HOURS};

pub const SESSION_COOKIE: &str = "focal_session";
/// The login form's double-submit CSRF token (there is no session yet to tie it to).
pub const LOGIN_CSRF_COOKIE: &str = "focal_login_csrf";

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

fn set_cookie(
    state: &AppState,
    tls: BehindTlsProxy,
    name: &str,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.web.secure_cookies || tls.0 {
        "; Secure"
    } else {
        ""
    };
    let text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn random_token() -> Option<String> {
    focal_identity::credentials::new_token()
        .ok()
        .map(|(t, _)| t)
}

/// Where to go after signing in, if `next` is a path on this site: it starts with a single `/`
/// (not `//host`, which browsers read as another site, nor `/\host`, which they read the same
/// way), holds no backslash and no control character or space, and is not absurdly long.
/// Anything else is ignored and the user lands on the dashboard.
pub fn safe_next(next: &str) -> Option<&str> {
    let rest = next.strip_prefix('/')?;
    let elsewhere = rest.starts_with('/') || next.contains('\\');
    let odd = next.len() > 2048 || next.chars().any(|c| c.is_control() || c.is_whitespace());
    // `/login` again would only show the form once more.
    let login = next == "/login" || next.starts_with("/login?");
    (!elsewhere && !odd && !login).then_some(next)
}

#[derive(serde::Deserialize, Default)]
pub struct LoginQuery {
    pub next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    Extension(tls): Extension<BehindTlsProxy>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = q.next;
    login_form(&state, tls, &headers, None, StatusCode::OK, next.as_deref())
}

/// The login form. An existing login CSRF cookie is kept rather than replaced, so that a second
/// load of the form (another tab, or the browser's favicon request redirected here) does not
/// invalidate the form already shown.
fn login_form(
    state: &AppState,
    tls: BehindTlsProxy,
    headers: &HeaderMap,
    message: Option<&str>,
    status: StatusCode,
    next: Option<&str>,
) -> Response {
    let existing = cookie(headers, LOGIN_CSRF_COOKIE).filter(|c| {
        c.len() == 70 && c.starts_with("focal_") && c[6..].bytes().all(|b| b.is_ascii_hexdigit())
    });
    let Some(csrf) = existing.or_else(random_token) else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "/login", "no randomness");
    };
    let page = crate::ui::login_page(&csrf, message, next.and_then(safe_next));
    let mut resp = (status, Html(page)).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, tls, LOGIN_CSRF_COOKIE, &csrf, 3600),
    );
    resp
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    /// The page that asked for the sign-in (see [`safe_next`]).
    pub next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    Extension(tls): Extension<BehindTlsProxy>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let auth = state.auth.clone();
    let next = form.next.clone().filter(|n| safe_next(n).is_some());
    let outcome =
        tokio::task::spawn_blocking(move || auth.sign_in(&form.username, &form.password, client))
            .await;
    match outcome {
        Ok(Ok(signed_in)) => {
            let mut resp = Redirect::to(next.as_deref().unwrap_or("/")).into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &state,
                    tls,
                    SESSION_COOKIE,
                    &signed_in.cookie,
                    SESSION_HOURS * 3600,
                ),
            );
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, tls, LOGIN_CSRF_COOKIE, "", 0),
            );
            resp
        }
        Ok(Err(Refused::Unauthenticated)) => login_form(
            &state,
            tls,
            &headers,
            Some("Wrong name or password."),
            StatusCode::UNAUTHORIZED,
            next.as_deref(),
        ),
        Ok(Err(Refused::Throttled { retry_after })) => {
            let mut resp = login_form(
                &state,
                tls,
                &headers,
                Some(&format!(
                    "Too many failed attempts from your address: try again in {retry_after} s."
                )),
                StatusCode::TOO_MANY_REQUESTS,
                next.as_deref(),
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "sign-in failed on a store error");
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

async fn logout(
    State(state): State<AppState>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    Extension(tls): Extension<BehindTlsProxy>,
    Extension(p): Extension<Principal>,
) -> Response {
    let auth = state.auth.clone();
    let done = tokio::task::spawn_blocking(move || auth.sign_out(&p.user, &p.via, client)).await;
    if !matches!(done, Ok(Ok(()))) {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "/logout",
            "internal error",
        );
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, tls, SESSION_COOKIE, "", 0),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_of_this_site_are_followed_after_signing_in() {
        for good in [
            "/incidents/8",
            "/events?type=scanner&after=3",
            "/",
            "/a/b%2Fc",
        ] {
            assert_eq!(safe_next(good), Some(good), "{good}");
        }
        for bad in [
            "//evil.example",
            "//evil.example/incidents",
            "/\\evil.example",
            "/incidents\\..\\x",
            "https://evil.example/",
            "http:/evil.example",
            "evil.example",
            "",
            "javascript:alert(1)",
            "/\tevil",
            "/ //evil",
            "/login",
            "/login?next=/x",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(3000))), None);
    }
}
