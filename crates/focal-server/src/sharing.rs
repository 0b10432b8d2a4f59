//! Sharing in the web UI (`/sharing`): the peers this node syncs with (their sync state and
//! last error; admins add, change, pause and resume them), the sharing policies (admins set
//! them), a preview of what a peer would receive, and the objects received from elsewhere with
//! their provenance and markings as received.
//!
//! Nothing here decides a sharing rule. Changes go through `focal_sharing::manage` (the same
//! checks and audit entries as `focal peers` and `focal share policy`), and the preview is
//! `focal_sharing::client::preview`, which counts the very push rounds a sync sends, through
//! `policy::release_closed`. Who may see and change what is `access::route` (StaffRead to
//! look, ManageSharing to change).

use crate::AppState;
use crate::access::{Need, Principal};
use crate::api::{ApiError, blocking};
use crate::extract::PagePath as Path;
use crate::schema::{SharingPeerList, SharingPeerOut, SharingPolicyOut, SharingPreviewOut};
use crate::ui::{enc, layout};
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_sharing::Policy;
use focal_sharing::client::Preview;
use focal_sharing::manage::{self, ManageError, Pause, PeerCredential, PeerDraft};
use focal_store::sharing::{Collection, Peer, SharingStore, StoredObject, timestamp_us};
use maud::{Markup, html};
use serde_json::Value;

/// Objects shown per page of received objects.
const PAGE: usize = 50;
/// Released objects listed in full under a preview's counts.
const PREVIEW_FIRST: usize = 25;
/// Most stored versions a preview reads (it says so when it stops there).
const PREVIEW_SCAN: u64 = 200_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sharing", routing::get(overview))
        .route("/sharing/peers", routing::post(add_peer))
        .route("/sharing/peers/{name}", routing::get(peer_page))
        .route("/sharing/peers/{name}/edit", routing::post(edit_peer))
        .route("/sharing/peers/{name}/pause", routing::post(pause))
        .route("/sharing/peers/{name}/resume", routing::post(resume))
        .route("/sharing/peers/{name}/preview", routing::get(preview))
        .route("/sharing/policies", routing::post(set_policy))
        .route("/sharing/received", routing::get(received))
        .route("/api/v1/sharing/peers", routing::get(api_peers))
        .route(
            "/api/v1/sharing/peers/{name}/preview",
            routing::get(api_preview),
        )
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid { .. } => {
                ApiError(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            ManageError::NoPeer(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
            ManageError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "sharing change failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl From<focal_sharing::client::ClientError> for ApiError {
    fn from(e: focal_sharing::client::ClientError) -> Self {
        match e {
            focal_sharing::client::ClientError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "sharing preview failed");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

fn problem(p: &Principal, e: ApiError) -> Response {
    (e.0, layout("Problem", Some(p), html! { p.error { (e.1) } })).into_response()
}

fn answer(p: &Principal, r: Result<Html<String>, ApiError>, status: StatusCode) -> Response {
    match r {
        Ok(h) => (status, h).into_response(),
        Err(e) => problem(p, e),
    }
}

/// What the pages say after a change (the `saved` query of the redirect).
fn notice(saved: Option<&str>) -> Option<&'static str> {
    Some(match saved? {
        "added" => "Peer added.",
        "updated" => "Peer saved.",
        "paused" => "Peer paused: it is not synced until it is resumed.",
        "resumed" => "Peer resumed: the next sync round carries on from its cursors.",
        "unchanged" => "Nothing to change.",
        "policy" => "Policy saved.",
        _ => return None,
    })
}

#[derive(serde::Deserialize, Default)]
struct Saved {
    saved: Option<String>,
}

/// The peer form as sent: `auth` is `none`, `basic` or `bearer`; an empty `secret` keeps the
/// peer's present password or token.
#[derive(serde::Deserialize, Default, Clone)]
struct PeerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    collection: String,
    #[serde(default)]
    local_collection: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    secret: String,
    pull: Option<String>,
    push: Option<String>,
}

impl PeerForm {
    fn of(peer: &Peer) -> PeerForm {
        PeerForm {
            name: peer.name.clone(),
            url: peer.api_root.clone(),
            collection: peer.collection.clone(),
            local_collection: peer.local_collection.clone(),
            user: peer.username.clone().unwrap_or_default(),
            auth: peer.auth.clone(),
            secret: String::new(),
            pull: peer.pull.then(|| "on".into()),
            push: peer.push.then(|| "on".into()),
        }
    }

    fn draft(&self, old: Option<&Peer>) -> Result<PeerDraft, ApiError> {
        let refuse = |m: &str| Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, m.to_string()));
        let credential = match (self.auth.as_str(), self.secret.is_empty()) {
            ("none", _) | ("", true) => PeerCredential::None,
            ("basic", false) => PeerCredential::Basic(self.secret.clone()),
            ("bearer", false) => PeerCredential::Bearer(self.secret.clone()),
            // An empty secret keeps the present one, of the same kind only.
            (kind @ ("basic" | "bearer"), true) if old.is_some_and(|o| o.auth == kind) => {
                PeerCredential::Keep
            }
            ("basic", true) => return refuse("password: give the password for HTTP Basic"),
            ("bearer", true) => return refuse("token: give the bearer token"),
            _ => return refuse("sign-in: choose none, HTTP Basic or a bearer token"),
        };
        Ok(PeerDraft {
            name: self.name.clone(),
            url: self.url.clone(),
            collection: self.collection.clone(),
            user: Some(self.user.clone()),
            credential,
            pull: self.pull.is_some(),
            push: self.push.is_some(),
            local_collection: Some(self.local_collection.clone()),
        })
    }
}

