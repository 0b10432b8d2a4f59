//! Awareness for signed-in people (issue 17): advisories and the policy library, as REST API
//! routes under `/api/v1` and as web pages (`/advisories`, `/library`).
//!
//! Nothing here decides a rule. Advisory changes go through
//! `focal_awareness::advisory::workflow` (the same checks, four-eyes publish and audit entries
//! as `focal advisories`); CSAF is `advisory::csaf::to_csaf`; the library is the store's
//! `LibraryStore` (the search `focal library search` runs). Who may call what is
//! `access::route`: staff read every advisory, admins and analysts write, submit, reject and
//! publish (`Need::Manage`); a constituent reads only published advisories its clearance
//! allows (`Advisory::readable_at` with its sharing policy's highest TLP); the library is
//! readable by every signed-in person (`Need::Read`).

use crate::AppState;
use crate::access::{Need, Principal};
use crate::api::{ApiError, blocking};
use crate::extract::{Json, Path, Query};
use crate::schema::ErrorBody;
use crate::ui::{enc, layout};
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_awareness::advisory::csaf::{self, Edition};
use focal_awareness::advisory::workflow::{self, Step, WorkflowError};
use focal_awareness::advisory::{
    Advisory, AdvisoryContent, AdvisoryError, AdvisoryState, Product, Reference, Revision,
    cvss_score, readable,
};
use focal_awareness::library::{self, Entity, ItemType, SearchRequest, SearchResults};
use focal_awareness::store::{AdvisoryFilter, StorageError};
use focal_model::Tlp;
use focal_store::Store;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Advisories listed at once.
const LIST_LIMIT: usize = 200;
/// Library hits per page.
const HITS: usize = 25;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/advisories",
            routing::get(api_list).post(api_create),
        )
        .route(
            "/api/v1/advisories/{id}",
            routing::get(api_show).put(api_edit),
        )
        .route("/api/v1/advisories/{id}/submit", routing::post(api_submit))
        .route("/api/v1/advisories/{id}/reject", routing::post(api_reject))
        .route(
            "/api/v1/advisories/{id}/publish",
            routing::post(api_publish),
        )
        .route("/api/v1/advisories/{id}/csaf", routing::get(api_csaf))
        .route("/api/v1/library/search", routing::get(api_search))
        .route("/api/v1/library/entities", routing::get(api_entities))
        .route("/api/v1/library/entities/{id}", routing::get(api_entity))
        .route(
            "/api/v1/library/entities/{id}/items/{item}",
            routing::get(api_item),
        )
        .route("/advisories", routing::get(list_page).post(create_form))
        .route("/advisories/{id}", routing::get(advisory_page))
        .route("/advisories/{id}/edit", routing::post(edit_form))
        .route("/advisories/{id}/submit", routing::post(submit_form))
        .route("/advisories/{id}/reject", routing::post(reject_form))
        .route("/advisories/{id}/publish", routing::post(publish_form))
        .route("/library", routing::get(library_page))
        .route("/library/{entity}", routing::get(entity_page))
        .route("/library/{entity}/{item}", routing::get(item_page))
}

