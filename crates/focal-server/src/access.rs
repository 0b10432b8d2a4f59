//! The one access layer: every request passes through [`guard`], which finds the client's
//! address ([`crate::client`]), reads the credential the request carries, has the one
//! authenticator (`focal_identity::Authenticator`) check it, looks up what the route needs in
//! [`route`], decides with [`allowed`], checks the CSRF token of every state-changing request
//! made with a session, and hands the [`Principal`] to the handler. Handlers never decide
//! *whether* a role may call them; they only narrow *what* a constituent sees, through the
//! store's [`Scope`].
//!
//! TAXII routes pass the same layer: HTTP Basic and bearer tokens are checked by the same
//! authenticator (a read-scoped token may not POST or DELETE there either), and only the
//! per-collection rights are left to `taxii.rs`. Refusals of TAXII requests are TAXII error
//! resources.

use crate::AppState;
use crate::multipart;
use crate::session::{self, SESSION_COOKIE};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use focal_identity::{Channel, Credential, Presented, Refused, Role, User, Via};
use focal_store::web::Scope;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use subtle::ConstantTimeEq;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not (login page, health, stylesheet, OpenAPI document).
    Public,
    /// TAXII: any authenticated account; the TAXII handlers check its rights per collection.
    Taxii,
    /// Any signed-in person (not a peer): signing out, their own password and sessions.
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
    /// Other people's accounts: listing, disabling, enabling, resetting passwords, ending
    /// sessions. Admin only.
    Accounts,
    /// Whom the node shares with and how: adding, changing, pausing and resuming peers,
    /// setting sharing policies. Admin only (staff may look at them, with StaffRead).
    ManageSharing,
}

