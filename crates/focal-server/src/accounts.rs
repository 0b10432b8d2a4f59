//! Accounts in the REST API and the web UI: an admin lists accounts, disables and enables them,
//! resets passwords and ends sessions; everyone signed in changes their own password and ends
//! their own sessions. Every change goes through `focal_identity::accounts` (or, for one's own
//! password, the authenticator, which checks the current one with the same throttling as a
//! sign-in), audited with the signed-in user as actor.
//!
//! Who may call which route is decided in [`crate::access`] (`Need::Accounts` is admin only,
//! `Need::SignedIn` everyone but peers).

use crate::AppState;
use crate::access::{ClientAddress, Principal, throttled};
use crate::api::{ApiError, blocking};
use crate::extract::{Json, Path};
use crate::schema::{Ended, ErrorBody, SessionOut, TokenOut, UserDetail, UserList, UserOut};
use crate::ui::{enc, layout};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_identity::accounts::{self, AccountError};
use focal_identity::{IdentityStore, User};
use focal_store::StoreError;
use maud::html;
use serde::Deserialize;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", routing::get(list_users))
        .route("/api/v1/users/{name}", routing::get(user_detail))
        .route("/api/v1/users/{name}/disable", routing::post(disable_user))
        .route("/api/v1/users/{name}/enable", routing::post(enable_user))
        .route(
            "/api/v1/users/{name}/password",
            routing::post(reset_password),
        )
        .route(
            "/api/v1/users/{name}/sessions",
            routing::delete(end_user_sessions),
        )
        .route(
            "/api/v1/users/{name}/sessions/{id}",
            routing::delete(end_user_session),
        )
        .route("/api/v1/account", routing::get(own_account))
        .route("/api/v1/account/password", routing::post(change_password))
        .route(
            "/api/v1/account/sessions",
            routing::delete(end_own_sessions),
        )
        .route(
            "/api/v1/account/sessions/{id}",
            routing::delete(end_own_session),
        )
        .route("/account", routing::get(account_page))
        .route("/account/password", routing::post(account_password_form))
        .route(
            "/account/sessions/end",
            routing::post(account_sessions_form),
        )
        .route("/users", routing::get(users_page))
        .route("/users/{name}", routing::get(user_page))
        .route("/users/{name}/disable", routing::post(user_disable_form))
        .route("/users/{name}/enable", routing::post(user_enable_form))
        .route("/users/{name}/password", routing::post(user_password_form))
        .route(
            "/users/{name}/sessions/end",
            routing::post(user_sessions_form),
        )
}

/// An account change that failed, as an API answer (429 carries `Retry-After`).
fn refused(path: &str, e: AccountError<StoreError>) -> Response {
    let (status, message) = status_of(e);
    match status {
        Status::Throttled(after) => throttled(path, false, after),
        Status::Code(code) => ApiError(code, message).into_response(),
    }
}

enum Status {
    Code(StatusCode),
    Throttled(u64),
}

fn status_of(e: AccountError<StoreError>) -> (Status, String) {
    let message = e.to_string();
    let status = match e {
        AccountError::NoSuchUser(_)
        | AccountError::NoSuchToken(_)
        | AccountError::NoSuchSession(..) => Status::Code(StatusCode::NOT_FOUND),
        AccountError::Invalid(_) | AccountError::Credential(_) => {
            Status::Code(StatusCode::BAD_REQUEST)
        }
        AccountError::WrongPassword => Status::Code(StatusCode::FORBIDDEN),
        AccountError::Throttled { retry_after } => Status::Throttled(retry_after),
        AccountError::Store(StoreError::Invalid(_)) => Status::Code(StatusCode::BAD_REQUEST),
        AccountError::Store(e) => {
            tracing::error!(error = %e, "store error");
            return (
                Status::Code(StatusCode::INTERNAL_SERVER_ERROR),
                "internal error".into(),
            );
        }
    };
    (status, message)
}

/// Runs account work on a blocking thread.
async fn work<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AccountError<StoreError>> + Send + 'static,
) -> Result<T, AccountError<StoreError>> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(AccountError::Store(StoreError::Io {
            path: "the server".into(),
            source: std::io::Error::other("the request's work stopped"),
        }))
    })
}

/// An admin may not disable their own account: nobody would be left to enable it.
fn not_self(p: &Principal, name: &str) -> Result<(), AccountError<StoreError>> {
    if p.user.name == name {
        return Err(AccountError::Invalid(
            "you cannot disable your own account".into(),
        ));
    }
    Ok(())
}

