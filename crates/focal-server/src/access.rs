//! The one authorisation layer: every request passes through [`guard`], which finds who is
//! asking (session cookie or bearer token), looks up what the route needs in [`route`], decides
//! with [`allowed`], checks the CSRF token of every state-changing request made with a session,
//! and hands the [`Principal`] to the handler. Handlers never decide *whether* a role may call
//! them; they only narrow *what* a constituent sees, through the store's [`Scope`].
//!
//! TAXII routes keep their own authentication (HTTP Basic or bearer, per-collection rights) in
//! `taxii.rs`; this layer only lets them through.

use crate::AppState;
use crate::multipart;
use crate::session::{self, SESSION_COOKIE};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use focal_store::sharing::User;
use focal_store::web::{Scope, WebStore};
use subtle::ConstantTimeEq;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not (login page, health, stylesheet, OpenAPI document).
    Public,
    /// TAXII: authenticated and authorised per collection by the TAXII handlers.
    Taxii,
    /// Any signed-in person (not a peer): logging out.
    SignedIn,
    /// Events, incidents, constituents, dashboard: staff see all, a constituent its own.
    Read,
    /// Feed runs, quarantine, metrics: staff only.
    StaffRead,
    /// The audit log: admin and auditor.
    Audit,
    /// Acting on an incident (transition, comment): admin, analyst, and a constituent on its own.
    Act,
    /// Assigning incidents: admin and analyst.
    Manage,
    /// Adding, editing and importing constituents: admin and analyst. A constituent may not
    /// change its own record either: its netblocks decide which events it is sent.
    ManageConstituents,
    /// Operating the node's machinery (pulling a feed now): admin and analyst.
    Operate,
}

/// How the request proved who it is.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        id_hash: String,
        csrf: String,
    },
    /// A bearer token with its scope (`read` or `write`).
    Token {
        scope: String,
    },
}

/// The signed-in user of a request, as handlers receive it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
}

impl Principal {
    /// Whose data this user may read: everything for staff, its organisation for a constituent.
    /// A constituent without an organisation sees nothing (an organisation id no row has).
    pub fn scope(&self) -> Scope {
        if self.user.role == "constituent" {
            Scope::Organisation(self.user.organisation.clone().unwrap_or_default())
        } else {
            Scope::All
        }
    }

    /// The actor name written to timelines and the audit log.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.name)
    }

    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token { .. } => "",
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self.user.role.as_str(), "admin" | "analyst" | "auditor")
    }

    pub fn can(&self, need: Need) -> bool {
        allowed(&self.user.role, need)
    }
}

/// The role matrix. Every route's [`Need`] is decided here and nowhere else.
pub fn allowed(role: &str, need: Need) -> bool {
    match need {
        Need::Public | Need::Taxii => true,
        Need::SignedIn | Need::Read => {
            matches!(role, "admin" | "analyst" | "auditor" | "constituent")
        }
        Need::StaffRead => matches!(role, "admin" | "analyst" | "auditor"),
        Need::Audit => matches!(role, "admin" | "auditor"),
        Need::Act => matches!(role, "admin" | "analyst" | "constituent"),
        Need::Manage | Need::ManageConstituents | Need::Operate => {
            matches!(role, "admin" | "analyst")
        }
    }
}