#[derive(serde::Deserialize, Default, Clone)]
struct PolicyForm {
    #[serde(default)]
    principal: String,
    #[serde(default)]
    max_tlp: String,
    #[serde(default)]
    constituent: String,
    /// `FIELD=drop|pseudonymise`, one per line.
    #[serde(default)]
    redact: String,
    /// RSIT types or taxonomies, separated by commas or spaces.
    #[serde(default)]
    types: String,
}

impl PolicyForm {
    fn of(principal: &str, p: &Policy) -> PolicyForm {
        PolicyForm {
            principal: principal.to_string(),
            max_tlp: p.max_tlp.as_str().to_string(),
            constituent: p.constituent.clone().unwrap_or_default(),
            redact: p
                .redact
                .iter()
                .map(|(f, r)| format!("{f}={}", redaction(*r)))
                .collect::<Vec<_>>()
                .join("\n"),
            types: p
                .types
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn policy(&self) -> Result<Policy, ManageError> {
        let redact: Vec<String> = self.redact.lines().map(str::to_string).collect();
        let types: Vec<String> = self
            .types
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::to_string)
            .collect();
        manage::policy_from_parts(&self.max_tlp, Some(&self.constituent), &redact, &types)
    }
}

fn redaction(r: focal_sharing::Redaction) -> &'static str {
    match r {
        focal_sharing::Redaction::Drop => "drop",
        focal_sharing::Redaction::Pseudonymise => "pseudonymise",
    }
}

const TLPS: [&str; 4] = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT"];

fn policy_form(
    p: &Principal,
    f: &PolicyForm,
    fixed_principal: bool,
    error: Option<&str>,
) -> Markup {
    html! {
        form.stacked #policy-form method="post" action="/sharing/policies" {
            input type="hidden" name="csrf" value=(p.csrf());
            @if let Some(e) = error { p.error #policy-error { (e) } }
            @if fixed_principal {
                input type="hidden" name="principal" value=(f.principal);
            } @else {
                label { "Peer or user name" input type="text" name="principal" id="policy-principal" value=(f.principal) required maxlength="128"; }
            }
            label { "Highest TLP it may receive (TLP:RED never leaves this node)"
                select name="max_tlp" id="policy-max-tlp" {
                    @for t in TLPS { option value=(t) selected[f.max_tlp == t] { "TLP:" (t) } }
                }
            }
            label { "Constituent it is (the only one that receives its TLP:AMBER+STRICT; empty for none)"
                input type="text" name="constituent" id="policy-constituent" value=(f.constituent) maxlength="128"; }
            label { "Redactions, one per line: FIELD=drop or FIELD=pseudonymise (e.g. source.ip=pseudonymise)"
                textarea name="redact" id="policy-redact" rows="3" { (f.redact) } }
            label { "Only these RSIT types or taxonomies (comma-separated; empty for all)"
                input type="text" name="types" id="policy-types" value=(f.types); }
            button type="submit" id="policy-save" { "Save policy" }
        }
    }
}