fn storage(e: StorageError) -> ApiError {
    match e {
        StorageError::NotFound(what) => {
            ApiError(StatusCode::NOT_FOUND, format!("{what} was not found"))
        }
        StorageError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
        StorageError::Invalid(m) => ApiError::bad(m),
        StorageError::Backend(e) => {
            tracing::error!(error = %e, "awareness store error");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
    }
}

fn refused(e: WorkflowError) -> ApiError {
    match e {
        WorkflowError::Storage(s) => storage(s),
        WorkflowError::Refused(r @ AdvisoryError::Invalid(_)) => {
            ApiError(StatusCode::UNPROCESSABLE_ENTITY, r.to_string())
        }
        WorkflowError::Refused(r @ AdvisoryError::FourEyes { .. }) => {
            ApiError(StatusCode::FORBIDDEN, r.to_string())
        }
        WorkflowError::Refused(r) => ApiError(StatusCode::CONFLICT, r.to_string()),
    }
}

/// Whose clearance limits what this person reads: `None` for staff (every advisory, drafts
/// included), the highest TLP of a constituent's sharing policy otherwise.
fn clearance(st: &AppState, p: &Principal) -> Result<Option<Tlp>, ApiError> {
    if p.is_staff() {
        return Ok(None);
    }
    let policy =
        focal_sharing::settings::policy_for(st.store.as_ref(), &p.user.name).map_err(|e| {
            tracing::error!(error = %e, "reading a sharing policy");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        })?;
    Ok(Some(policy.max_tlp))
}

/// An advisory as this person may see it; a constituent's unreadable one is not found (the
/// same answer as an unknown id, so ids are not revealed).
struct Seen {
    advisory: Advisory,
    /// Staff: everything. A constituent: the published revisions only, up to the latest one
    /// its clearance allows.
    staff: bool,
    /// A constituent's clearance: earlier revisions above it are left out of the history.
    clearance: Tlp,
}

fn read_advisory(st: &AppState, p: &Principal, id: &str) -> Result<Seen, ApiError> {
    let not_found = || ApiError::not_found(&format!("advisory {id:?} you may read"));
    if id.len() > 64 {
        return Err(not_found());
    }
    let clearance = clearance(st, p)?;
    let a = match st.store.awareness().advisory(id) {
        Ok(a) => a,
        Err(StorageError::NotFound(_)) => return Err(not_found()),
        Err(e) => return Err(storage(e)),
    };
    match clearance {
        None => Ok(Seen {
            advisory: a,
            staff: true,
            clearance: Tlp::Red,
        }),
        Some(c) if a.readable_at(c).is_some() => Ok(Seen {
            advisory: a,
            staff: false,
            clearance: c,
        }),
        Some(_) => Err(not_found()),
    }
}

impl Seen {
    /// The revisions this person may read, oldest first.
    fn revisions(&self) -> Vec<&Revision> {
        self.advisory
            .revisions
            .iter()
            // An earlier revision published under a higher TLP stays out of a constituent's
            // history.
            .filter(|r| self.staff || readable(r.content.tlp, self.clearance))
            .collect()
    }

    /// What the advisory says for this person: the working copy for staff, the latest
    /// published revision for a constituent.
    fn content(&self) -> &AdvisoryContent {
        match (self.staff, self.advisory.published()) {
            (false, Some(r)) => &r.content,
            _ => &self.advisory.draft,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The REST API

/// One advisory in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdvisoryItemOut {
    pub id: String,
    /// draft, in_review or published (a constituent sees published ones only).
    pub state: String,
    pub title: String,
    /// The TLP 2.0 label, e.g. `TLP:CLEAR`.
    pub tlp: String,
    /// How many revisions are published.
    pub revision: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<jiff::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdvisoryListOut {
    pub advisories: Vec<AdvisoryItemOut>,
}

/// One advisory: staff get the working copy and workflow state, every reader the published
/// revisions they may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdvisoryOut {
    pub id: String,
    pub state: String,
    pub title: String,
    pub tlp: String,
    /// The row version to send back with an edit (compare-and-set); staff only.
    pub row_version: Option<u64>,
    /// The working copy (title, summary, products, cves, cvss, remediation, tlp,
    /// references); staff only.
    #[schema(value_type = Option<Object>)]
    pub working_copy: Option<AdvisoryContent>,
    /// The summary of what the next revision changes; staff only.
    pub change_summary: Option<String>,
    pub submitted_by: Option<String>,
    pub updated_by: Option<String>,
    /// Published revisions, oldest first: number, date, summary, published_by, content.
    #[schema(value_type = Vec<Object>)]
    pub revisions: Vec<Revision>,
}

impl AdvisoryOut {
    fn of(seen: &Seen) -> AdvisoryOut {
        let a = &seen.advisory;
        let c = seen.content();
        let staff = seen.staff;
        AdvisoryOut {
            id: a.id.clone(),
            state: a.state.as_str().into(),
            title: c.title.clone(),
            tlp: c.tlp.label().into(),
            row_version: staff.then_some(a.row_version),
            working_copy: staff.then(|| a.draft.clone()),
            change_summary: a.change_summary.clone().filter(|_| staff),
            submitted_by: a.submitted_by.clone().filter(|_| staff),
            updated_by: staff.then(|| a.updated_by.clone()),
            revisions: seen.revisions().into_iter().cloned().collect(),
        }
    }
}

/// A new advisory: the content, and optionally its tracking id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryCreate {
    /// The tracking id; by default the next `<id_prefix>-<year>-NNNN`.
    pub id: Option<String>,
    /// title, summary, products (vendor, name, version, cpe, purl), cves, cvss, remediation,
    /// tlp (CLEAR, GREEN, AMBER, AMBER+STRICT, RED), references (url, summary); see
    /// docs/AWARENESS.md.
    #[schema(value_type = Object)]
    pub content: AdvisoryContent,
}

/// A change to the working copy; on a published advisory it starts the next revision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryEdit {
    #[schema(value_type = Object)]
    pub content: AdvisoryContent,
    /// What changed (the revision history entry); required for a published advisory.
    pub change_summary: Option<String>,
    /// The `row_version` the edit started from: refused with 409 if it changed since.
    pub row_version: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryReject {
    /// Why, for the author and the audit log.
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdvisoryListQuery {
    /// Only this state: draft, in_review, published.
    pub state: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsafQuery {
    /// The working copy, marked draft (staff only), instead of the published revision.
    pub draft: Option<bool>,
}

fn list_for(
    st: &AppState,
    p: &Principal,
    state: Option<&str>,
) -> Result<Vec<AdvisoryItemOut>, ApiError> {
    let state = state
        .filter(|s| !s.is_empty())
        .map(AdvisoryState::parse)
        .transpose()
        .map_err(|e| ApiError::bad(format!("state: {e}")))?;
    let store = st.store.awareness();
    match clearance(st, p)? {
        None => Ok(store
            .advisory_list(&AdvisoryFilter {
                state,
                limit: Some(LIST_LIMIT),
            })
            .map_err(storage)?
            .into_iter()
            .map(|a| AdvisoryItemOut {
                id: a.id,
                state: a.state.as_str().into(),
                title: a.title,
                tlp: a.tlp.label().into(),
                revision: a.revision,
                published_at: a.published_at,
                updated_at: a.updated_at,
            })
            .collect()),
        Some(c) => {
            if state.is_some_and(|s| s != AdvisoryState::Published) {
                return Ok(Vec::new());
            }
            // What a constituent reads is the published revision, never the working copy.
            Ok(store
                .published_advisories(LIST_LIMIT)
                .map_err(storage)?
                .iter()
                .filter_map(|a| {
                    let r = a.readable_at(c)?;
                    Some(AdvisoryItemOut {
                        id: a.id.clone(),
                        state: AdvisoryState::Published.as_str().into(),
                        title: r.content.title.clone(),
                        tlp: r.content.tlp.label().into(),
                        revision: r.number,
                        published_at: Some(r.date),
                        updated_at: r.date,
                    })
                })
                .collect())
        }
    }
}

/// Advisories, newest change first: staff see every one, a constituent the published ones its
/// clearance allows.
#[utoipa::path(get, path = "/api/v1/advisories", tag = "awareness", params(AdvisoryListQuery),
    responses((status = 200, description = "advisories this person may read", body = AdvisoryListOut),
    (status = 400, description = "an unknown state", body = ErrorBody)))]
pub(crate) async fn api_list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AdvisoryListQuery>,
) -> Result<Json<AdvisoryListOut>, ApiError> {
    let st = state.clone();
    blocking(move || {
        Ok(Json(AdvisoryListOut {
            advisories: list_for(&st, &p, q.state.as_deref())?,
        }))
    })
    .await
}

/// One advisory with its revision history.
#[utoipa::path(get, path = "/api/v1/advisories/{id}", tag = "awareness",
    params(("id" = String, Path, description = "tracking id")),
    responses((status = 200, description = "the advisory as this person may see it", body = AdvisoryOut),
    (status = 404, description = "no advisory with this id that this person may read", body = ErrorBody)))]