fn detail(state: &AppState, user: User, current: Option<i64>) -> Result<UserDetail, ApiError> {
    let now = jiff::Timestamp::now().as_microsecond();
    let sessions = state
        .store
        .sessions(user.id, now)?
        .into_iter()
        .map(|s| SessionOut::new(s, current))
        .collect();
    let tokens = state
        .store
        .tokens(Some(&user.name))?
        .into_iter()
        .map(TokenOut::from)
        .collect();
    Ok(UserDetail {
        user: user.into(),
        sessions,
        tokens,
    })
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    responses((status = 200, description = "every account, by name", body = UserList)))]
pub async fn list_users(State(state): State<AppState>) -> Result<Json<UserList>, ApiError> {
    let st = state.clone();
    let users = blocking(move || Ok(st.store.users()?)).await?;
    Ok(Json(UserList {
        users: crate::schema::all(users),
    }))
}

#[utoipa::path(get, path = "/api/v1/users/{name}", params(("name" = String, Path, description = "user name")), tag = "accounts",
    responses((status = 200, description = "the account, its live sessions and its tokens", body = UserDetail),
        (status = 404, description = "no such account", body = ErrorBody)))]
pub async fn user_detail(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let st = state.clone();
    let d = blocking(move || {
        let user = st
            .store
            .user(&name)?
            .ok_or_else(|| ApiError::not_found(&format!("user {name:?}")))?;
        detail(&st, user, None)
    })
    .await?;
    Ok(Json(d))
}

#[utoipa::path(post, path = "/api/v1/users/{name}/disable", params(("name" = String, Path, description = "user name")), tag = "accounts",
    responses((status = 200, description = "the account, disabled: its sessions ended, its tokens and password refused", body = UserOut),
        (status = 400, description = "your own account", body = ErrorBody), (status = 404, description = "no such account", body = ErrorBody)))]
pub async fn disable_user(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let path = format!("/api/v1/users/{name}/disable");
    let st = state.clone();
    match work(move || {
        not_self(&p, &name)?;
        accounts::set_disabled(st.store.as_ref(), &name, true, &p.actor())
    })
    .await
    {
        Ok(u) => Json(UserOut::from(u)).into_response(),
        Err(e) => refused(&path, e),
    }
}

#[utoipa::path(post, path = "/api/v1/users/{name}/enable", params(("name" = String, Path, description = "user name")), tag = "accounts",
    responses((status = 200, description = "the account, enabled", body = UserOut), (status = 404, description = "no such account", body = ErrorBody)))]
pub async fn enable_user(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let path = format!("/api/v1/users/{name}/enable");
    let st = state.clone();
    match work(move || accounts::set_disabled(st.store.as_ref(), &name, false, &p.actor())).await {
        Ok(u) => Json(UserOut::from(u)).into_response(),
        Err(e) => refused(&path, e),
    }
}

/// A new password for an account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordReset {
    /// At least 8 characters.
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/users/{name}/password", params(("name" = String, Path, description = "user name")),
    request_body = PasswordReset, tag = "accounts",
    responses((status = 200, description = "the account; every session of it has ended", body = UserOut),
        (status = 400, description = "the password is too short or too long", body = ErrorBody), (status = 404, description = "no such account", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Json(body): Json<PasswordReset>,
) -> Response {
    let path = format!("/api/v1/users/{name}/password");
    let st = state.clone();
    match work(move || {
        accounts::reset_password(st.store.as_ref(), &name, &body.password, &p.actor())
    })
    .await
    {
        Ok(u) => Json(UserOut::from(u)).into_response(),
        Err(e) => refused(&path, e),
    }
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/sessions", params(("name" = String, Path, description = "user name")), tag = "accounts",
    responses((status = 200, description = "every session of the account ended", body = Ended), (status = 404, description = "no such account", body = ErrorBody)))]
pub async fn end_user_sessions(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let path = format!("/api/v1/users/{name}/sessions");
    let st = state.clone();
    match work(move || accounts::end_sessions(st.store.as_ref(), &name, None, None, &p.actor()))
        .await
    {
        Ok(n) => Json(Ended { ended: n }).into_response(),
        Err(e) => refused(&path, e),
    }
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/sessions/{id}",
    params(("name" = String, Path, description = "user name"), ("id" = i64, Path, description = "session id")), tag = "accounts",
    responses((status = 200, description = "the session ended", body = Ended), (status = 400, description = "a bad id", body = ErrorBody),
        (status = 404, description = "no such account, or no such session of it", body = ErrorBody)))]