/// The client address of a request, as [`crate::client::address`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Whether the request reached Focal through one of `[web] trusted_proxies`, over what the proxy
/// says was HTTPS. The proxies are the TLS terminators the deployment guide requires, so this is
/// assumed unless the proxy says `X-Forwarded-Proto: http`; session cookies are then `Secure`
/// even though Focal itself listens on loopback behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BehindTlsProxy(pub bool);

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
        if self.user.role == Role::Constituent {
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
            _ => "",
        }
    }

    /// The session this request was made with, if any.
    pub fn session_id(&self) -> Option<i64> {
        match &self.via {
            Via::Session { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn is_staff(&self) -> bool {
        self.user.role.is_staff()
    }

    pub fn can(&self, need: Need) -> bool {
        allowed(self.user.role, need)
    }
}

impl From<focal_identity::Principal> for Principal {
    fn from(p: focal_identity::Principal) -> Principal {
        Principal {
            user: p.user,
            via: p.via,
        }
    }
}

/// The role matrix. Every route's [`Need`] is decided here and nowhere else.
pub fn allowed(role: Role, need: Need) -> bool {
    use Role::*;
    match need {
        Need::Public | Need::Taxii => true,
        Need::SignedIn | Need::Read => matches!(role, Admin | Analyst | Auditor | Constituent),
        Need::StaffRead => role.is_staff(),
        Need::Audit => matches!(role, Admin | Auditor),
        Need::Act => matches!(role, Admin | Analyst | Constituent),
        Need::Manage | Need::ManageConstituents | Need::Operate => matches!(role, Admin | Analyst),
        Need::Accounts | Need::ManageSharing => role == Admin,
    }
}

/// What a (method, path) needs, and the route template used as the metrics label. Unknown
/// writes need the most and answer 404 once allowed; unknown pages need a sign-in.
pub fn route(method: &Method, path: &str) -> (Need, &'static str) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    if method == Method::PUT {
        return match segs.as_slice() {
            ["api", "v1", "constituents", _] => {
                (Need::ManageConstituents, "/api/v1/constituents/{id}")
            }
            ["api", "v1", "risks", _] => (Need::Manage, "/api/v1/risks/{id}"),
            ["api", "v1", "advisories", _] => (Need::Manage, "/api/v1/advisories/{id}"),
            _ => (Need::Manage, "other"),
        };
    }
    if method == Method::DELETE {
        return match segs.as_slice() {
            ["taxii2", ..] => (Need::Taxii, "/taxii2/*"),
            ["api", "v1", "account", "sessions"] => (Need::SignedIn, "/api/v1/account/sessions"),
            ["api", "v1", "account", "sessions", _] => {
                (Need::SignedIn, "/api/v1/account/sessions/{id}")
            }
            ["api", "v1", "users", _, "sessions"] => {
                (Need::Accounts, "/api/v1/users/{name}/sessions")
            }
            ["api", "v1", "users", _, "sessions", _] => {
                (Need::Accounts, "/api/v1/users/{name}/sessions/{id}")
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
        // The public face (TLP:CLEAR only, decided in focal-awareness; see `public`).
        (true, _, ["public", "advisories.atom"]) => (Need::Public, "/public/advisories.atom"),
        (true, _, ["public", "advisories", _]) => (Need::Public, "/public/advisories/{id}"),
        (true, _, ["public", "stats"]) => (Need::Public, "/public/stats"),
        (true, _, ["public", "stats.json"]) => (Need::Public, "/public/stats.json"),
        (_, true, ["logout"]) => (Need::SignedIn, "/logout"),
        (true, _, ["metrics"]) => (Need::StaffRead, "/metrics"),
        (true, _, [""]) => (Need::Read, "/"),
        (true, _, ["events"]) => (Need::Read, "/events"),
        (true, _, ["events", _]) => (Need::Read, "/events/{seq}"),
        (true, _, ["incidents"]) => (Need::Read, "/incidents"),
        (true, _, ["incidents", _]) => (Need::Read, "/incidents/{id}"),
        (_, true, ["incidents", "bulk"]) => (Need::Manage, "/incidents/bulk"),
        (_, true, ["incidents", _, "transition"]) => (Need::Act, "/incidents/{id}/transition"),
        (_, true, ["incidents", _, "comment"]) => (Need::Act, "/incidents/{id}/comment"),
        (_, true, ["incidents", _, "assign"]) => (Need::Manage, "/incidents/{id}/assign"),
        (_, true, ["incidents", _, "severity"]) => (Need::Manage, "/incidents/{id}/severity"),
        (true, _, ["constituents"]) => (Need::Read, "/constituents"),
        (true, _, ["constituents", _]) => (Need::Read, "/constituents/{id}"),
        (_, true, ["constituents"]) => (Need::ManageConstituents, "/constituents"),
        (_, true, ["constituents", "import"]) => (Need::ManageConstituents, "/constituents/import"),
        (_, true, ["constituents", _, "edit"]) => {
            (Need::ManageConstituents, "/constituents/{id}/edit")
        }
        // Self-assessment and the risk register (`assessment_pages.rs`), as their API routes.
        (true, _, ["assessments"]) => (Need::Read, "/assessments"),
        (true, _, ["assessments", _]) => (Need::Read, "/assessments/{id}"),
        (true, _, ["assessments", _, "report"]) => (Need::Read, "/assessments/{id}/report"),
        (true, _, ["assessments", _, "files", _]) => (Need::Read, "/assessments/{id}/files/{file}"),
        (_, true, ["assessments", _, "answer"]) => (Need::Act, "/assessments/{id}/answer"),
        (true, _, ["risks"]) => (Need::StaffRead, "/risks"),
        (true, _, ["risks", _]) => (Need::StaffRead, "/risks/{id}"),
        (_, true, ["risks", _, "edit"]) => (Need::Manage, "/risks/{id}/edit"),
        (true, _, ["findings"]) => (Need::StaffRead, "/findings"),
        (_, true, ["findings", _]) => (Need::Manage, "/findings/{id}"),
        (true, _, ["feeds"]) => (Need::StaffRead, "/feeds"),
        (true, _, ["feeds", _]) => (Need::StaffRead, "/feeds/{name}"),
        (_, true, ["feeds", _, "pull"]) => (Need::Operate, "/feeds/{name}/pull"),
        // Sharing (`sharing.rs`): staff look, admins change.
        (true, _, ["sharing"]) => (Need::StaffRead, "/sharing"),
        (true, _, ["sharing", "received"]) => (Need::StaffRead, "/sharing/received"),
        (true, _, ["sharing", "peers", _]) => (Need::StaffRead, "/sharing/peers/{name}"),
        (true, _, ["sharing", "peers", _, "preview"]) => {
            (Need::StaffRead, "/sharing/peers/{name}/preview")
        }
        (_, true, ["sharing", "peers"]) => (Need::ManageSharing, "/sharing/peers"),
        (_, true, ["sharing", "peers", _, "edit"]) => {
            (Need::ManageSharing, "/sharing/peers/{name}/edit")
        }
        (_, true, ["sharing", "peers", _, "pause"]) => {
            (Need::ManageSharing, "/sharing/peers/{name}/pause")
        }
        (_, true, ["sharing", "peers", _, "resume"]) => {
            (Need::ManageSharing, "/sharing/peers/{name}/resume")
        }
        (_, true, ["sharing", "policies"]) => (Need::ManageSharing, "/sharing/policies"),
        // Awareness (`awareness_pages.rs`): every signed-in person reads (a constituent only
        // the published advisories its clearance allows, narrowed in the handler); admins and
        // analysts write, review and publish (four eyes, in focal-awareness).
        (true, _, ["advisories"]) => (Need::Read, "/advisories"),
        (_, true, ["advisories"]) => (Need::Manage, "/advisories"),
        (true, _, ["advisories", _]) => (Need::Read, "/advisories/{id}"),
        (_, true, ["advisories", _, "edit"]) => (Need::Manage, "/advisories/{id}/edit"),
        (_, true, ["advisories", _, "submit"]) => (Need::Manage, "/advisories/{id}/submit"),
        (_, true, ["advisories", _, "reject"]) => (Need::Manage, "/advisories/{id}/reject"),
        (_, true, ["advisories", _, "publish"]) => (Need::Manage, "/advisories/{id}/publish"),
        (true, _, ["library"]) => (Need::Read, "/library"),
        (true, _, ["library", _]) => (Need::Read, "/library/{entity}"),
        (true, _, ["library", _, _]) => (Need::Read, "/library/{entity}/{item}"),
        (true, _, ["api", "v1", "advisories"]) => (Need::Read, "/api/v1/advisories"),
        (_, true, ["api", "v1", "advisories"]) => (Need::Manage, "/api/v1/advisories"),
        (true, _, ["api", "v1", "advisories", _]) => (Need::Read, "/api/v1/advisories/{id}"),
        (true, _, ["api", "v1", "advisories", _, "csaf"]) => {
            (Need::Read, "/api/v1/advisories/{id}/csaf")
        }
        (_, true, ["api", "v1", "advisories", _, "submit"]) => {
            (Need::Manage, "/api/v1/advisories/{id}/submit")
        }
        (_, true, ["api", "v1", "advisories", _, "reject"]) => {
            (Need::Manage, "/api/v1/advisories/{id}/reject")
        }
        (_, true, ["api", "v1", "advisories", _, "publish"]) => {
            (Need::Manage, "/api/v1/advisories/{id}/publish")
        }
        (true, _, ["api", "v1", "library", "search"]) => (Need::Read, "/api/v1/library/search"),
        (true, _, ["api", "v1", "library", "entities"]) => (Need::Read, "/api/v1/library/entities"),
        (true, _, ["api", "v1", "library", "entities", _]) => {
            (Need::Read, "/api/v1/library/entities/{id}")
        }
        (true, _, ["api", "v1", "library", "entities", _, "items", _]) => {
            (Need::Read, "/api/v1/library/entities/{id}/items/{item}")
        }
        (true, _, ["audit"]) => (Need::Audit, "/audit"),
        (true, _, ["account"]) => (Need::SignedIn, "/account"),
        (_, true, ["account", "password"]) => (Need::SignedIn, "/account/password"),
        (_, true, ["account", "sessions", "end"]) => (Need::SignedIn, "/account/sessions/end"),
        (true, _, ["users"]) => (Need::Accounts, "/users"),
        (true, _, ["users", _]) => (Need::Accounts, "/users/{name}"),
        (_, true, ["users", _, "disable"]) => (Need::Accounts, "/users/{name}/disable"),
        (_, true, ["users", _, "enable"]) => (Need::Accounts, "/users/{name}/enable"),
        (_, true, ["users", _, "password"]) => (Need::Accounts, "/users/{name}/password"),
        (_, true, ["users", _, "sessions", "end"]) => {
            (Need::Accounts, "/users/{name}/sessions/end")
        }
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
        // Self-assessment (`assessments.rs`): everyone signed in reads (a constituent only the
        // assessments of its own constituent, narrowed by the handlers); answering is acting
        // on one's own; the risk register and findings are staff's, changed by analysts.
        (true, _, ["api", "v1", "assessments"]) => (Need::Read, "/api/v1/assessments"),
        (true, _, ["api", "v1", "assessments", _]) => (Need::Read, "/api/v1/assessments/{id}"),
        (_, true, ["api", "v1", "assessments", _, "answers"]) => {
            (Need::Act, "/api/v1/assessments/{id}/answers")
        }
        (true, _, ["api", "v1", "assessments", _, "compare"]) => {
            (Need::Read, "/api/v1/assessments/{id}/compare")
        }
        (true, _, ["api", "v1", "risks"]) => (Need::StaffRead, "/api/v1/risks"),
        (true, _, ["api", "v1", "risks", _]) => (Need::StaffRead, "/api/v1/risks/{id}"),
        (true, _, ["api", "v1", "findings"]) => (Need::StaffRead, "/api/v1/findings"),
        (true, _, ["api", "v1", "runs"]) => (Need::StaffRead, "/api/v1/runs"),
        (true, _, ["api", "v1", "feeds"]) => (Need::StaffRead, "/api/v1/feeds"),
        (true, _, ["api", "v1", "feeds", _]) => (Need::StaffRead, "/api/v1/feeds/{name}"),
        (true, _, ["api", "v1", "quarantine"]) => (Need::StaffRead, "/api/v1/quarantine"),
        (true, _, ["api", "v1", "sharing", "peers"]) => (Need::StaffRead, "/api/v1/sharing/peers"),
        (true, _, ["api", "v1", "sharing", "peers", _, "preview"]) => {
            (Need::StaffRead, "/api/v1/sharing/peers/{name}/preview")
        }
        (true, _, ["api", "v1", "audit"]) => (Need::Audit, "/api/v1/audit"),
        (true, _, ["api", "v1", "account"]) => (Need::SignedIn, "/api/v1/account"),
        (_, true, ["api", "v1", "account", "password"]) => {
            (Need::SignedIn, "/api/v1/account/password")
        }
        (true, _, ["api", "v1", "users"]) => (Need::Accounts, "/api/v1/users"),
        (true, _, ["api", "v1", "users", _]) => (Need::Accounts, "/api/v1/users/{name}"),
        (_, true, ["api", "v1", "users", _, "disable"]) => {
            (Need::Accounts, "/api/v1/users/{name}/disable")
        }
        (_, true, ["api", "v1", "users", _, "enable"]) => {
            (Need::Accounts, "/api/v1/users/{name}/enable")
        }
        (_, true, ["api", "v1", "users", _, "password"]) => {
            (Need::Accounts, "/api/v1/users/{name}/password")
        }
        // An unknown page: anyone signed in is told it is not there (a 404 page, in
        // `errors::fallback`). The route table is no secret, so a 404 reveals nothing a
        // refusal would hide. Unknown writes still need the most.
        (true, _, _) => (Need::SignedIn, "other"),
        _ => (Need::Manage, "other"),
    }
}

fn is_ui(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics")
}

/// A refusal. API clients get JSON; browsers get an error page in the application's layout
/// (without the navigation: who is signed in is not known here, see [`guard`] for when it is).
pub fn refuse(status: StatusCode, path: &str, message: &str) -> Response {
    let mut resp = crate::errors::for_path(status, path, None, message);
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"focal\""),
        );
    }
    resp
}