pub(crate) async fn api_show(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AdvisoryOut>, ApiError> {
    let st = state.clone();
    blocking(move || Ok(Json(AdvisoryOut::of(&read_advisory(&st, &p, &id)?)))).await
}

fn staff_view(a: Advisory) -> AdvisoryOut {
    AdvisoryOut::of(&Seen {
        advisory: a,
        staff: true,
        clearance: Tlp::Red,
    })
}

/// Writes a new draft (admins and analysts), audited as `advisory.create`.
#[utoipa::path(post, path = "/api/v1/advisories", tag = "awareness", request_body = AdvisoryCreate,
    responses((status = 201, description = "the draft as stored", body = AdvisoryOut),
    (status = 400, description = "the body is not an advisory", body = ErrorBody),
    (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
    (status = 409, description = "an advisory with this id exists", body = ErrorBody),
    (status = 422, description = "the content has problems, each named by its field", body = ErrorBody)))]
pub(crate) async fn api_create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Json(body): Json<AdvisoryCreate>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let a = blocking(move || {
        workflow::create(
            st.store.awareness(),
            &st.awareness,
            body.id,
            body.content,
            &p.actor(),
            jiff::Timestamp::now(),
        )
        .map_err(refused)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(staff_view(a))).into_response())
}

async fn api_step(
    state: &AppState,
    p: Principal,
    id: String,
    expected: Option<u64>,
    step: Step,
) -> Result<Json<AdvisoryOut>, ApiError> {
    let st = state.clone();
    blocking(move || {
        let a = workflow::apply(
            st.store.awareness(),
            &id,
            expected,
            step,
            &p.actor(),
            jiff::Timestamp::now(),
        )
        .map_err(refused)?;
        Ok(Json(staff_view(a)))
    })
    .await
}

/// Changes the working copy; on a published advisory this starts its next revision (needs
/// `change_summary`). Audited as `advisory.edit`.
#[utoipa::path(put, path = "/api/v1/advisories/{id}", tag = "awareness", request_body = AdvisoryEdit,
    params(("id" = String, Path, description = "tracking id")),
    responses((status = 200, description = "the advisory as stored", body = AdvisoryOut),
    (status = 400, description = "the body is not an edit", body = ErrorBody),
    (status = 404, description = "no such advisory", body = ErrorBody),
    (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
    (status = 409, description = "in review, or changed since row_version", body = ErrorBody),
    (status = 422, description = "the content has problems, each named by its field", body = ErrorBody)))]
pub(crate) async fn api_edit(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Json(body): Json<AdvisoryEdit>,
) -> Result<Json<AdvisoryOut>, ApiError> {
    let step = Step::Edit {
        content: body.content,
        change_summary: body.change_summary,
    };
    api_step(&state, p, id, body.row_version, step).await
}

/// Sends a draft for review (`advisory.submit`).
#[utoipa::path(post, path = "/api/v1/advisories/{id}/submit", tag = "awareness",
    params(("id" = String, Path, description = "tracking id")),
    responses((status = 200, description = "the advisory, in review", body = AdvisoryOut),
    (status = 404, description = "no such advisory", body = ErrorBody),
    (status = 409, description = "not a draft, or nothing changed since the published revision", body = ErrorBody),
    (status = 422, description = "the content has problems", body = ErrorBody)))]
pub(crate) async fn api_submit(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AdvisoryOut>, ApiError> {
    api_step(&state, p, id, None, Step::Submit).await
}

/// Sends an advisory in review back to draft (`advisory.reject`, with the reason).
#[utoipa::path(post, path = "/api/v1/advisories/{id}/reject", tag = "awareness", request_body = AdvisoryReject,
    params(("id" = String, Path, description = "tracking id")),
    responses((status = 200, description = "the advisory, a draft again", body = AdvisoryOut),
    (status = 400, description = "the body is not a rejection", body = ErrorBody),
    (status = 404, description = "no such advisory", body = ErrorBody),
    (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
    (status = 409, description = "not in review", body = ErrorBody)))]
pub(crate) async fn api_reject(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Json(body): Json<AdvisoryReject>,
) -> Result<Json<AdvisoryOut>, ApiError> {
    api_step(
        &state,
        p,
        id,
        None,
        Step::Reject {
            reason: body.reason,
        },
    )
    .await
}

/// Publishes an advisory in review as its next revision (`advisory.publish`); refused to the
/// one who submitted it or last edited it (four eyes).
#[utoipa::path(post, path = "/api/v1/advisories/{id}/publish", tag = "awareness",
    params(("id" = String, Path, description = "tracking id")),
    responses((status = 200, description = "the advisory with its new revision", body = AdvisoryOut),
    (status = 403, description = "the publisher is its author (four eyes)", body = ErrorBody),
    (status = 404, description = "no such advisory", body = ErrorBody),
    (status = 409, description = "not in review", body = ErrorBody),
    (status = 422, description = "the content has problems", body = ErrorBody)))]
pub(crate) async fn api_publish(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AdvisoryOut>, ApiError> {
    api_step(&state, p, id, None, Step::Publish).await
}

/// The advisory as a CSAF 2.0 document: the latest published revision, or (staff, `draft=true`)
/// the working copy marked draft.
#[utoipa::path(get, path = "/api/v1/advisories/{id}/csaf", tag = "awareness", params(("id" = String, Path, description = "tracking id"), CsafQuery),
    responses((status = 200, description = "a CSAF 2.0 JSON document", body = Object, content_type = "application/json"),
    (status = 400, description = "a bad query parameter", body = ErrorBody),
    (status = 404, description = "no such advisory this person may read, or nothing published yet", body = ErrorBody)))]