pub async fn end_user_session(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((name, id)): Path<(String, i64)>,
) -> Response {
    let path = format!("/api/v1/users/{name}/sessions/{id}");
    let st = state.clone();
    match work(move || accounts::end_sessions(st.store.as_ref(), &name, Some(id), None, &p.actor()))
        .await
    {
        Ok(n) => Json(Ended { ended: n }).into_response(),
        Err(e) => refused(&path, e),
    }
}

#[utoipa::path(get, path = "/api/v1/account", tag = "accounts",
    responses((status = 200, description = "your account, your live sessions (the one of this request marked current) and your tokens", body = UserDetail)))]
pub async fn own_account(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<UserDetail>, ApiError> {
    let st = state.clone();
    let d = blocking(move || detail(&st, p.user.clone(), p.session_id())).await?;
    Ok(Json(d))
}

/// Your current password and the new one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current: String,
    /// At least 8 characters.
    pub new: String,
}

#[utoipa::path(post, path = "/api/v1/account/password", request_body = PasswordChange, tag = "accounts",
    responses((status = 200, description = "changed; your other sessions have ended", body = UserOut),
        (status = 400, description = "the new password is too short or too long", body = ErrorBody),
        (status = 403, description = "the current password is wrong (counted like a failed sign-in)", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 429, description = "too many failed password checks from your address; see Retry-After", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    Json(body): Json<PasswordChange>,
) -> Response {
    let auth = state.auth.clone();
    match work(move || auth.change_own_password(&p.user, &p.via, &body.current, &body.new, client))
        .await
    {
        Ok(u) => Json(UserOut::from(u)).into_response(),
        Err(e) => refused("/api/v1/account/password", e),
    }
}

#[utoipa::path(delete, path = "/api/v1/account/sessions", tag = "accounts",
    responses((status = 200, description = "your other sessions ended (all of them, with a bearer token)", body = Ended)))]
pub async fn end_own_sessions(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let st = state.clone();
    match work(move || {
        accounts::end_sessions(
            st.store.as_ref(),
            &p.user.name,
            None,
            p.session_id(),
            &p.actor(),
        )
    })
    .await
    {
        Ok(n) => Json(Ended { ended: n }).into_response(),
        Err(e) => refused("/api/v1/account/sessions", e),
    }
}

#[utoipa::path(delete, path = "/api/v1/account/sessions/{id}", params(("id" = i64, Path, description = "session id")), tag = "accounts",
    responses((status = 200, description = "the session ended", body = Ended), (status = 400, description = "a bad id", body = ErrorBody),
        (status = 404, description = "you have no such session", body = ErrorBody)))]
pub async fn end_own_session(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    let st = state.clone();
    match work(move || {
        accounts::end_sessions(st.store.as_ref(), &p.user.name, Some(id), None, &p.actor())
    })
    .await
    {
        Ok(n) => Json(Ended { ended: n }).into_response(),
        Err(e) => refused("/api/v1/account/sessions/{id}", e),
    }
}

// ---- The web pages ----