fn peer_form(
    p: &Principal,
    f: &PeerForm,
    collections: &[Collection],
    new: bool,
    error: Option<&str>,
) -> Markup {
    let action = if new {
        "/sharing/peers".to_string()
    } else {
        format!("/sharing/peers/{}/edit", enc(&f.name))
    };
    let auth = if f.auth.is_empty() {
        "none"
    } else {
        f.auth.as_str()
    };
    html! {
        form.stacked #peer-form method="post" action=(action) {
            input type="hidden" name="csrf" value=(p.csrf());
            @if let Some(e) = error { p.error #peer-error { (e) } }
            @if new {
                label { "Name (its policy and what came from it are kept under it)"
                    input type="text" name="name" id="peer-name" value=(f.name) required maxlength="128"; }
            }
            label { "TAXII API root URL" input type="url" name="url" id="peer-url" value=(f.url) required placeholder="https://peer.example/taxii2/root/"; }
            label { "Remote collection id" input type="text" name="collection" id="peer-collection" value=(f.collection) required; }
            label { "Local collection (what is pushed, where pulled objects go)"
                select name="local_collection" id="peer-local-collection" {
                    @for c in collections {
                        option value=(c.id) selected[f.local_collection == c.id || (f.local_collection.is_empty() && c.alias.as_deref() == Some(focal_sharing::import::DEFAULT_COLLECTION))] {
                            (c.title) @if let Some(a) = &c.alias { " (" (a) ")" }
                        }
                    }
                }
            }
            fieldset {
                legend { "Direction" }
                label.check { input type="checkbox" name="pull" id="peer-pull" value="on" checked[f.pull.is_some()]; " Pull from it" }
                label.check { input type="checkbox" name="push" id="peer-push" value="on" checked[f.push.is_some()]; " Push to it" }
            }
            label { "Sign-in at the peer"
                select name="auth" id="peer-auth" {
                    option value="none" selected[auth == "none"] { "None" }
                    option value="basic" selected[auth == "basic"] { "HTTP Basic (user and password)" }
                    option value="bearer" selected[auth == "bearer"] { "Bearer token" }
                }
            }
            label { "User (HTTP Basic)" input type="text" name="user" id="peer-user" value=(f.user) autocomplete="off"; }
            label { @if new { "Password or token" } @else { "Password or token (leave empty to keep the present one)" }
                input type="password" name="secret" id="peer-secret" autocomplete="new-password"; }
            button type="submit" id=(if new { "peer-add" } else { "peer-save" }) { @if new { "Add peer" } @else { "Save peer" } }
        }
    }
}

fn directions(peer: &Peer) -> &'static str {
    match (peer.pull, peer.push) {
        (true, true) => "pull and push",
        (true, false) => "pull",
        (false, true) => "push",
        (false, false) => "neither",
    }
}

fn state_cell(pause: Option<&Pause>) -> Markup {
    html! {
        @match pause {
            Some(x) => span.status.bad title=(format!("paused {} by {}", short(&x.at), x.by)) { "paused" },
            None => span.status.good { "syncing" },
        }
    }
}

/// A stored RFC 3339 time to the second.
fn short(text: &str) -> String {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| text.to_string())
}

fn policy_cells(policy: &Policy) -> Markup {
    html! {
        td { "TLP:" (policy.max_tlp.as_str()) }
        td { (policy.constituent.as_deref().unwrap_or("")) }
        td { (policy.redact.iter().map(|(f, r)| format!("{f}={}", redaction(*r))).collect::<Vec<_>>().join(", ")) }
        td { @match &policy.types { Some(t) => (t.iter().cloned().collect::<Vec<_>>().join(", ")), None => "all" } }
    }
}

struct Overview {
    peers: Vec<(Peer, Option<Pause>)>,
    policies: Vec<(String, Result<Policy, String>)>,
    collections: Vec<Collection>,
}

fn read_overview(st: &AppState) -> Result<Overview, ApiError> {
    let store = st.store.as_ref();
    let mut peers = Vec::new();
    for peer in store.peers()? {
        let pause = manage::pause_of(store, &peer.name)?;
        peers.push((peer, pause));
    }
    let policies = store
        .policies()?
        .into_iter()
        .map(|(who, json)| {
            let p = serde_json::from_str::<Policy>(&json).map_err(|e| e.to_string());
            (who, p)
        })
        .collect();
    Ok(Overview {
        peers,
        policies,
        collections: store.collections()?,
    })
}

/// What the overview shows besides its lists after a refused change.
#[derive(Default)]
struct Refused {
    peer: Option<(PeerForm, String)>,
    policy: Option<(PolicyForm, String)>,
}