pub(crate) async fn api_csaf(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<CsafQuery>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let (name, doc) = blocking(move || {
        let seen = read_advisory(&st, &p, &id)?;
        let edition = if q.draft == Some(true) && seen.staff {
            Edition::WorkingCopy
        } else {
            Edition::Published
        };
        let doc = csaf::to_csaf(
            &seen.advisory,
            edition,
            &st.awareness,
            jiff::Timestamp::now(),
        )
        .ok_or_else(|| {
            ApiError::not_found(&format!(
                "published revision of advisory {id} yet (draft=true gives the working copy)"
            ))
        })?;
        Ok((csaf::file_name(&seen.advisory.id), doc))
    })
    .await?;
    let mut resp = Json(doc).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LibraryQuery {
    /// Words (all required), "quoted phrases", symbols like 57/239.
    pub q: Option<String>,
    /// Item type: strategy, law, resolution, report, standard, guideline, meeting, programme, body.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub item_type: Option<String>,
    /// Issuing or organising body, exactly as stored.
    pub body: Option<String>,
    /// Country code of the entity.
    pub country: Option<String>,
    /// Only this entity.
    pub entity: Option<String>,
    /// Only this year.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub year: Option<i32>,
    #[serde(default, deserialize_with = "empty_is_none")]
    pub from_year: Option<i32>,
    #[serde(default, deserialize_with = "empty_is_none")]
    pub to_year: Option<i32>,
    /// Hits per page (1 to 200; default 25).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

/// A number that an empty form field leaves out: the search form sends `year=` when no year
/// is chosen.
fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a year"))),
    }
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl LibraryQuery {
    fn request(&self) -> Result<SearchRequest, ApiError> {
        let types = some(&self.item_type)
            .map(|t| ItemType::parse(&t))
            .transpose()
            .map_err(|e| ApiError::bad(format!("type: {e}")))?;
        let (from, to) = match self.year {
            Some(y) => (Some(y), Some(y)),
            None => (self.from_year, self.to_year),
        };
        Ok(SearchRequest {
            query: self.q.clone().unwrap_or_default(),
            types: types.into_iter().collect(),
            bodies: some(&self.body).into_iter().collect(),
            countries: some(&self.country).into_iter().collect(),
            entity: some(&self.entity),
            year_from: from,
            year_to: to,
            limit: self.limit.unwrap_or(HITS),
            offset: self.offset.unwrap_or(0),
        })
    }
}

fn search(st: &AppState, q: &LibraryQuery) -> Result<SearchResults, ApiError> {
    st.store
        .awareness()
        .search_library(&q.request()?)
        .map_err(storage)
}

/// The answer of a library search.
#[derive(Debug, Serialize, ToSchema)]
pub struct LibrarySearchOut {
    /// Matches in all (the hits are one page of them).
    pub total: u64,
    /// entity, item, place, type, title, symbol, bodies, country, year, date, symbol_match, score.
    #[schema(value_type = Vec<Object>)]
    pub hits: Vec<library::Hit>,
    /// Counts over every match: type, body, country, year (each a list of value and count).
    #[schema(value_type = Object)]
    pub facets: library::search::Facets,
}

/// Full-text search of the policy library, with filters and facet counts (as
/// `focal library search`).
#[utoipa::path(get, path = "/api/v1/library/search", tag = "awareness", params(LibraryQuery),
    responses((status = 200, description = "ranked hits and facets", body = LibrarySearchOut),
    (status = 400, description = "a bad query or filter", body = ErrorBody)))]
pub(crate) async fn api_search(
    State(state): State<AppState>,
    Query(q): Query<LibraryQuery>,
) -> Result<Json<LibrarySearchOut>, ApiError> {
    let st = state.clone();
    blocking(move || {
        let r = search(&st, &q)?;
        Ok(Json(LibrarySearchOut {
            total: r.total,
            hits: r.hits,
            facets: r.facets,
        }))
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LibraryEntitiesOut {
    /// id, name, kind, country, last_updated, items.
    #[schema(value_type = Vec<Object>)]
    pub entities: Vec<library::EntitySummary>,
}

/// The library's entities (countries and organisations).
#[utoipa::path(get, path = "/api/v1/library/entities", tag = "awareness",
    responses((status = 200, description = "every entity with its item count", body = LibraryEntitiesOut)))]
pub(crate) async fn api_entities(
    State(state): State<AppState>,
) -> Result<Json<LibraryEntitiesOut>, ApiError> {
    let st = state.clone();
    blocking(move || {
        Ok(Json(LibraryEntitiesOut {
            entities: st.store.awareness().library_summaries().map_err(storage)?,
        }))
    })
    .await
}

fn entity(st: &AppState, id: &str) -> Result<Entity, ApiError> {
    st.store
        .awareness()
        .library_entities(&[id.to_string()])
        .map_err(storage)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(&format!("library entity {id:?}")))
}

/// One entity with every item, section by section (the library file's format).
#[utoipa::path(get, path = "/api/v1/library/entities/{id}", tag = "awareness",
    params(("id" = String, Path, description = "entity id, e.g. un")),
    responses((status = 200, description = "the entity", body = Object),
    (status = 404, description = "no such entity", body = ErrorBody)))]
pub(crate) async fn api_entity(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Entity>, ApiError> {
    let st = state.clone();
    blocking(move || Ok(Json(entity(&st, &id)?))).await
}

/// One item (document, body, meeting...) of an entity.
#[utoipa::path(get, path = "/api/v1/library/entities/{id}/items/{item}", tag = "awareness",
    params(("id" = String, Path, description = "entity id"), ("item" = String, Path, description = "item id")),
    responses((status = 200, description = "the item", body = Object),
    (status = 404, description = "no such item", body = ErrorBody)))]
pub(crate) async fn api_item(
    State(state): State<AppState>,
    Path((id, item)): Path<(String, String)>,
) -> Result<Json<library::Item>, ApiError> {
    let st = state.clone();
    blocking(move || {
        Ok(Json(
            st.store
                .awareness()
                .library_item(&id, &item)
                .map_err(storage)?,
        ))
    })
    .await
}

#[derive(OpenApi)]
#[openapi(
    paths(api_list, api_show, api_create, api_edit, api_submit, api_reject, api_publish, api_csaf,
        api_search, api_entities, api_entity, api_item),
    components(schemas(AdvisoryItemOut, AdvisoryListOut, AdvisoryOut, AdvisoryCreate, AdvisoryEdit,
        AdvisoryReject, LibrarySearchOut, LibraryEntitiesOut)),
    tags((name = "awareness", description = "Advisories and the policy library (docs/AWARENESS.md)")),
)]
pub struct AwarenessDoc;