/// A refusal in the shape the route's clients expect: a TAXII error resource on TAXII routes.
fn refusal(status: StatusCode, path: &str, taxii: bool, message: &str) -> Response {
    if taxii {
        let title = status.canonical_reason().unwrap_or("Refused");
        crate::taxii::TaxiiError::new(status, title, message).into_response()
    } else {
        refuse(status, path, message)
    }
}

/// Too many failed password checks: 429 with `Retry-After` (counted by the authenticator in
/// `focal_auth_throttled_total`).
pub fn throttled(path: &str, taxii: bool, retry_after: u64) -> Response {
    let mut resp = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        path,
        taxii,
        &format!(
            "too many failed sign-in attempts from your address: try again in {retry_after} s"
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Most a form or JSON body of a state-changing request may be, unless [`body_limit`] says
/// otherwise.
const BODY_LIMIT: usize = 64 * 1024;
/// Most one constituent's form or JSON may be: a large network lists thousands of netblocks.
pub const CONSTITUENT_BODY_LIMIT: usize = 1024 * 1024;
/// Most one advisory's form or JSON may be: two texts of 20,000 characters and lists of 500.
pub const ADVISORY_BODY_LIMIT: usize = 1024 * 1024;
/// Most an answer form may be: one evidence file and the form around it.
pub const ANSWER_BODY_LIMIT: usize = focal_assessment::assessment::MAX_FILE_BYTES + 64 * 1024;
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
        "/advisories"
        | "/advisories/{id}/edit"
        | "/api/v1/advisories"
        | "/api/v1/advisories/{id}" => (
            ADVISORY_BODY_LIMIT,
            "request body too large: one advisory may be at most 1 MiB",
        ),
        "/assessments/{id}/answer" => (
            ANSWER_BODY_LIMIT,
            "the upload is too large: an evidence file may be at most 10 MiB",
        ),
        _ => (BODY_LIMIT, "request body too large"),
    }
}