/// What a (method, path) needs, and the route template used as the metrics label. Unknown
/// routes need the most (so probing them reveals nothing) and answer 404 once allowed.
pub fn route(method: &Method, path: &str) -> (Need, &'static str) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    if method == Method::PUT {
        return match segs.as_slice() {
            ["api", "v1", "constituents", _] => {
                (Need::ManageConstituents, "/api/v1/constituents/{id}")
            }
            _ => (Need::Manage, "other"),
        };
    }
    match (get, post, segs.as_slice()) {
        (_, _, ["taxii2", ..]) => (Need::Taxii, "/taxii2/*"),
        (true, _, ["healthz"]) => (Need::Public, "/healthz"),
        (true, _, ["static", "focal.css"]) => (Need::Public, "/static/focal.css"),
        (true, _, ["api", "v1", "openapi.json"]) => (Need::Public, "/api/v1/openapi.json"),
        (true, _, ["login"]) | (_, true, ["login"]) => (Need::Public, "/login"),
        (_, true, ["logout"]) => (Need::SignedIn, "/logout"),
        (true, _, ["metrics"]) => (Need::StaffRead, "/metrics"),
        (true, _, [""]) => (Need::Read, "/"),
        (true, _, ["events"]) => (Need::Read, "/events"),
        (true, _, ["incidents"]) => (Need::Read, "/incidents"),
        (true, _, ["incidents", _]) => (Need::Read, "/incidents/{id}"),
        (_, true, ["incidents", _, "transition"]) => (Need::Act, "/incidents/{id}/transition"),
        (_, true, ["incidents", _, "comment"]) => (Need::Act, "/incidents/{id}/comment"),
        (_, true, ["incidents", _, "assign"]) => (Need::Manage, "/incidents/{id}/assign"),
        (true, _, ["constituents"]) => (Need::Read, "/constituents"),
        (true, _, ["constituents", _]) => (Need::Read, "/constituents/{id}"),
        (_, true, ["constituents"]) => (Need::ManageConstituents, "/constituents"),
        (_, true, ["constituents", "import"]) => (Need::ManageConstituents, "/constituents/import"),
        (_, true, ["constituents", _, "edit"]) => {
            (Need::ManageConstituents, "/constituents/{id}/edit")
        }
        (true, _, ["feeds"]) => (Need::StaffRead, "/feeds"),
        (true, _, ["feeds", _]) => (Need::StaffRead, "/feeds/{name}"),
        (_, true, ["feeds", _, "pull"]) => (Need::Operate, "/feeds/{name}/pull"),
        (true, _, ["audit"]) => (Need::Audit, "/audit"),
        (true, _, ["api", "v1", "events"]) => (Need::Read, "/api/v1/events"),
        (true, _, ["api", "v1", "events", "export"]) => (Need::Read, "/api/v1/events/export"),
        (true, _, ["api", "v1", "incidents"]) => (Need::Read, "/api/v1/incidents"),
        (true, _, ["api", "v1", "incidents", _]) => (Need::Read, "/api/v1/incidents/{id}"),
        (_, true, ["api", "v1", "incidents", _, "transition"]) => {
            (Need::Act, "/api/v1/incidents/{id}/transition")
        }
        (_, true, ["api", "v1", "incidents", _, "comment"]) => {
            (Need::Act, "/api/v1/incidents/{id}/comment")
        }
        (_, true, ["api", "v1", "incidents", _, "assign"]) => {
            (Need::Manage, "/api/v1/incidents/{id}/assign")
        }
        (true, _, ["api", "v1", "constituents"]) => (Need::Read, "/api/v1/constituents"),
        (true, _, ["api", "v1", "constituents", _]) => (Need::Read, "/api/v1/constituents/{id}"),
        (_, true, ["api", "v1", "constituents"]) => {
            (Need::ManageConstituents, "/api/v1/constituents")
        }
        (_, true, ["api", "v1", "constituents", "import"]) => {
            (Need::ManageConstituents, "/api/v1/constituents/import")
        }
        (true, _, ["api", "v1", "runs"]) => (Need::StaffRead, "/api/v1/runs"),
        (true, _, ["api", "v1", "feeds"]) => (Need::StaffRead, "/api/v1/feeds"),
        (true, _, ["api", "v1", "feeds", _]) => (Need::StaffRead, "/api/v1/feeds/{name}"),
        (true, _, ["api", "v1", "quarantine"]) => (Need::StaffRead, "/api/v1/quarantine"),
        (true, _, ["api", "v1", "audit"]) => (Need::Audit, "/api/v1/audit"),
        _ => (Need::Manage, "other"),
    }
}

fn is_ui(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics")
}