async fn overview_page(
    state: &AppState,
    p: &Principal,
    saved: Option<&str>,
    refused: Refused,
    status: StatusCode,
) -> Response {
    let st = state.clone();
    let manage = p.can(Need::ManageSharing);
    let r = blocking(move || read_overview(&st)).await.map(|o| {
        let (peer_f, peer_e) = match &refused.peer {
            Some((f, e)) => (f.clone(), Some(e.as_str())),
            None => (PeerForm { pull: Some("on".into()), ..PeerForm::default() }, None),
        };
        let (pol_f, pol_e) = match &refused.policy {
            Some((f, e)) => (f.clone(), Some(e.as_str())),
            None => (PolicyForm::of("", &Policy::default()), None),
        };
        layout(
            "Sharing",
            Some(p),
            html! {
                @if let Some(n) = notice(saved) { p.notice #saved { (n) } }
                p.note { "STIX 2.1 over TAXII 2.1 under TLP 2.0 (docs/SHARING.md). "
                    a href="/sharing/received" { "Objects received from elsewhere" } }
                h2 { "Peers" }
                @if o.peers.is_empty() { p #no-peers { "No peer yet." } } @else {
                    table #peers { thead { tr { th { "Peer" } th { "TAXII API root" } th { "Direction" } th { "State" } th { "Last sync" } th.num { "Pulled" } th.num { "Pushed" } th { "Last error" } } }
                        tbody { @for (peer, pause) in &o.peers { tr {
                            td.nowrap { a href=(format!("/sharing/peers/{}", enc(&peer.name))) { (peer.name) } }
                            td { code { (peer.api_root) } }
                            td.nowrap { (directions(peer)) }
                            td { (state_cell(pause.as_ref())) }
                            td.nowrap { (peer.last_sync_at.as_deref().map(short).unwrap_or_else(|| "never".into())) }
                            td.num { (peer.pulled) } td.num { (peer.pushed) }
                            td { @if let Some(e) = &peer.last_error { span.error-detail { (e) } } }
                        } } } }
                }
                @if manage {
                    details.card #add-peer open[refused.peer.is_some()] {
                        summary { "Add a peer" }
                        (peer_form(p, &peer_f, &o.collections, true, peer_e))
                    }
                }
                h2 { "Sharing policies" }
                p.note { "What each peer or user may receive. With no policy, a principal receives TLP:GREEN and below, unredacted. TLP:RED never leaves this node." }
                @if o.policies.is_empty() { p #no-policies { "No policy is set." } } @else {
                    table #policies { thead { tr { th { "Peer or user" } th { "Highest TLP" } th { "Constituent" } th { "Redactions" } th { "Types" } } }
                        tbody { @for (who, pol) in &o.policies { tr {
                            td { @if o.peers.iter().any(|(peer, _)| &peer.name == who) { a href=(format!("/sharing/peers/{}", enc(who))) { (who) } } @else { (who) } }
                            @match pol {
                                Ok(pol) => (policy_cells(pol)),
                                Err(e) => td colspan="4" { span.error-detail { "unreadable: " (e) } },
                            }
                        } } } }
                }
                @if manage {
                    details.card #set-policy open[refused.policy.is_some()] {
                        summary { "Set a policy" }
                        (policy_form(p, &pol_f, false, pol_e))
                    }
                }
            },
        )
    });
    answer(p, r, status)
}

async fn overview(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<Saved>,
) -> Response {
    overview_page(
        &state,
        &p,
        q.saved.as_deref(),
        Refused::default(),
        StatusCode::OK,
    )
    .await
}

async fn add_peer(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(f): Form<PeerForm>,
) -> Response {
    let (st, actor, form) = (state.clone(), p.actor(), f.clone());
    let r = blocking(move || {
        if st.store.peer(form.name.trim())?.is_some() {
            return Err(ApiError(
                StatusCode::CONFLICT,
                format!(
                    "name: there is a peer {:?} already; change it on its page",
                    form.name.trim()
                ),
            ));
        }
        let draft = form.draft(None)?;
        Ok(manage::save_peer(st.store.as_ref(), &actor, &draft)?.0)
    })
    .await;
    match r {
        Ok(peer) => {
            Redirect::to(&format!("/sharing/peers/{}?saved=added", enc(&peer.name))).into_response()
        }
        Err(ApiError(status, message)) if status.is_client_error() => {
            let refused = Refused {
                peer: Some((f, message)),
                ..Refused::default()
            };
            overview_page(&state, &p, None, refused, status).await
        }
        Err(e) => problem(&p, e),
    }
}

struct PeerView {
    peer: Peer,
    pause: Option<Pause>,
    policy: Policy,
    has_policy: bool,
    collections: Vec<Collection>,
}

fn read_peer(st: &AppState, name: &str) -> Result<PeerView, ApiError> {
    let store = st.store.as_ref();
    let peer = store
        .peer(name)?
        .ok_or_else(|| ApiError::not_found(&format!("peer named {name:?}")))?;
    let has_policy = store.policy(name)?.is_some();
    let policy = focal_sharing::settings::policy_for(store, name).map_err(|e| {
        tracing::error!(error = %e, "reading a policy");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the policy of {name} cannot be read"),
        )
    })?;
    Ok(PeerView {
        pause: manage::pause_of(store, name)?,
        policy,
        has_policy,
        collections: store.collections()?,
        peer,
    })
}