/// The credential a request carries: the `Authorization` header (bearer token, or HTTP Basic),
/// else, outside TAXII, the session cookie. A malformed header is no credential.
pub fn credential(headers: &HeaderMap, channel: Channel) -> Option<Credential> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let (scheme, rest) = value.to_str().ok()?.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Credential::Bearer(rest.trim().to_string()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (name, password) = text.split_once(':')?;
            return Some(Credential::Basic {
                name: name.to_string(),
                password: password.to_string(),
            });
        }
        return None;
    }
    if channel == Channel::Web {
        return session::cookie(headers, SESSION_COOKIE).map(Credential::Session);
    }
    None
}

pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let (need, template) = route(&method, &path);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let client = crate::client::address(peer, request.headers(), &state.web.trusted_proxies);
    request.extensions_mut().insert(ClientAddress(client));
    let behind_tls = state.web.trusted_proxies.contains(peer)
        && !request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("http"));
    request.extensions_mut().insert(BehindTlsProxy(behind_tls));
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

    let taxii = need == Need::Taxii;
    let request_target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .filter(|t| session::safe_next(t).is_some());
    let unauthenticated = || {
        if is_ui(&path) && !taxii && !state_changing {
            // Back to this page after signing in (`session::safe_next` checks it again).
            let target = match request_target.as_deref() {
                Some(t) if t != "/" => format!("/login?next={}", crate::ui::enc(t)),
                _ => "/login".to_string(),
            };
            Redirect::to(&target).into_response()
        } else if taxii {
            refusal(
                StatusCode::UNAUTHORIZED,
                &path,
                true,
                "valid HTTP Basic credentials or a bearer token are required",
            )
        } else {
            refuse(
                StatusCode::UNAUTHORIZED,
                &path,
                "sign in or send a bearer token",
            )
        }
    };
    let channel = if taxii { Channel::Taxii } else { Channel::Web };
    let Some(credential) = credential(request.headers(), channel) else {
        return unauthenticated();
    };
    let presented = Presented {
        credential,
        client,
        writes: state_changing,
        channel,
    };
    let auth = state.auth.clone();
    let checked = tokio::task::spawn_blocking(move || auth.authenticate(&presented)).await;
    let principal = match checked {
        Ok(Ok(p)) => Principal::from(p),
        Ok(Err(Refused::Unauthenticated)) => return unauthenticated(),
        Ok(Err(Refused::ReadOnly)) => {
            return refusal(
                StatusCode::FORBIDDEN,
                &path,
                taxii,
                "this token is read-only",
            );
        }
        Ok(Err(Refused::Throttled { retry_after })) => {
            return throttled(&path, taxii, retry_after);
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "authentication failed on a store error");
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                &path,
                taxii,
                "internal error",
            );
        }
        Err(_) => {
            return refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                &path,
                taxii,
                "internal error",
            );
        }
    };
    if !allowed(principal.user.role, need) {
        if !taxii && is_ui(&path) {
            return crate::errors::page(
                StatusCode::FORBIDDEN,
                Some(&principal),
                "your role may not do this",
            );
        }
        return refusal(
            StatusCode::FORBIDDEN,
            &path,
            taxii,
            "your role may not do this",
        );
    }
    if state_changing && let Via::Session { csrf, .. } = &principal.via {
        match check_form_csrf(request, Some(csrf.as_str()), template).await {
            Ok(r) => request = r,
            Err(resp) => return resp,
        }
    } else if state_changing && !taxii {
        // A bearer or Basic request has no CSRF token to read its body for; bound it here all
        // the same, so each route's limit holds whatever the credential (an API comment of
        // 1 MiB was taken). TAXII bounds its bodies itself, by the server's limits.
        match read_bounded(request, template).await {
            Ok((parts, bytes)) => request = Request::from_parts(parts, Body::from(bytes)),
            Err(resp) => return resp,
        }
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
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
    let (parts, bytes) = read_bounded(request, template).await?;
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

/// The request's body, read up to its route's [`body_limit`]; more (declared or sent) is
/// answered 413 with the route's reason.
async fn read_bounded(
    request: Request,
    template: &str,
) -> Result<(axum::http::request::Parts, axum::body::Bytes), Response> {
    let path = request.uri().path().to_string();
    let (parts, body) = request.into_parts();
    let (limit, too_large) = body_limit(template);
    // A declared length over the limit is refused before any of the body is awaited: a client
    // that then sent nothing used to hold its place until the body timeout.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, &path, too_large));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| refuse(StatusCode::PAYLOAD_TOO_LARGE, &path, too_large))?;
    Ok((parts, bytes))
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `application/x-www-form-urlencoded` pairs. Decoded here because the body must be read
/// before the handler (which extracts it again) and only one field is needed.
pub(crate) fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
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
        use Role::*;
        for role in Role::ALL {
            assert_eq!(allowed(role, Need::Read), role != Peer);
            assert_eq!(allowed(role, Need::SignedIn), role != Peer);
            assert_eq!(allowed(role, Need::Act), !matches!(role, Auditor | Peer));
            assert_eq!(allowed(role, Need::Audit), matches!(role, Admin | Auditor));
            assert_eq!(
                allowed(role, Need::Operate),
                matches!(role, Admin | Analyst)
            );
            assert_eq!(allowed(role, Need::Accounts), role == Admin);
            assert!(allowed(role, Need::Taxii));
        }
    }

    #[test]
    fn accounts_routes_are_admin_only_and_own_account_routes_for_everyone_signed_in() {
        for (method, path) in [
            (Method::GET, "/users"),
            (Method::GET, "/users/alice"),
            (Method::POST, "/users/alice/disable"),
            (Method::POST, "/users/alice/enable"),
            (Method::POST, "/users/alice/password"),
            (Method::POST, "/users/alice/sessions/end"),
            (Method::GET, "/api/v1/users"),
            (Method::GET, "/api/v1/users/alice"),
            (Method::POST, "/api/v1/users/alice/disable"),
            (Method::POST, "/api/v1/users/alice/enable"),
            (Method::POST, "/api/v1/users/alice/password"),
            (Method::DELETE, "/api/v1/users/alice/sessions"),
            (Method::DELETE, "/api/v1/users/alice/sessions/3"),
        ] {
            assert_eq!(route(&method, path).0, Need::Accounts, "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/account"),
            (Method::POST, "/account/password"),
            (Method::POST, "/account/sessions/end"),
            (Method::GET, "/api/v1/account"),
            (Method::POST, "/api/v1/account/password"),
            (Method::DELETE, "/api/v1/account/sessions"),
            (Method::DELETE, "/api/v1/account/sessions/3"),
        ] {
            assert_eq!(route(&method, path).0, Need::SignedIn, "{method} {path}");
        }
        assert_eq!(
            route(&Method::DELETE, "/taxii2/root/collections/c/objects/x/").0,
            Need::Taxii
        );
    }

    #[test]
    fn credentials_are_read_from_the_authorization_header_then_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "focal_session=abc".parse().unwrap());
        assert!(matches!(credential(&h, Channel::Web), Some(Credential::Session(s)) if s == "abc"));
        assert!(
            credential(&h, Channel::Taxii).is_none(),
            "TAXII takes no cookie"
        );
        h.insert(
            header::AUTHORIZATION,
            "Basic YWxpY2U6czNjcjN0OnM=".parse().unwrap(),
        );
        assert!(matches!(
            credential(&h, Channel::Taxii),
            Some(Credential::Basic { name, password }) if name == "alice" && password == "s3cr3t:s"
        ));
        h.insert(header::AUTHORIZATION, "bearer  tok ".parse().unwrap());
        assert!(matches!(credential(&h, Channel::Web), Some(Credential::Bearer(t)) if t == "tok"));
        h.insert(header::AUTHORIZATION, "Digest x".parse().unwrap());
        assert!(
            credential(&h, Channel::Web).is_none(),
            "an unusable header is no credential"
        );
    }

    #[test]
    fn only_admins_and_analysts_change_constituents() {
        for role in Role::ALL {
            assert_eq!(
                allowed(role, Need::ManageConstituents),
                matches!(role, Role::Admin | Role::Analyst),
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
    fn unknown_writes_need_the_most_and_unknown_pages_a_sign_in() {
        // Reading an unknown page needs only a sign-in, and is then answered 404.
        assert_eq!(route(&Method::GET, "/nope").0, Need::SignedIn);
        assert_eq!(route(&Method::POST, "/nope").0, Need::Manage);
        assert_eq!(route(&Method::DELETE, "/incidents/1").0, Need::Manage);
        assert_eq!(route(&Method::GET, "/incidents/1").0, Need::Read);
        assert_eq!(route(&Method::GET, "/feeds/x/pull").0, Need::SignedIn);
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