// ---------------------------------------------------------------------------------------------
// The web pages

fn problem(p: &Principal, e: ApiError) -> Response {
    (e.0, layout("Problem", Some(p), html! { p.error { (e.1) } })).into_response()
}

fn answer(p: &Principal, r: Result<Html<String>, ApiError>, status: StatusCode) -> Response {
    match r {
        Ok(h) => (status, h).into_response(),
        Err(e) => problem(p, e),
    }
}

fn notice(saved: Option<&str>) -> Option<&'static str> {
    Some(match saved? {
        "created" => "Draft saved. Submit it for review when it is ready.",
        "edited" => "Working copy saved.",
        "submitted" => "Submitted for review: someone else may now publish it.",
        "rejected" => "Sent back to draft.",
        "published" => "Published.",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
struct PageQuery {
    saved: Option<String>,
    state: Option<String>,
}

/// The advisory form as sent: lists are one entry per line.
#[derive(Deserialize, Default, Clone)]
struct ContentForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    /// vendor/product[/version], one per line.
    #[serde(default)]
    products: String,
    /// CVE ids, separated by spaces, commas or lines.
    #[serde(default)]
    cves: String,
    #[serde(default)]
    cvss: String,
    #[serde(default)]
    remediation: String,
    #[serde(default)]
    tlp: String,
    /// A URL and optionally a space and its summary, one per line.
    #[serde(default)]
    references: String,
    #[serde(default)]
    change_summary: String,
    row_version: Option<u64>,
}

impl ContentForm {
    fn of(c: &AdvisoryContent, row_version: Option<u64>) -> ContentForm {
        ContentForm {
            id: String::new(),
            title: c.title.clone(),
            summary: c.summary.clone(),
            products: c
                .products
                .iter()
                .map(|p| match &p.version {
                    Some(v) => format!("{}/{}/{v}", p.vendor, p.name),
                    None => format!("{}/{}", p.vendor, p.name),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            cves: c.cves.join("\n"),
            cvss: c.cvss.clone().unwrap_or_default(),
            remediation: c.remediation.clone().unwrap_or_default(),
            tlp: c.tlp.label().trim_start_matches("TLP:").to_string(),
            references: c
                .references
                .iter()
                .map(|r| format!("{} {}", r.url, r.summary).trim().to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            change_summary: String::new(),
            row_version,
        }
    }

    /// The content, or what is wrong with the form's fields (the content's own rules are
    /// `AdvisoryContent::check`, applied by the workflow).
    fn content(&self) -> Result<AdvisoryContent, ApiError> {
        let lines = |s: &str| -> Vec<String> {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        let products = lines(&self.products)
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Product::parse(l).map_err(|e| {
                    ApiError(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("products, line {}: {e}", i + 1),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tlp: Tlp = self.tlp.trim().parse().map_err(|_| {
            ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "tlp: {:?} is not CLEAR, GREEN, AMBER, AMBER+STRICT or RED",
                    self.tlp
                ),
            )
        })?;
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(AdvisoryContent {
            title: self.title.trim().to_string(),
            summary: self.summary.trim().to_string(),
            products,
            cves: self
                .cves
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            cvss: opt(&self.cvss),
            remediation: opt(&self.remediation),
            tlp,
            references: lines(&self.references)
                .iter()
                .map(|l| Reference::parse_line(l))
                .collect(),
        })
    }
}

const TLPS: [&str; 5] = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"];

fn tlp_badge(tlp: Tlp) -> Markup {
    let class = match tlp {
        Tlp::Clear => "tlp tlp-clear",
        Tlp::Green => "tlp tlp-green",
        Tlp::Amber | Tlp::AmberStrict => "tlp tlp-amber",
        Tlp::Red => "tlp tlp-red",
    };
    html! { span class=(class) { (tlp.label()) } }
}

fn content_form(
    p: &Principal,
    action: &str,
    f: &ContentForm,
    new: bool,
    error: Option<&str>,
    published: bool,
) -> Markup {
    html! {
        form.card.advisory-form method="post" action=(action) {
            @if let Some(e) = error { p.error #form-error { (e) } }
            input type="hidden" name="csrf" value=(p.csrf());
            @if let Some(v) = f.row_version { input type="hidden" name="row_version" value=(v); }
            @if new {
                label { "Tracking id (empty: the next number)" input type="text" name="id" id="adv-id" value=(f.id); }
            }
            label { "Title" input type="text" name="title" id="adv-title" value=(f.title) required; }
            label { "Summary" textarea name="summary" id="adv-summary" rows="5" required { (f.summary) } }
            label { "TLP"
                select name="tlp" id="adv-tlp" {
                    @for t in TLPS { option value=(t) selected[f.tlp == t] { "TLP:" (t) } }
                }
            }
            label { "Affected products (vendor/product/version, one per line)" textarea name="products" id="adv-products" rows="3" { (f.products) } }
            label { "CVE ids" textarea name="cves" id="adv-cves" rows="2" { (f.cves) } }
            label { "CVSS v3 vector" input type="text" name="cvss" id="adv-cvss" value=(f.cvss); }
            label { "Remediation" textarea name="remediation" id="adv-remediation" rows="3" { (f.remediation) } }
            label { "References (URL, then a space and a summary; one per line)" textarea name="references" id="adv-references" rows="3" { (f.references) } }
            @if published {
                label { "What changed (the revision history entry)" input type="text" name="change_summary" id="adv-change" value=(f.change_summary); }
            }
            button type="submit" id=(if new { "adv-create" } else { "adv-save" }) { (if new { "Save draft" } else { "Save working copy" }) }
        }
    }
}

async fn list_view(
    state: &AppState,
    p: &Principal,
    q: &PageQuery,
    refused: Option<(ContentForm, String)>,
    status: StatusCode,
) -> Response {
    let (st, who, filter) = (state.clone(), p.clone(), q.state.clone());
    let r = blocking(move || list_for(&st, &who, filter.as_deref())).await;
    let manage = p.can(Need::Manage);
    let r = r.map(|list| {
        let (form, error) = match &refused {
            Some((f, e)) => (f.clone(), Some(e.as_str())),
            None => (
                ContentForm {
                    tlp: "AMBER".into(),
                    ..ContentForm::default()
                },
                None,
            ),
        };
        layout(
            "Advisories",
            Some(p),
            html! {
                p.note { "Security advisories: written as drafts, reviewed, and published as numbered revisions by someone other than their author. "
                    "TLP:CLEAR ones are public: " a href="/public/advisories.atom" { "the Atom feed" } "." }
                @if p.is_staff() {
                    form.filters method="get" action="/advisories" {
                        label { "State " select name="state" id="adv-state-filter" {
                            option value="" { "any" }
                            @for s in ["draft", "in_review", "published"] { option value=(s) selected[q.state.as_deref() == Some(s)] { (s) } }
                        } }
                        button type="submit" { "Filter" }
                    }
                }
                @if list.is_empty() { p #no-advisories { "No advisory." } } @else {
                    table #advisories {
                        thead { tr { th { "Id" } th { "Title" } th { "TLP" } th { "State" } th.num { "Revision" } th { "Published" } th { "Changed" } } }
                        tbody { @for a in &list { tr {
                            td.nowrap { a href=(format!("/advisories/{}", enc(&a.id))) { (a.id) } }
                            td { (a.title) }
                            td.nowrap { @match a.tlp.parse::<Tlp>() { Ok(t) => (tlp_badge(t)), Err(_) => (a.tlp) } }
                            td.nowrap { (a.state) }
                            td.num { (a.revision) }
                            td.nowrap { (a.published_at.map(|t| t.strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()) }
                            td.nowrap { (a.updated_at.strftime("%Y-%m-%d %H:%M")) }
                        } } }
                    }
                }
                @if manage {
                    details.card #new-advisory open[refused.is_some()] {
                        summary { "Write an advisory" }
                        (content_form(p, "/advisories", &form, true, error, false))
                    }
                }
            },
        )
    });
    answer(p, r, status)
}

async fn list_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Response {
    list_view(&state, &p, &q, None, StatusCode::OK).await
}

async fn create_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(f): Form<ContentForm>,
) -> Response {
    let (st, actor, form) = (state.clone(), p.actor(), f.clone());
    let r = blocking(move || {
        let id = Some(form.id.trim().to_string()).filter(|i| !i.is_empty());
        workflow::create(
            st.store.awareness(),
            &st.awareness,
            id,
            form.content()?,
            &actor,
            jiff::Timestamp::now(),
        )
        .map_err(refused)
    })
    .await;
    match r {
        Ok(a) => Redirect::to(&format!("/advisories/{}?saved=created", enc(&a.id))).into_response(),
        Err(ApiError(status, message)) if status.is_client_error() => {
            list_view(
                &state,
                &p,
                &PageQuery::default(),
                Some((f, message)),
                status,
            )
            .await
        }
        Err(e) => problem(&p, e),
    }
}

fn content_view(c: &AdvisoryContent) -> Markup {
    html! {
        p.summary { (c.summary) }
        @if !c.products.is_empty() {
            h3 { "Affected products" }
            ul { @for p in &c.products { li { (p.full_name()) } } }
        }
        @if !c.cves.is_empty() {
            h3 { "CVE" }
            ul { @for cve in &c.cves { li { (cve) } } }
        }
        @if let Some(v) = &c.cvss {
            h3 { "CVSS" }
            p { code { (v) } @if let Ok(s) = cvss_score(v) { " (" (s.score) ", " (s.severity) ")" } }
        }
        @if let Some(rem) = &c.remediation { h3 { "Remediation" } p { (rem) } }
        @if !c.references.is_empty() {
            h3 { "References" }
            // Text, not links: a reference is an author's input.
            ul { @for rf in &c.references { li { code { (rf.url) } @if !rf.summary.is_empty() { " " (rf.summary) } } } }
        }
    }
}

async fn advisory_view(
    state: &AppState,
    p: &Principal,
    id: String,
    saved: Option<&str>,
    refused: Option<(ContentForm, String)>,
    status: StatusCode,
) -> Response {
    let (st, who) = (state.clone(), p.clone());
    let r = blocking(move || read_advisory(&st, &who, &id)).await;
    let manage = p.can(Need::Manage);
    let r = r.map(|seen| {
        let a = &seen.advisory;
        let c = seen.content();
        let published = !a.revisions.is_empty();
        let (form, error) = match &refused {
            Some((f, e)) => (f.clone(), Some(e.as_str())),
            None => (ContentForm::of(&a.draft, Some(a.row_version)), None),
        };
        let action = |what: &str| format!("/advisories/{}/{what}", enc(&a.id));
        layout(
            &a.id,
            Some(p),
            html! {
                @if let Some(n) = notice(saved) { p.notice #saved { (n) } }
                h2 #adv-title-shown { (c.title) }
                p.meta { (tlp_badge(c.tlp)) " · "
                    @if seen.staff { span #adv-state { (a.state.as_str()) } " · " }
                    (a.revisions.len()) " published revision(s)"
                    @if published { " · " a href=(format!("/api/v1/advisories/{}/csaf", enc(&a.id))) #csaf-link { "CSAF 2.0 JSON" } }
                    @if published && a.readable_at(Tlp::Clear).is_some() { " · " a href=(format!("/public/advisories/{}", enc(&a.id))) { "public page" } }
                }
                @if seen.staff {
                    @if published { p.note { "Below: the working copy (what the next revision would say). Readers see the latest published revision." } }
                    p.note { "Last changed by " (a.updated_by) " at " (a.updated_at.strftime("%Y-%m-%d %H:%M UTC"))
                        @if let Some(s) = &a.submitted_by { "; submitted for review by " (s) } "." }
                }
                (content_view(c))
                @if seen.staff && manage {
                    div.actions {
                        @if a.state == AdvisoryState::Draft {
                            form method="post" action=(action("submit")) { input type="hidden" name="csrf" value=(p.csrf()); button type="submit" #adv-submit { "Submit for review" } }
                        }
                        @if a.state == AdvisoryState::InReview {
                            form method="post" action=(action("publish")) { input type="hidden" name="csrf" value=(p.csrf()); button type="submit" #adv-publish { "Publish as revision " (a.revisions.len() + 1) } }
                            form method="post" action=(action("reject")) { input type="hidden" name="csrf" value=(p.csrf());
                                input type="text" name="reason" #adv-reason placeholder="why" required;
                                button type="submit" #adv-reject { "Send back to draft" } }
                            p.note { "The one who submitted it or last edited it may not publish it (four eyes)." }
                        }
                    }
                    @if a.state != AdvisoryState::InReview {
                        details.card #edit-advisory open[refused.is_some()] {
                            summary { @if a.state == AdvisoryState::Published { "Start the next revision" } @else { "Edit the draft" } }
                            (content_form(p, &action("edit"), &form, false, error, published))
                        }
                    }
                }
                h3 { "Revision history" }
                @if a.revisions.is_empty() { p #no-revisions { "Not published yet." } } @else {
                    table #revisions {
                        thead { tr { th.num { "Revision" } th { "Date" } th { "TLP" } th { "Published by" } th { "What changed" } } }
                        tbody { @for r in seen.revisions().iter().rev() { tr {
                            td.num { (r.number) }
                            td.nowrap { (r.date.strftime("%Y-%m-%d %H:%M")) }
                            td.nowrap { (r.content.tlp.label()) }
                            td { (r.published_by) }
                            td { (r.summary) }
                        } } }
                    }
                }
                p { a href="/advisories" { "All advisories" } }
            },
        )
    });
    answer(p, r, status)
}

async fn advisory_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<PageQuery>,
) -> Response {
    advisory_view(&state, &p, id, q.saved.as_deref(), None, StatusCode::OK).await
}

async fn step_form(
    state: AppState,
    p: Principal,
    id: String,
    expected: Option<u64>,
    step: Step,
    saved: &str,
    form: Option<ContentForm>,
) -> Response {
    let (st, actor, key) = (state.clone(), p.actor(), id.clone());
    let r = blocking(move || {
        workflow::apply(
            st.store.awareness(),
            &key,
            expected,
            step,
            &actor,
            jiff::Timestamp::now(),
        )
        .map_err(refused)
    })
    .await;
    match r {
        Ok(a) => Redirect::to(&format!("/advisories/{}?saved={saved}", enc(&a.id))).into_response(),
        // A refused edit: the form again, as sent, with the reason.
        Err(ApiError(status, message))
            if status.is_client_error() && status != StatusCode::NOT_FOUND && form.is_some() =>
        {
            let refused = form.map(|f| (f, message));
            advisory_view(&state, &p, id, None, refused, status).await
        }
        // A refused step (four eyes, wrong state): the reason, and the way back.
        Err(ApiError(status, message)) if status.is_client_error() => (
            status,
            layout(
                "Refused",
                Some(&p),
                html! {
                    p.error #refused { (message) }
                    p { a href=(format!("/advisories/{}", enc(&id))) { "Back to the advisory" } }
                },
            ),
        )
            .into_response(),
        Err(e) => problem(&p, e),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(f): Form<ContentForm>,
) -> Response {
    let content = match f.content() {
        Ok(c) => c,
        Err(ApiError(status, m)) => {
            return advisory_view(&state, &p, id, None, Some((f, m)), status).await;
        }
    };
    let step = Step::Edit {
        content,
        change_summary: Some(f.change_summary.clone()),
    };
    step_form(state, p, id, f.row_version, step, "edited", Some(f)).await
}

#[derive(Deserialize, Default)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
}

async fn submit_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    step_form(state, p, id, None, Step::Submit, "submitted", None).await
}

async fn reject_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(f): Form<ReasonForm>,
) -> Response {
    step_form(
        state,
        p,
        id,
        None,
        Step::Reject { reason: f.reason },
        "rejected",
        None,
    )
    .await
}

async fn publish_form(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    step_form(state, p, id, None, Step::Publish, "published", None).await
}

fn library_link(q: &LibraryQuery, key: &str, value: Option<&str>) -> String {
    let mut pairs: Vec<(&str, Option<String>)> = vec![
        ("q", q.q.clone()),
        ("entity", q.entity.clone()),
        ("type", q.item_type.clone()),
        ("body", q.body.clone()),
        ("country", q.country.clone()),
        ("year", q.year.map(|y| y.to_string())),
    ];
    for (k, v) in pairs.iter_mut() {
        if *k == key {
            *v = value.map(str::to_string);
        }
    }
    let query: Vec<String> = pairs
        .into_iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", enc(&v)))
        })
        .collect();
    format!("/library?{}", query.join("&"))
}

fn facet_list(
    q: &LibraryQuery,
    key: &str,
    title: &str,
    chosen: Option<&str>,
    facets: &[library::Facet],
) -> Markup {
    if chosen.is_none() && facets.is_empty() {
        return html! {};
    }
    html! {
        div.facet id=(format!("facet-{key}")) {
            h3 { (title) }
            @if let Some(c) = chosen { p { strong { (c) } " · " a href=(library_link(q, key, None)) { "any" } } }
            @else {
                ul { @for f in facets.iter().take(15) {
                    li { a href=(library_link(q, key, Some(&f.value))) { (f.value) } " (" (f.count) ")" }
                } }
            }
        }
    }
}

async fn library_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Query(q): axum::extract::Query<LibraryQuery>,
) -> Response {
    let (st, query) = (state.clone(), q.clone());
    let r = blocking(move || {
        let entities = st.store.awareness().library_summaries().map_err(storage)?;
        Ok((entities, search(&st, &query)))
    })
    .await;
    let r = r.map(|(entities, results)| {
        layout(
            "Library",
            Some(&p),
            html! {
                p.note { "The cyber-policy library: strategies, laws, resolutions, reports, bodies and meetings, by country or organisation (docs/AWARENESS.md)." }
                form.filters #library-search method="get" action="/library" {
                    input type="search" name="q" id="library-q" value=(q.q.clone().unwrap_or_default()) placeholder="words, \"a phrase\", a symbol like 57/239" size="50";
                    label { "Entity " select name="entity" id="library-entity" {
                        option value="" { "any" }
                        @for e in &entities { option value=(e.id) selected[q.entity.as_deref() == Some(e.id.as_str())] { (e.name) } }
                    } }
                    label { "Type " select name="type" id="library-type" {
                        option value="" { "any" }
                        @for t in ItemType::ALL { option value=(t.as_str()) selected[q.item_type.as_deref() == Some(t.as_str())] { (t.as_str()) } }
                    } }
                    label { "Year " input type="number" name="year" id="library-year" value=(q.year.map(|y| y.to_string()).unwrap_or_default()) min="1900" max="2100"; }
                    button type="submit" id="library-go" { "Search" }
                }
                @match &results {
                    Err(e) => p.error #library-error { (e.1) },
                    Ok(r) => {
                        div.library {
                            aside.facets {
                                (facet_list(&q, "type", "Type", some(&q.item_type).as_deref(), &r.facets.types))
                                (facet_list(&q, "year", "Year", q.year.map(|y| y.to_string()).as_deref(), &r.facets.year))
                                (facet_list(&q, "body", "Body", some(&q.body).as_deref(), &r.facets.body))
                                (facet_list(&q, "country", "Country", some(&q.country).as_deref(), &r.facets.country))
                            }
                            section.hits {
                                p #library-total { (r.total) " matches" }
                                ol #library-hits { @for h in &r.hits { li {
                                    a href=(format!("/library/{}/{}", enc(&h.entity), enc(&h.item))) { (h.title) }
                                    @if let Some(s) = &h.symbol { " " code { (s) } }
                                    br;
                                    span.meta { (h.item_type) " · " (h.date.as_deref().unwrap_or("undated")) " · " (h.bodies.join("; ")) " · "
                                        a href=(format!("/library/{}", enc(&h.entity))) { (h.entity) } }
                                } } }
                            }
                        }
                    }
                }
                h2 { "Entities" }
                table #library-entities {
                    thead { tr { th { "Entity" } th { "Kind" } th.num { "Items" } th { "Last updated" } } }
                    tbody { @for e in &entities { tr {
                        td { a href=(format!("/library/{}", enc(&e.id))) { (e.name) } }
                        td { (format!("{:?}", e.kind).to_lowercase()) @if let Some(c) = &e.country { " " (c) } }
                        td.num { (e.items) }
                        td { (e.last_updated) }
                    } } }
                }
            },
        )
    });
    answer(&p, r, StatusCode::OK)
}