#[derive(Default)]
struct PeerRefused {
    peer: Option<(PeerForm, String)>,
    policy: Option<(PolicyForm, String)>,
}

async fn peer_detail(
    state: &AppState,
    p: &Principal,
    name: String,
    saved: Option<&str>,
    refused: PeerRefused,
    status: StatusCode,
) -> Response {
    let st = state.clone();
    let manage = p.can(Need::ManageSharing);
    let r = blocking(move || read_peer(&st, &name)).await.map(|v| {
        let peer = &v.peer;
        let base = format!("/sharing/peers/{}", enc(&peer.name));
        let (peer_f, peer_e) = match &refused.peer {
            Some((f, e)) => (f.clone(), Some(e.as_str())),
            None => (PeerForm::of(peer), None),
        };
        let (pol_f, pol_e) = match &refused.policy {
            Some((f, e)) => (f.clone(), Some(e.as_str())),
            None => (PolicyForm::of(&peer.name, &v.policy), None),
        };
        let local = v.collections.iter().find(|c| c.id == peer.local_collection);
        layout(
            &format!("Peer {}", peer.name),
            Some(p),
            html! {
                @if let Some(n) = notice(saved) { p.notice #saved { (n) } }
                p { a href="/sharing" { "All peers and policies" } }
                dl.facts #peer-facts {
                    dt { "State" } dd #peer-state { (state_cell(v.pause.as_ref()))
                        @if let Some(x) = &v.pause { " since " (short(&x.at)) " (" (x.by) ")" } }
                    dt { "TAXII API root" } dd { code { (peer.api_root) } }
                    dt { "Remote collection" } dd { code { (peer.collection) } }
                    dt { "Local collection" } dd { (local.map(|c| c.title.as_str()).unwrap_or(&peer.local_collection)) " " code { (peer.local_collection) } }
                    dt { "Direction" } dd #peer-direction { (directions(peer)) }
                    dt { "Sign-in" } dd { @match peer.auth.as_str() {
                        "basic" => { "HTTP Basic as " (peer.username.as_deref().unwrap_or("")) },
                        "bearer" => "bearer token",
                        _ => "none",
                    } }
                    dt { "Last sync" } dd #peer-last-sync { (peer.last_sync_at.as_deref().map(short).unwrap_or_else(|| "never".into())) }
                    dt { "Last error" } dd #peer-last-error { @match &peer.last_error { Some(e) => span.error-detail { (e) }, None => "none" } }
                    dt { "Pulled / pushed" } dd { (peer.pulled) " objects pulled, " (peer.pushed) " pushed" }
                    dt { "Pull cursor" } dd { (peer.pull_cursor.as_deref().unwrap_or("(from the start)")) }
                    dt { "Push cursor" } dd { @if peer.push_cursor > 0 { (timestamp_us(peer.push_cursor)) } @else { "(from the start)" } }
                }
                @if manage {
                    @if v.pause.is_some() {
                        form.inline method="post" action=(format!("{base}/resume")) {
                            input type="hidden" name="csrf" value=(p.csrf());
                            button type="submit" id="peer-resume" { "Resume syncing" }
                        }
                    } @else {
                        form.inline method="post" action=(format!("{base}/pause")) {
                            input type="hidden" name="csrf" value=(p.csrf());
                            button type="submit" id="peer-pause" { "Pause syncing" }
                        }
                    }
                }
                p { a #preview-link href=(format!("{base}/preview")) { "Preview what " (peer.name) " would receive" } }
                h2 { "Policy" }
                @if !v.has_policy { p.note { "No policy of its own: the default applies." } }
                table #peer-policy { thead { tr { th { "Highest TLP" } th { "Constituent" } th { "Redactions" } th { "Types" } } }
                    tbody { tr { (policy_cells(&v.policy)) } } }
                @if manage {
                    details.card #edit-policy open[refused.policy.is_some()] {
                        summary { "Change the policy" }
                        (policy_form(p, &pol_f, true, pol_e))
                    }
                    details.card #edit-peer open[refused.peer.is_some()] {
                        summary { "Change the peer" }
                        (peer_form(p, &peer_f, &v.collections, false, peer_e))
                    }
                }
            },
        )
    });
    answer(p, r, status)
}

async fn peer_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<Saved>,
) -> Response {
    peer_detail(
        &state,
        &p,
        name,
        q.saved.as_deref(),
        PeerRefused::default(),
        StatusCode::OK,
    )
    .await
}