/// A refusal as a page (429 with `Retry-After`).
fn problem_page(p: &Principal, e: AccountError<StoreError>) -> Response {
    let (status, message) = status_of(e);
    let code = match status {
        Status::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        Status::Code(c) => c,
    };
    let mut resp = (
        code,
        layout("Problem", Some(p), html! { p.error { (message) } }),
    )
        .into_response();
    if let Status::Throttled(after) = status
        && let Ok(v) = axum::http::HeaderValue::from_str(&after.to_string())
    {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    resp
}

fn sessions_table(p: &Principal, sessions: &[SessionOut], action: &str, own: bool) -> maud::Markup {
    html! {
        @if sessions.is_empty() { p { "No live session." } } @else {
            table #sessions { thead { tr { th { "#" } th { "Signed in" } th { "Expires" } th { "From" } th {} } }
                tbody { @for s in sessions { tr {
                    td.num { (s.id) }
                    td { (s.created_at) }
                    td { (s.expires_at) }
                    td { (s.client.as_deref().unwrap_or("")) }
                    td {
                        @if s.current && own { "this session" } @else {
                            form.inline method="post" action=(action) {
                                input type="hidden" name="csrf" value=(p.csrf());
                                input type="hidden" name="id" value=(s.id);
                                button type="submit" { "End" }
                            }
                        }
                    }
                } } } }
        }
    }
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

fn done_note(done: &Option<String>) -> maud::Markup {
    let text = match done.as_deref() {
        Some("password") => "The password was changed.",
        Some("sessions") => "Sessions ended.",
        Some("disabled") => {
            "The account is disabled: its sessions ended, its tokens and password are refused."
        }
        Some("enabled") => "The account is enabled.",
        _ => "",
    };
    html! { @if !text.is_empty() { p.notice #done { (text) } } }
}

async fn account_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<Done>,
) -> Response {
    let (st, who) = (state.clone(), p.clone());
    let d = match blocking(move || detail(&st, who.user.clone(), who.session_id())).await {
        Ok(d) => d,
        Err(e) => {
            return (
                e.0,
                layout("Problem", Some(&p), html! { p.error { (e.1) } }),
            )
                .into_response();
        }
    };
    layout(
        "Your account",
        Some(&p),
        html! {
            (done_note(&q.done))
            dl.facts {
                dt { "Name" } dd { (d.user.name) }
                dt { "Role" } dd { (d.user.role) }
                @if let Some(o) = &d.user.organisation { dt { "Organisation" } dd { (o) } }
            }
            h2 { "Change your password" }
            form.stacked #password method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(p.csrf());
                label { "Current password" input type="password" name="current" autocomplete="current-password" required; }
                label { "New password (at least 8 characters)" input type="password" name="new" autocomplete="new-password" minlength="8" required; }
                label { "New password again" input type="password" name="confirm" autocomplete="new-password" minlength="8" required; }
                button type="submit" { "Change password" }
            }
            p { "Changing your password signs you out everywhere else." }
            h2 { "Your sessions" }
            (sessions_table(&p, &d.sessions, "/account/sessions/end", true))
            @if d.sessions.len() > 1 {
                form.inline method="post" action="/account/sessions/end" {
                    input type="hidden" name="csrf" value=(p.csrf());
                    button type="submit" #end-others { "Sign out everywhere else" }
                }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

async fn account_password_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ClientAddress(client)): Extension<ClientAddress>,
    Form(f): Form<PasswordForm>,
) -> Response {
    if f.new != f.confirm {
        return problem_page(
            &p,
            AccountError::Invalid("the new password and its repetition differ".into()),
        );
    }
    let (auth, who) = (state.auth.clone(), p.clone());
    match work(move || auth.change_own_password(&who.user, &who.via, &f.current, &f.new, client))
        .await
    {
        Ok(_) => Redirect::to("/account?done=password").into_response(),
        Err(e) => problem_page(&p, e),
    }
}

#[derive(Deserialize)]
struct SessionForm {
    /// One session; without it, all but the current one.
    id: Option<i64>,
}

async fn account_sessions_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(f): Form<SessionForm>,
) -> Response {
    let (st, who) = (state.clone(), p.clone());
    let keep = if f.id.is_none() { p.session_id() } else { None };
    match work(move || {
        accounts::end_sessions(st.store.as_ref(), &who.user.name, f.id, keep, &who.actor())
    })
    .await
    {
        Ok(_) => Redirect::to("/account?done=sessions").into_response(),
        Err(e) => problem_page(&p, e),
    }
}

async fn users_page(State(state): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    let st = state.clone();
    let users = match blocking(move || Ok(st.store.users()?)).await {
        Ok(u) => u,
        Err(e) => {
            return (
                e.0,
                layout("Problem", Some(&p), html! { p.error { (e.1) } }),
            )
                .into_response();
        }
    };
    layout(
        "Users",
        Some(&p),
        html! {
            p { "Accounts are added with " code { "focal users add" } "." }
            table #users { thead { tr { th { "Name" } th { "Role" } th { "Organisation" } th { "State" } th { "Created" } } }
                tbody { @for u in &users { tr {
                    td { a href=(format!("/users/{}", enc(&u.name))) { (u.name) } }
                    td { (u.role) }
                    td { (u.organisation.as_deref().unwrap_or("")) }
                    td { @if u.disabled { span.error { "disabled" } } @else { "enabled" } }
                    td { (u.created_at) }
                } } } }
        },
    )
    .into_response()
}

async fn user_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let st = state.clone();
    let found = blocking(move || {
        let user = st
            .store
            .user(&name)?
            .ok_or_else(|| ApiError::not_found(&format!("user {name:?}")))?;
        detail(&st, user, None)
    })
    .await;
    let d = match found {
        Ok(d) => d,
        Err(e) => {
            return (
                e.0,
                layout("Problem", Some(&p), html! { p.error { (e.1) } }),
            )
                .into_response();
        }
    };
    let base = format!("/users/{}", enc(&d.user.name));
    let own = d.user.name == p.user.name;
    layout(
        &format!("User {}", d.user.name),
        Some(&p),
        html! {
            (done_note(&q.done))
            dl.facts {
                dt { "Role" } dd { (d.user.role) }
                @if let Some(o) = &d.user.organisation { dt { "Organisation" } dd { (o) } }
                dt { "State" } dd #state { @if d.user.disabled { "disabled" } @else { "enabled" } }
                dt { "Created" } dd { (d.user.created_at) }
            }
            @if d.user.disabled {
                form.inline method="post" action=(format!("{base}/enable")) {
                    input type="hidden" name="csrf" value=(p.csrf());
                    button type="submit" #enable { "Enable" }
                }
            } @else if !own {
                form.inline method="post" action=(format!("{base}/disable")) {
                    input type="hidden" name="csrf" value=(p.csrf());
                    button type="submit" #disable { "Disable" }
                }
                " Disabling ends every session at once and refuses the account's tokens and password."
            }
            h2 { "Reset the password" }
            form.stacked #reset method="post" action=(format!("{base}/password")) {
                input type="hidden" name="csrf" value=(p.csrf());
                label { "New password (at least 8 characters)" input type="password" name="password" autocomplete="new-password" minlength="8" required; }
                button type="submit" { "Set password" }
            }
            p { "Setting the password ends every session of the account." }
            h2 { "Sessions" }
            (sessions_table(&p, &d.sessions, &format!("{base}/sessions/end"), false))
            @if !d.sessions.is_empty() {
                form.inline method="post" action=(format!("{base}/sessions/end")) {
                    input type="hidden" name="csrf" value=(p.csrf());
                    button type="submit" #end-all { "End every session" }
                }
            }
            h2 { "Tokens" }
            @if d.tokens.is_empty() { p { "None." } } @else {
                table #tokens { thead { tr { th { "#" } th { "Label" } th { "Scope" } th { "Created" } th { "Expires" } th { "Revoked" } } }
                    tbody { @for t in &d.tokens { tr {
                        td.num { (t.id) } td { (t.label.as_deref().unwrap_or("")) } td { (t.scope) }
                        td { (t.created_at) } td { (t.expires_at.as_deref().unwrap_or("")) } td { (t.revoked_at.as_deref().unwrap_or("")) }
                    } } } }
            }
            p { "Tokens are issued and revoked with " code { "focal users token" } "." }
        },
    )
    .into_response()
}