/// A plain refusal. API clients get JSON; browsers get text (the UI pages link back).
pub fn refuse(status: StatusCode, path: &str, message: &str) -> Response {
    let mut resp = if is_ui(path) {
        (status, message.to_string()).into_response()
    } else {
        (status, axum::Json(serde_json::json!({"error": message}))).into_response()
    };
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"focal\""),
        );
    }
    resp
}

/// Most a form or JSON body of a state-changing request may be, unless [`body_limit`] says
/// otherwise.
const BODY_LIMIT: usize = 64 * 1024;
/// Most one constituent's form or JSON may be: a large network lists thousands of netblocks.
pub const CONSTITUENT_BODY_LIMIT: usize = 1024 * 1024;
/// Most a constituent CSV may be.
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;
/// Most a CSV import request may be: the CSV and the form around it.
pub const IMPORT_BODY_LIMIT: usize = MAX_IMPORT_BYTES + 64 * 1024;

/// Most the body of a request to this route template may be, and what to say when it is more.
pub fn body_limit(template: &str) -> (usize, &'static str) {
    match template {
        "/constituents/import" | "/api/v1/constituents/import" => (
            IMPORT_BODY_LIMIT,
            "the upload is too large: a constituent CSV may be at most 10 MiB",
        ),
        "/constituents"
        | "/constituents/{id}/edit"
        | "/api/v1/constituents"
        | "/api/v1/constituents/{id}" => (
            CONSTITUENT_BODY_LIMIT,
            "request body too large: one constituent may be at most 1 MiB",
        ),
        _ => (BODY_LIMIT, "request body too large"),
    }
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let (need, template) = route(&method, &path);
    if need == Need::Taxii {
        return next.run(request).await;
    }
    let state_changing = !(method == Method::GET || method == Method::HEAD);
    if need == Need::Public {
        if state_changing {
            // The login form: no session yet, so its CSRF token is the double-submit cookie
            // set with the form.
            let expected = session::cookie(request.headers(), session::LOGIN_CSRF_COOKIE);
            return match check_form_csrf(request, expected.as_deref(), template).await {
                Ok(request) => next.run(request).await,
                Err(resp) => resp,
            };
        }
        return next.run(request).await;
    }

    let st = state.clone();
    let headers = request.headers().clone();
    let found = tokio::task::spawn_blocking(move || identify(&st, &headers)).await;
    let principal = match found {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "authentication failed on a store error");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, &path, "internal error");
        }
        Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &path, "internal error"),
    };
    let Some(principal) = principal else {
        if is_ui(&path) && !state_changing {
            return Redirect::to("/login").into_response();
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            &path,
            "sign in or send a bearer token",
        );
    };
    if !allowed(&principal.user.role, need) {
        return refuse(StatusCode::FORBIDDEN, &path, "your role may not do this");
    }
    let mut request = request;
    if state_changing {
        match &principal.via {
            Via::Token { scope } if scope != "write" => {
                return refuse(StatusCode::FORBIDDEN, &path, "this token is read-only");
            }
            Via::Token { .. } => {}
            Via::Session { csrf, .. } => {
                match check_form_csrf(request, Some(csrf.as_str()), template).await {
                    Ok(r) => request = r,
                    Err(resp) => return resp,
                }
            }
        }
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

fn identify(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> focal_store::Result<Option<Principal>> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let Some((scheme, token)) = value.split_once(' ') else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let hash = focal_sharing::users::token_hash(token.trim());
        return Ok(state
            .store
            .token_user(&hash)?
            .map(|(user, scope)| Principal {
                user,
                via: Via::Token { scope },
            }));
    }
    let Some(id) = session::cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let id_hash = focal_sharing::users::token_hash(&id);
    let now = jiff::Timestamp::now().as_microsecond();
    Ok(state.store.session(&id_hash, now)?.map(|s| Principal {
        user: s.user,
        via: Via::Session {
            id_hash,
            csrf: s.csrf,
        },
    }))
}