async fn edit_peer(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Form(mut f): Form<PeerForm>,
) -> Response {
    // The name is the page's: a peer is renamed by adding another.
    f.name = name.clone();
    let (st, actor, form, n) = (state.clone(), p.actor(), f.clone(), name.clone());
    let r = blocking(move || {
        let old = st
            .store
            .peer(&n)?
            .ok_or_else(|| ApiError::not_found(&format!("peer named {n:?}")))?;
        let draft = form.draft(Some(&old))?;
        Ok(manage::save_peer(st.store.as_ref(), &actor, &draft)?.0)
    })
    .await;
    match r {
        Ok(peer) => Redirect::to(&format!("/sharing/peers/{}?saved=updated", enc(&peer.name)))
            .into_response(),
        Err(ApiError(status, message)) if status == StatusCode::UNPROCESSABLE_ENTITY => {
            let refused = PeerRefused {
                peer: Some((f, message)),
                ..PeerRefused::default()
            };
            peer_detail(&state, &p, name, None, refused, status).await
        }
        Err(e) => problem(&p, e),
    }
}

async fn set_paused(state: &AppState, p: &Principal, name: String, paused: bool) -> Response {
    let (st, actor, n) = (state.clone(), p.actor(), name.clone());
    let r = blocking(move || Ok(manage::set_paused(st.store.as_ref(), &actor, &n, paused)?)).await;
    match r {
        Ok(changed) => {
            let saved = match (changed, paused) {
                (false, _) => "unchanged",
                (true, true) => "paused",
                (true, false) => "resumed",
            };
            Redirect::to(&format!("/sharing/peers/{}?saved={saved}", enc(&name))).into_response()
        }
        Err(e) => problem(p, e),
    }
}

async fn pause(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    set_paused(&state, &p, name, true).await
}

async fn resume(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    set_paused(&state, &p, name, false).await
}

async fn set_policy(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(f): Form<PolicyForm>,
) -> Response {
    let (st, actor, form) = (state.clone(), p.actor(), f.clone());
    let r = blocking(move || {
        let policy = form.policy()?;
        manage::save_policy(st.store.as_ref(), &actor, &form.principal, &policy)?;
        Ok(st.store.peer(form.principal.trim())?.is_some())
    })
    .await;
    let principal = f.principal.trim().to_string();
    match r {
        Ok(true) => Redirect::to(&format!("/sharing/peers/{}?saved=policy", enc(&principal)))
            .into_response(),
        Ok(false) => Redirect::to("/sharing?saved=policy").into_response(),
        Err(ApiError(status, message)) if status == StatusCode::UNPROCESSABLE_ENTITY => {
            let is_peer = {
                let (st, n) = (state.clone(), principal.clone());
                blocking(move || Ok(st.store.peer(&n)?.is_some()))
                    .await
                    .unwrap_or(false)
            };
            if is_peer {
                let refused = PeerRefused {
                    policy: Some((f, message)),
                    ..PeerRefused::default()
                };
                peer_detail(&state, &p, principal, None, refused, status).await
            } else {
                let refused = Refused {
                    policy: Some((f, message)),
                    ..Refused::default()
                };
                overview_page(&state, &p, None, refused, status).await
            }
        }
        Err(e) => problem(&p, e),
    }
}

fn counts(id: &str, title: &str, rows: &std::collections::BTreeMap<String, u64>) -> Markup {
    html! {
        section.card {
            h2 { (title) }
            @if rows.is_empty() { p { "None." } } @else {
                table id=(id) { tbody { @for (k, n) in rows { tr { td { (k) } td.num { (n) } } } } }
            }
        }
    }
}

/// A line about an object: its name, else its pattern, else its value.
fn gist(o: &Value) -> String {
    ["name", "pattern", "value", "relationship_type"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str))
        .map(|s| s.chars().take(120).collect())
        .unwrap_or_default()
}