fn section_title(place: &str) -> String {
    place.replace('/', " · ").replace('_', " ")
}

async fn entity_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let st = state.clone();
    let r = blocking(move || entity(&st, &id)).await.map(|e| {
        let items = e.items();
        layout(
            &e.name,
            Some(&p),
            html! {
                p.meta { "Last updated " (e.last_updated) @if let Some(c) = &e.country { " · " (c) } " · " (items.len()) " items" }
                @for (place, group) in group_by_place(&items) {
                    h2 { (section_title(place)) }
                    ul { @for item in group { li {
                        a href=(format!("/library/{}/{}", enc(&e.id), enc(&item.id))) { (item.title) }
                        @if let Some(s) = &item.symbol { " " code { (s) } }
                        " · " (item.item_type.as_str()) " · " (item.date.as_deref().unwrap_or("undated"))
                    } } }
                }
                p { a href=(format!("/library?entity={}", enc(&e.id))) { "Search this entity" } " · " a href="/library" { "Library" } }
            },
        )
    });
    answer(&p, r, StatusCode::OK)
}

fn group_by_place<'a>(
    items: &[(&'static str, &'a library::Item)],
) -> Vec<(&'static str, Vec<&'a library::Item>)> {
    let mut out: Vec<(&'static str, Vec<&library::Item>)> = Vec::new();
    for (place, item) in items {
        match out.last_mut() {
            Some((p, list)) if p == place => list.push(item),
            _ => out.push((place, vec![item])),
        }
    }
    out
}

async fn item_page(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    axum::extract::Path((entity_id, item_id)): axum::extract::Path<(String, String)>,
) -> Response {
    let st = state.clone();
    let r = blocking(move || {
        let item = st
            .store
            .awareness()
            .library_item(&entity_id, &item_id)
            .map_err(storage)?;
        Ok((entity_id, item))
    })
    .await
    .map(|(entity_id, item)| {
        layout(
            &item.title,
            Some(&p),
            html! {
                dl.item #library-item {
                    @if let Some(s) = &item.symbol { dt { "Symbol" } dd #item-symbol { code { (s) } } }
                    dt { "Type" } dd { (item.item_type.as_str()) }
                    @if !item.bodies.is_empty() { dt { "Bodies" } dd { (item.bodies.join("; ")) } }
                    @if let Some(d) = &item.date { dt { "Date" } dd { (d) @if let Some(e) = &item.end_date { " to " (e) } } }
                    @if let Some(n) = &item.dates_note { dt { "Dates" } dd { (n) } }
                    @if let Some(f) = item.founded { dt { "Founded" } dd { (f) } }
                    @if !item.topics.is_empty() { dt { "Topics" } dd { (item.topics.join(", ")) } }
                    dt { "Entity" } dd { a href=(format!("/library/{}", enc(&entity_id))) { (entity_id) } }
                }
                @if !item.summary.is_empty() { h2 { "Summary" } ul #item-summary { @for point in &item.summary { li { (point) } } } }
                @if !item.relations.is_empty() {
                    h2 { "Relations" }
                    ul { @for r in &item.relations { li { (format!("{:?}", r.kind).to_lowercase()) " " (r.target) } } }
                }
                @if !item.links.is_empty() {
                    h2 { "Links" }
                    // Text, not links: they come from an imported file.
                    ul { @for l in &item.links { li { (l.title) " " code { (l.url) } } } }
                }
            },
        )
    });
    answer(&p, r, StatusCode::OK)
}