/// Reads the (bounded) body, finds the CSRF token in the `X-CSRF-Token` header or the form
/// field `csrf` (URL-encoded or multipart), compares it in constant time, and rebuilds the
/// request.
async fn check_form_csrf(
    request: Request,
    expected: Option<&str>,
    template: &str,
) -> Result<Request, Response> {
    let path = request.uri().path().to_string();
    let (parts, body) = request.into_parts();
    let (limit, too_large) = body_limit(template);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| refuse(StatusCode::PAYLOAD_TOO_LARGE, &path, too_large))?;
    let header_token = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let presented = match header_token {
        Some(t) => Some(t),
        None if multipart::is_multipart(&parts.headers) => {
            // A form that cannot be read has no token; the refusal below says so.
            multipart::parts(&parts.headers, bytes.clone())
                .await
                .ok()
                .and_then(|fields| multipart::text(&fields, "csrf").map(str::to_string))
        }
        None => form_field(&bytes, "csrf"),
    };
    let ok = match (expected, presented.as_deref()) {
        (Some(e), Some(p)) if !e.is_empty() => bool::from(e.as_bytes().ct_eq(p.as_bytes())),
        _ => false,
    };
    if !ok {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            &path,
            "missing or wrong CSRF token; reload the page and try again",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `application/x-www-form-urlencoded` pairs. Decoded here because the body must be read
/// before the handler (which extracts it again) and only one field is needed.
fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode_component(k)?, decode_component(v)?))
        })
        .collect()
}

fn decode_component(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_need_pair_is_decided_by_the_matrix() {
        let read_only = ["auditor"];
        for role in ["admin", "analyst", "auditor", "constituent", "peer"] {
            assert_eq!(allowed(role, Need::Read), role != "peer");
            assert_eq!(
                allowed(role, Need::Act),
                !read_only.contains(&role) && role != "peer"
            );
            assert_eq!(
                allowed(role, Need::Audit),
                role == "admin" || role == "auditor"
            );
            assert_eq!(
                allowed(role, Need::Operate),
                role == "admin" || role == "analyst"
            );
        }
    }

    #[test]
    fn only_admins_and_analysts_change_constituents() {
        for role in ["admin", "analyst", "auditor", "constituent", "peer"] {
            assert_eq!(
                allowed(role, Need::ManageConstituents),
                role == "admin" || role == "analyst",
                "{role}"
            );
        }
        for (method, path) in [
            (Method::POST, "/constituents"),
            (Method::POST, "/constituents/import"),
            (Method::POST, "/constituents/org-1/edit"),
            (Method::POST, "/api/v1/constituents"),
            (Method::POST, "/api/v1/constituents/import"),
            (Method::PUT, "/api/v1/constituents/org-1"),
        ] {
            assert_eq!(route(&method, path).0, Need::ManageConstituents, "{path}");
        }
        assert_eq!(route(&Method::PUT, "/incidents/1").0, Need::Manage);
        assert_eq!(route(&Method::GET, "/constituents/import").0, Need::Read);
        assert_eq!(body_limit("/constituents/import").0, IMPORT_BODY_LIMIT);
        assert_eq!(body_limit("/incidents/{id}/comment").0, BODY_LIMIT);
    }

    #[test]
    fn unknown_routes_need_the_most() {
        assert_eq!(route(&Method::GET, "/nope").0, Need::Manage);
        assert_eq!(route(&Method::DELETE, "/incidents/1").0, Need::Manage);
        assert_eq!(route(&Method::GET, "/incidents/1").0, Need::Read);
        assert_eq!(route(&Method::GET, "/feeds/x/pull").0, Need::Manage);
        assert_eq!(route(&Method::POST, "/feeds/x/pull").0, Need::Operate);
    }

    #[test]
    fn form_fields_are_percent_decoded() {
        assert_eq!(
            form_field(b"a=1&csrf=x%2By+z", "csrf").as_deref(),
            Some("x+y z")
        );
    }
}