async fn preview(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let st = state.clone();
    let r = blocking(move || {
        let peer = st
            .store
            .peer(&name)?
            .ok_or_else(|| ApiError::not_found(&format!("peer named {name:?}")))?;
        let preview =
            focal_sharing::client::preview(st.store.as_ref(), &st.settings, &peer, PREVIEW_FIRST, PREVIEW_SCAN)?;
        Ok((peer, preview))
    })
    .await
    .map(|(peer, v): (Peer, Preview)| {
        layout(
            &format!("What {} would receive", peer.name),
            Some(&p),
            html! {
                p { a href=(format!("/sharing/peers/{}", enc(&peer.name))) { "Back to " (peer.name) } }
                p.note {
                    "Everything a push to " (peer.name) " would send from the start of its local collection, under its present policy, "
                    "counted by the same code a sync runs (nothing is sent and no cursor moves). "
                    @if !peer.push { "This peer is not pushed to: this is what it would receive if it were. " }
                    "Objects that came from " (peer.name) " are never sent back to it."
                }
                dl.facts #preview-summary {
                    dt { "Policy applied" } dd { "up to TLP:" (v.policy.max_tlp.as_str())
                        @if let Some(c) = &v.policy.constituent { ", constituent " (c) }
                        @if !v.policy.redact.is_empty() { ", " (v.policy.redact.len()) " redacted fields" }
                        @if let Some(t) = &v.policy.types { ", only " (t.iter().cloned().collect::<Vec<_>>().join(", ")) } }
                    dt { "Would receive" } dd #preview-released { (v.released) } 
                    dt { "Withheld" } dd #preview-withheld { (v.withheld.values().sum::<u64>()) }
                    dt { "Stored versions read" } dd { (v.scanned)
                        @if !v.complete { " " span.error-detail { "(the preview stopped here: the counts are of these only)" } } }
                }
                div.grid {
                    (counts("by-type", "By type", &v.by_type))
                    (counts("by-tlp", "By TLP", &v.by_tlp))
                    (counts("withheld", "Withheld, by reason", &v.withheld))
                }
                h2 { "The first " (v.first.len()) " objects, as they would be sent" }
                table #preview-first { thead { tr { th { "Type" } th { "Id" } th { "TLP" } th { "Name, pattern or value" } } }
                    tbody { @for o in &v.first { tr {
                        td { (o["type"].as_str().unwrap_or("")) }
                        td { code { (o["id"].as_str().unwrap_or("")) } }
                        td { (focal_sharing::stix::object_tlp(o).map(|t| t.as_str()).unwrap_or("")) }
                        td { code { (gist(o)) } }
                    } } } }
            },
        )
    });
    answer(&p, r, StatusCode::OK)
}

#[derive(serde::Deserialize, Default)]
struct ReceivedQuery {
    collection: Option<String>,
    before: Option<i64>,
}

/// A marking reference as a person reads it: a TLP marking by its label, anything else by id.
fn marking_label(id: &str) -> String {
    match focal_sharing::stix::tlp_of_marking(id) {
        Some(t) => format!("TLP:{}", t.as_str()),
        None => id.to_string(),
    }
}