async fn set_disabled_form(
    state: AppState,
    p: Principal,
    name: String,
    disabled: bool,
) -> Response {
    let (st, who, n) = (state.clone(), p.clone(), name.clone());
    let done = work(move || {
        if disabled {
            not_self(&who, &n)?;
        }
        accounts::set_disabled(st.store.as_ref(), &n, disabled, &who.actor())
    })
    .await;
    match done {
        Ok(_) => Redirect::to(&format!(
            "/users/{}?done={}",
            enc(&name),
            if disabled { "disabled" } else { "enabled" }
        ))
        .into_response(),
        Err(e) => problem_page(&p, e),
    }
}

async fn user_disable_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    set_disabled_form(state, p, name, true).await
}

async fn user_enable_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    set_disabled_form(state, p, name, false).await
}

#[derive(Deserialize)]
struct ResetForm {
    password: String,
}

async fn user_password_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Form(f): Form<ResetForm>,
) -> Response {
    let (st, who, n) = (state.clone(), p.clone(), name.clone());
    match work(move || accounts::reset_password(st.store.as_ref(), &n, &f.password, &who.actor()))
        .await
    {
        Ok(_) => Redirect::to(&format!("/users/{}?done=password", enc(&name))).into_response(),
        Err(e) => problem_page(&p, e),
    }
}

async fn user_sessions_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Form(f): Form<SessionForm>,
) -> Response {
    let (st, who, n) = (state.clone(), p.clone(), name.clone());
    match work(move || accounts::end_sessions(st.store.as_ref(), &n, f.id, None, &who.actor()))
        .await
    {
        Ok(_) => Redirect::to(&format!("/users/{}?done=sessions", enc(&name))).into_response(),
        Err(e) => problem_page(&p, e),
    }
}