async fn received(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ReceivedQuery>,
) -> Response {
    let st = state.clone();
    let asked = q.collection.clone();
    let before = q.before;
    let r = blocking(move || {
        let store = st.store.as_ref();
        let collections = store.collections()?;
        let id = asked.unwrap_or_else(|| focal_sharing::import::DEFAULT_COLLECTION.to_string());
        let coll = store
            .collection(&id)?
            .ok_or_else(|| ApiError::not_found(&format!("collection {id:?}")))?;
        let rows = store.received_objects(&coll.id, before, PAGE)?;
        let mut out: Vec<(StoredObject, Vec<String>)> = Vec::new();
        for o in rows {
            let from = store.provenance(&o.id, o.version_us)?;
            out.push((o, from));
        }
        Ok((collections, coll, out))
    })
    .await
    .map(|(collections, coll, rows)| {
        let next = (rows.len() == PAGE).then(|| rows.last().map(|r| r.0.date_added)).flatten();
        layout(
            "Received objects",
            Some(&p),
            html! {
                p { a href="/sharing" { "Peers and policies" } }
                form.filters method="get" action="/sharing/received" {
                    label { "Collection" select name="collection" id="received-collection" {
                        @for c in &collections { option value=(c.id) selected[c.id == coll.id] { (c.title) } }
                    } }
                    button type="submit" id="received-show" { "Show" }
                }
                p.note { "STIX object versions this node did not make: pulled from a peer, pushed to it over TAXII, or imported with a peer named. "
                    "The markings are those the object arrived with (kept and relayed unchanged); the TLP is what this node reads from them "
                    "for sharing, and a marking it cannot interpret makes the object TLP:RED (kept, never relayed)." }
                @if rows.is_empty() { p #no-received { "Nothing received in this collection." } } @else {
                    table #received { thead { tr { th { "Added" } th { "From" } th { "Type" } th { "Id" } th { "Markings as received" } th { "TLP here" } th { "Name, pattern or value" } } }
                        tbody { @for (o, from) in &rows {
                            @let body: Value = serde_json::from_str(&o.body).unwrap_or(Value::Null);
                            @let marks = focal_sharing::stix::marking_refs(&body);
                            @let unread: Vec<String> = serde_json::from_str::<Value>(&o.meta).ok()
                                .and_then(|m| m.get("uninterpreted_markings").and_then(Value::as_array).cloned())
                                .unwrap_or_default().iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
                            tr {
                                td.nowrap { (short(&timestamp_us(o.date_added))) }
                                td.nowrap { (o.origin.as_deref().unwrap_or(""))
                                    @let others: Vec<&String> = from.iter().filter(|f| Some(f.as_str()) != o.origin.as_deref()).collect();
                                    @if !others.is_empty() { br; span.note { "also from " (others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")) } } }
                                td { (o.type_) }
                                td { code { (o.id) } }
                                td { @if marks.is_empty() { span.note { "none (taken as TLP:AMBER)" } }
                                    @for (i, m) in marks.iter().enumerate() { @if i > 0 { br; } (marking_label(m))
                                        @if unread.iter().any(|u| u == m) { " " span.error-detail { "(not understood)" } } } }
                                td.nowrap { "TLP:" (o.tlp) }
                                td { code { (gist(&body)) } }
                            }
                        } } }
                }
                @if let Some(n) = next { nav.pager { a rel="next" href=(format!("/sharing/received?collection={}&before={n}", enc(&coll.id))) { "Older" } } }
            },
        )
    });
    answer(&p, r, StatusCode::OK)
}

fn peer_out(store: &dyn SharingStore, peer: Peer) -> Result<SharingPeerOut, ApiError> {
    let pause = manage::pause_of(store, &peer.name)?;
    let own = store.policy(&peer.name)?.is_some();
    let policy = focal_sharing::settings::policy_for(store, &peer.name).map_err(|e| {
        tracing::error!(error = %e, "reading a policy");
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the policy of {} cannot be read", peer.name),
        )
    })?;
    Ok(SharingPeerOut {
        paused: pause.is_some(),
        paused_at: pause.as_ref().map(|x| x.at.clone()),
        paused_by: pause.map(|x| x.by),
        policy: SharingPolicyOut::new(&policy, own),
        name: peer.name,
        api_root: peer.api_root,
        collection: peer.collection,
        local_collection: peer.local_collection,
        auth: peer.auth,
        username: peer.username,
        pull: peer.pull,
        push: peer.push,
        last_sync_at: peer.last_sync_at,
        last_error: peer.last_error,
        pulled: peer.pulled,
        pushed: peer.pushed,
        pull_cursor: peer.pull_cursor,
        push_cursor: peer.push_cursor,
    })
}

/// The peers with their sync state and policies (what `/sharing` shows).
#[utoipa::path(get, path = "/api/v1/sharing/peers", tag = "sharing",
    responses((status = 200, description = "every peer, its sync state, whether it is paused, its last error and its policy", body = SharingPeerList)))]
pub(crate) async fn api_peers(
    State(state): State<AppState>,
) -> Result<axum::Json<SharingPeerList>, ApiError> {
    let st = state.clone();
    blocking(move || {
        let store = st.store.as_ref();
        let peers = store
            .peers()?
            .into_iter()
            .map(|p| peer_out(store, p))
            .collect::<Result<_, _>>()?;
        Ok(axum::Json(SharingPeerList { peers }))
    })
    .await
}

/// What a peer would receive (what `/sharing/peers/{name}/preview` shows).
#[utoipa::path(get, path = "/api/v1/sharing/peers/{name}/preview", tag = "sharing",
    params(("name" = String, Path, description = "peer name")),
    responses((status = 200, description = "counts by type and TLP, what is withheld by reason, and the first objects, of what a push to the peer would send from the start", body = SharingPreviewOut),
    (status = 404, description = "no such peer", body = crate::schema::ErrorBody)))]
pub(crate) async fn api_preview(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<axum::Json<SharingPreviewOut>, ApiError> {
    let st = state.clone();
    blocking(move || {
        let store = st.store.as_ref();
        let peer = store
            .peer(&name)?
            .ok_or_else(|| ApiError::not_found(&format!("peer named {name:?}")))?;
        let own = store.policy(&name)?.is_some();
        let v = focal_sharing::client::preview(
            store,
            &st.settings,
            &peer,
            PREVIEW_FIRST,
            PREVIEW_SCAN,
        )?;
        Ok(axum::Json(SharingPreviewOut {
            peer: v.peer,
            policy: SharingPolicyOut::new(&v.policy, own),
            released: v.released,
            withheld: v.withheld,
            by_type: v.by_type,
            by_tlp: v.by_tlp,
            first: v.first,
            scanned: v.scanned,
            complete: v.complete,
        }))
    })
    .await
}
