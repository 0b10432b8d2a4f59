//! The REST API under `/api/v1` (JSON), and its OpenAPI 3 document, generated from the handler
//! annotations below by `utoipa` and served at `/api/v1/openapi.json`.
//!
//! Authorisation is done before any handler runs (see [`crate::access`]); handlers only pass
//! the principal's [`Scope`] to the store so a constituent's queries cannot reach another
//! organisation's rows. Every list is a keyset page with a bounded `limit`.

use crate::AppState;
use crate::access::Principal;
use crate::accounts;
use crate::constituents::{ChangeError, ConstituentOut, ImportResult, Problem, Refusal};
use crate::extract::{Json, Path, Query};
use crate::schema::{
    self, AuditPage, ConstituentDetail, ConstituentPage, ErrorBody, EventJson, IncidentDetail,
    IncidentJson, QuarantinePage, RunPage,
};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router, routing};
use focal_model::Event;
use focal_store::incidents::{
    AuditFilter, AuditLog, IncidentChange, IncidentFilter, IncidentStore,
};
use focal_store::web::{Scope, WebStore};
use focal_store::{EventFilter, SaveMode, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
pub const MAX_EXPORT: usize = 10_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", routing::get(openapi))
        .route("/api/v1/events", routing::get(events))
        .route("/api/v1/events/export", routing::get(export))
        .route("/api/v1/incidents", routing::get(incidents))
        .route("/api/v1/incidents/{id}", routing::get(incident))
        .route(
            "/api/v1/incidents/{id}/transition",
            routing::post(transition),
        )
        .route("/api/v1/incidents/{id}/assign", routing::post(assign))
        .route("/api/v1/incidents/{id}/comment", routing::post(comment))
        .route(
            "/api/v1/constituents",
            routing::get(constituents).post(create_constituent),
        )
        .route(
            "/api/v1/constituents/import",
            routing::post(import_constituents)
                .get(constituent_called_import)
                .put(replace_constituent_called_import),
        )
        .route(
            "/api/v1/constituents/{id}",
            routing::get(constituent).put(replace_constituent),
        )
        .route("/api/v1/runs", routing::get(runs))
        .route("/api/v1/feeds", routing::get(feeds))
        .route("/api/v1/feeds/{name}", routing::get(feed))
        .route("/api/v1/quarantine", routing::get(quarantine))
        .route("/api/v1/audit", routing::get(audit))
}

/// An API failure: a status and a message saying what was wrong.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("there is no {what}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => ApiError::bad(m),
            e => {
                tracing::error!(error = %e, "store error");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl From<focal_incidents::Error> for ApiError {
    fn from(e: focal_incidents::Error) -> Self {
        use focal_incidents::Error as E;
        match e {
            E::Store(s) => s.into(),
            E::NoSuchIncident(_) => ApiError::not_found("such incident"),
            E::IllegalTransition { .. } => ApiError(StatusCode::CONFLICT, e.to_string()),
            E::NotYours(m) => ApiError(StatusCode::FORBIDDEN, m),
            other => ApiError::bad(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()))?
}

fn limit(asked: Option<usize>, max: usize, default: usize) -> Result<usize, ApiError> {
    match asked {
        None => Ok(default),
        Some(0) => Err(ApiError::bad("limit: at least 1")),
        Some(n) if n > max => Err(ApiError::bad(format!("limit: at most {max}"))),
        Some(n) => Ok(n),
    }
}

/// Filters for events. Times are RFC 3339 or a date (`2026-11-23`, midnight UTC).
#[derive(Debug, Default, Clone, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// An IP address or CIDR network (source.ip within, or source.network overlapping).
    pub ip: Option<String>,
    /// An AS number (`64500` or `AS64500`).
    pub asn: Option<String>,
    /// A two-letter country code.
    pub country: Option<String>,
    /// A constituent id.
    pub constituent: Option<String>,
    /// A classification.type, e.g. `infected-system`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<String>,
    /// A feed name.
    pub feed: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// Continue after this event `seq` (the previous page's `next_after`; oldest first).
    pub after: Option<i64>,
    /// Continue before this event `seq` (the previous page's `next_after` when newest first).
    pub before: Option<i64>,
    /// `oldest` (storage order, the default here) or `newest` first (the web page's default).
    pub order: Option<String>,
    /// Page size (1 to 1000; exports up to 10000).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(crate) fn parse_time(name: &str, text: &str) -> Result<jiff::Timestamp, ApiError> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            ApiError::bad(format!(
                "{name} {text:?}: expected RFC 3339 (2026-11-23T10:00:00Z) or a date (2026-11-23)"
            ))
        })
}

impl EventQuery {
    pub fn filter(&self, max: usize) -> Result<EventFilter, ApiError> {
        let network = nonempty(&self.ip)
            .map(|ip| {
                focal_model::event::parse_network(ip).map_err(|_| {
                    ApiError::bad(format!(
                        "ip {ip:?}: expected an IP address or a CIDR network"
                    ))
                })
            })
            .transpose()?;
        let asn = nonempty(&self.asn)
            .map(|a| {
                focal_model::event::parse_asn(a).map_err(|e| ApiError::bad(format!("asn: {e}")))
            })
            .transpose()?;
        if let Some(t) = nonempty(&self.type_) {
            t.parse::<focal_model::ClassificationType>()
                .map_err(|e| ApiError::bad(format!("type: {e}")))?;
        }
        let country = nonempty(&self.country)
            .map(|c| {
                c.parse::<focal_model::CountryCode>()
                    .map(|_| c.to_ascii_uppercase())
                    .map_err(|e| ApiError::bad(format!("country: {e}")))
            })
            .transpose()?;
        Ok(EventFilter {
            constituent: nonempty(&self.constituent).map(str::to_string),
            network,
            asn,
            country,
            classification_type: nonempty(&self.type_).map(str::to_string),
            feed: nonempty(&self.feed).map(str::to_string),
            since: nonempty(&self.since)
                .map(|t| parse_time("since", t))
                .transpose()?,
            until: nonempty(&self.until)
                .map(|t| parse_time("until", t))
                .transpose()?,
            after_seq: self.after,
            before_seq: self.before,
            newest_first: self.newest_first()?,
            limit: Some(limit(self.limit, max, DEFAULT_LIMIT.min(max))?),
            ..EventFilter::default()
        })
    }

    /// Whether `order` asks for the newest first (absent: oldest first).
    pub fn newest_first(&self) -> Result<bool, ApiError> {
        match nonempty(&self.order) {
            None | Some("oldest") => Ok(false),
            Some("newest") => Ok(true),
            Some(other) => Err(ApiError::bad(format!(
                "order {other:?}: expected newest or oldest"
            ))),
        }
    }
}

/// How many events match the query in the caller's scope (paging ignored).
pub async fn count_events(
    state: &AppState,
    p: &Principal,
    q: &EventQuery,
) -> Result<u64, ApiError> {
    let filter = q.filter(MAX_EXPORT)?;
    let (st, scope) = (state.clone(), p.scope());
    blocking(move || Ok(st.store.events_count(&filter, &scope)?)).await
}

/// One event with its run and incidents, if it is in the caller's scope.
pub async fn event_detail(
    state: &AppState,
    p: &Principal,
    seq: i64,
) -> Result<focal_store::web::EventDetail, ApiError> {
    let (st, scope) = (state.clone(), p.scope());
    blocking(move || {
        st.store
            .event_in(seq, &scope)?
            .ok_or_else(|| ApiError::not_found(&format!("event {seq}")))
    })
    .await
}

/// An event as the API shows it: IntelMQ field names, plus its storage `seq` where it has one;
/// never the raw record.
pub fn event_json(seq: Option<i64>, e: &Event) -> EventJson {
    let mut map = focal_model::intelmq::to_json(e);
    if let Some(seq) = seq {
        map.insert("seq".into(), json!(seq));
    }
    map.remove("raw");
    EventJson(map)
}

/// A page of events in seq order.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventJson>,
    /// Pass as `after` (as `before` with `order=newest`) for the next page; absent on the last
    /// page.
    pub next_after: Option<i64>,
}

pub async fn search_events(
    state: &AppState,
    p: &Principal,
    q: EventQuery,
    max: usize,
) -> Result<(Vec<(i64, Event)>, Option<i64>), ApiError> {
    let mut filter = q.filter(max)?;
    let asked = filter.limit.unwrap_or(DEFAULT_LIMIT);
    // One more than asked tells whether another page exists.
    filter.limit = Some(asked + 1);
    let (st, scope) = (state.clone(), p.scope());
    let mut rows = blocking(move || Ok(st.store.events_page(&filter, &scope)?)).await?;
    let next = if rows.len() > asked {
        rows.truncate(asked);
        rows.last().map(|r| r.0)
    } else {
        None
    };
    Ok((rows, next))
}

#[utoipa::path(get, path = "/api/v1/events", params(EventQuery), tag = "events",
    responses((status = 200, body = EventPage), (status = 400, description = "a bad filter", body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let (rows, next_after) = search_events(&state, &p, q, MAX_LIMIT).await?;
    Ok(Json(EventPage {
        events: rows.iter().map(|(s, e)| event_json(Some(*s), e)).collect(),
        next_after,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormat {
    /// `csv` (the default) or `json`.
    pub format: Option<String>,
}

/// Columns of the CSV export: IntelMQ's fields in its order, then TLP and constituent.
fn csv_fields() -> impl Iterator<Item = &'static focal_model::Field> {
    focal_model::intelmq::FIELDS
        .iter()
        .chain([focal_model::Field::Tlp, focal_model::Field::Constituent].iter())
}

#[utoipa::path(get, path = "/api/v1/events/export", params(EventQuery, ExportFormat), tag = "events",
    responses((status = 200, description = "CSV (`text/csv`, a `seq` column then IntelMQ's fields) or a JSON array of up to 10000 events; the header X-Focal-Next-After gives the next page's `after`",
        content((Vec<EventJson> = "application/json"), (String = "text/csv"))),
        (status = 400, description = "a bad filter or format", body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<EventQuery>,
    Query(f): Query<ExportFormat>,
) -> Result<Response, ApiError> {
    let mut q = q;
    q.limit = Some(q.limit.unwrap_or(MAX_EXPORT));
    let format = f.format.unwrap_or_else(|| "csv".into());
    if format != "csv" && format != "json" {
        return Err(ApiError::bad("format: csv or json"));
    }
    let _place = state.web.limits.export_place().await;
    let (rows, next) = search_events(&state, &p, q, MAX_EXPORT).await?;
    let mut resp = if format == "json" {
        let list: Vec<EventJson> = rows.iter().map(|(s, e)| event_json(Some(*s), e)).collect();
        Json(list).into_response()
    } else {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header: Vec<String> = std::iter::once("seq".to_string())
            .chain(csv_fields().map(|f| f.name().into_owned()))
            .collect();
        let csv_err = |e: csv::Error| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        w.write_record(&header).map_err(csv_err)?;
        for (seq, e) in &rows {
            let record: Vec<String> = std::iter::once(seq.to_string())
                .chain(
                    csv_fields().map(|f| e.get_text(f).map(|c| c.into_owned()).unwrap_or_default()),
                )
                .collect();
            w.write_record(&record).map_err(csv_err)?;
        }
        let body = w
            .into_inner()
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let mut r = body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        r.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"events.csv\""),
        );
        r
    };
    if let Some(n) = next
        && let Ok(v) = HeaderValue::from_str(&n.to_string())
    {
        resp.headers_mut().insert("x-focal-next-after", v);
    }
    Ok(resp)
}

/// Filters for incidents.
#[derive(Debug, Default, Clone, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// A state: new, acknowledged, notified, in_progress, resolved, false_positive, closed.
    pub state: Option<String>,
    /// A severity: low, medium, high, critical.
    pub severity: Option<String>,
    pub assignee: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<String>,
    pub constituent: Option<String>,
    /// Only open incidents past their SLA due time.
    pub breached: Option<bool>,
    /// Continue after this incident id.
    pub after: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

impl IncidentQuery {
    pub fn filter(&self) -> Result<IncidentFilter, ApiError> {
        let states = match nonempty(&self.state) {
            Some(s) => vec![
                focal_incidents::State::parse(s)
                    .map_err(|e| ApiError::bad(e.to_string()))?
                    .as_str()
                    .to_string(),
            ],
            None => vec![],
        };
        // An unknown severity is a mistake to name, not a filter nothing matches.
        let severity = nonempty(&self.severity)
            .map(|s| {
                focal_incidents::Severity::parse(s)
                    .map(|s| s.as_str().to_string())
                    .map_err(|_| {
                        ApiError::bad(format!(
                            "severity {s:?}: expected one of {}",
                            focal_incidents::Severity::ALL
                                .map(|s| s.as_str())
                                .join(", ")
                        ))
                    })
            })
            .transpose()?;
        Ok(IncidentFilter {
            constituent: nonempty(&self.constituent).map(str::to_string),
            states,
            severity,
            assignee: nonempty(&self.assignee).map(str::to_string),
            classification_type: nonempty(&self.type_).map(str::to_string),
            breached_at: self.breached.unwrap_or(false).then(jiff::Timestamp::now),
            limit: None,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentPage {
    pub incidents: Vec<IncidentJson>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<i64>,
}

pub async fn list_incidents(
    state: &AppState,
    p: &Principal,
    q: &IncidentQuery,
) -> Result<(Vec<focal_store::incidents::Incident>, Option<i64>), ApiError> {
    let filter = q.filter()?;
    let asked = limit(q.limit, MAX_LIMIT, DEFAULT_LIMIT)?;
    let (st, scope, after) = (state.clone(), p.scope(), q.after.unwrap_or(0));
    let mut rows =
        blocking(move || Ok(st.store.incidents_page(&filter, &scope, after, asked + 1)?)).await?;
    let next = if rows.len() > asked {
        rows.truncate(asked);
        rows.last().map(|i| i.id)
    } else {
        None
    };
    Ok((rows, next))
}

#[utoipa::path(get, path = "/api/v1/incidents", params(IncidentQuery), tag = "incidents",
    responses((status = 200, body = IncidentPage), (status = 400, description = "a bad filter", body = ErrorBody)))]
async fn incidents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<IncidentQuery>,
) -> Result<Json<IncidentPage>, ApiError> {
    let (rows, next_after) = list_incidents(&state, &p, &q).await?;
    Ok(Json(IncidentPage {
        incidents: schema::all(rows),
        next_after,
    }))
}

/// An incident with its timeline, allowed transitions and first events, if in scope.
pub async fn incident_detail(
    state: &AppState,
    scope: Scope,
    id: i64,
) -> Result<IncidentDetail, ApiError> {
    let st = state.clone();
    blocking(move || {
        let incident = st
            .store
            .incident_in(id, &scope)?
            .ok_or_else(|| ApiError::not_found("such incident"))?;
        let mut timeline = st.store.incident_timeline(id)?;
        let mut events = Vec::new();
        // A constituent never sees TLP:RED events, here as in the event search.
        let constituent_view = scope.organisation().is_some();
        // Nor the CSIRT's internal notes: only replies (its own and those meant for it) and
        // what happened to the incident.
        if constituent_view {
            timeline.retain(|t| t.kind != "comment");
        }
        st.store.incident_events(id, Some(50), &mut |e| {
            if !(constituent_view && e.tlp == focal_model::Tlp::Red) {
                events.push(event_json(None, &e));
            }
            Ok(())
        })?;
        // What this caller may do: a constituent only acknowledges or disputes.
        let allowed: Vec<&str> = focal_incidents::State::parse(&incident.state)
            .map(|s| {
                s.next()
                    .iter()
                    .filter(|n| !constituent_view || focal_incidents::constituent_may(**n))
                    .map(|n| n.as_str())
                    .collect()
            })
            .unwrap_or_default();
        Ok(IncidentDetail {
            incident: incident.into(),
            timeline: schema::all(timeline),
            allowed_transitions: allowed.into_iter().map(str::to_string).collect(),
            events,
        })
    })
    .await
}

/// Page `page` (from 0) of an incident's events in seq order, `size` a page, and whether more
/// follow; empty if the incident is not in scope's reach (checked first: a 404). A constituent's
/// page leaves TLP:RED events out, as the detail does, so it may be shorter than `size`.
pub async fn incident_events_page(
    state: &AppState,
    scope: Scope,
    id: i64,
    page: usize,
    size: usize,
) -> Result<(Vec<serde_json::Value>, bool), ApiError> {
    let st = state.clone();
    blocking(move || {
        st.store
            .incident_in(id, &scope)?
            .ok_or_else(|| ApiError::not_found("such incident"))?;
        let constituent_view = scope.organisation().is_some();
        let skip = page.saturating_mul(size);
        let (mut seen, mut rows) = (0usize, Vec::new());
        st.store.incident_events(
            id,
            Some(skip.saturating_add(size).saturating_add(1)),
            &mut |e| {
                if seen >= skip
                    && seen < skip + size
                    && !(constituent_view && e.tlp == focal_model::Tlp::Red)
                {
                    // As the detail's events read in the page (`serde_json::json!` of it).
                    rows.push(serde_json::json!(event_json(None, &e)));
                }
                seen += 1;
                Ok(())
            },
        )?;
        Ok((rows, seen > skip + size))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", params(("id" = i64, Path, description = "incident id")),
    tag = "incidents", responses((status = 200, description = "the incident, its timeline, allowed transitions and first 50 events", body = IncidentDetail),
    (status = 400, description = "a bad id", body = ErrorBody), (status = 404, description = "no such incident (or not yours)", body = ErrorBody)))]
async fn incident(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<IncidentDetail>, ApiError> {
    Ok(Json(incident_detail(&state, p.scope(), id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TransitionBody {
    /// The state to move to. A constituent may only move its incident to `acknowledged` or
    /// `false_positive` (a dispute, with a reason).
    pub state: String,
    /// Why; required when a constituent disputes (`false_positive`), kept in the timeline.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignBody {
    /// The assignee's name; null or empty to unassign.
    pub assignee: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CommentBody {
    pub text: String,
    /// Staff: `true` sends it as a reply the constituent sees; otherwise it is an internal note,
    /// never shown to the constituent. A constituent's own comments are always replies.
    #[serde(default)]
    pub to_constituent: bool,
}

/// A change to an incident the principal may see, recorded with the principal as actor (the
/// store writes the timeline and audit entries in the same transaction).
pub async fn change(
    state: &AppState,
    p: &Principal,
    id: i64,
    change: Change,
) -> Result<focal_store::incidents::Incident, ApiError> {
    let (st, scope, actor) = (state.clone(), p.scope(), p.actor());
    blocking(move || {
        st.store
            .incident_in(id, &scope)?
            .ok_or_else(|| ApiError::not_found("such incident"))?;
        let constituent = scope.organisation().is_some();
        Ok(match change {
            Change::Transition(to, reason) => {
                let to =
                    focal_incidents::State::parse(&to).map_err(|e| ApiError::bad(e.to_string()))?;
                if constituent {
                    focal_incidents::constituent_transition(
                        st.store.as_ref(),
                        id,
                        to,
                        &actor,
                        reason.as_deref(),
                    )?
                } else {
                    let reason = reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
                    focal_incidents::transition_because(st.store.as_ref(), id, to, &actor, reason)?
                }
            }
            Change::Assign(a) => {
                let assignee = a.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
                if assignee.as_ref().is_some_and(|a| a.len() > 256) {
                    return Err(ApiError::bad("an assignee is a name of 1 to 256 bytes"));
                }
                if let Some(a) = &assignee {
                    let staff = assignable(st.store.as_ref())?;
                    if !staff.iter().any(|u| u == a) {
                        return Err(ApiError::bad(format!(
                            "assignee {a:?} is not an enabled admin or analyst account"
                        )));
                    }
                }
                st.store
                    .change_incident(id, &IncidentChange::Assign { assignee }, &actor)?
            }
            Change::Severity(severity) => {
                let severity = severity
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(focal_incidents::Severity::parse)
                    .transpose()
                    .map_err(|e| ApiError::bad(format!("severity: {e}")))?;
                focal_incidents::set_severity(
                    st.store.as_ref(),
                    &st.incidents,
                    id,
                    severity,
                    &actor,
                )?
            }
            Change::Comment(text, to_constituent) => {
                let text = text.trim().to_string();
                if text.is_empty() || text.len() > 10_000 {
                    return Err(ApiError::bad("a comment is 1 to 10000 bytes of text"));
                }
                // What a constituent writes is for the CSIRT and itself: a reply. Staff notes
                // stay internal unless sent as a reply.
                let change = if constituent || to_constituent {
                    IncidentChange::Reply { text }
                } else {
                    IncidentChange::Comment { text }
                };
                st.store.change_incident(id, &change, &actor)?
            }
        })
    })
    .await
}

/// The names incidents may be assigned to: the enabled admin and analyst accounts, by name.
pub fn assignable(store: &focal_store::SqliteStore) -> Result<Vec<String>, ApiError> {
    use focal_identity::{IdentityStore, Role};
    let mut names: Vec<String> = store
        .users()?
        .into_iter()
        .filter(|u| !u.disabled && matches!(u.role, Role::Admin | Role::Analyst))
        .map(|u| u.name)
        .collect();
    names.sort();
    Ok(names)
}

pub enum Change {
    /// The state to move to, and why.
    Transition(String, Option<String>),
    Assign(Option<String>),
    /// The severity to set (its SLA due time follows), or `None` for the taxonomy's again.
    Severity(Option<String>),
    /// The text, and whether staff send it as a reply the constituent sees.
    Comment(String, bool),
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/transition", params(("id" = i64, Path, description = "incident id")),
    request_body = TransitionBody, tag = "incidents",
    responses((status = 200, description = "the incident afterwards", body = IncidentJson), (status = 400, description = "a bad value", body = ErrorBody), (status = 404, description = "no such incident", body = ErrorBody), (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
    (status = 409, description = "not allowed from its current state")))]
async fn transition(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Json(body): Json<TransitionBody>,
) -> Result<Json<IncidentJson>, ApiError> {
    Ok(Json(
        change(&state, &p, id, Change::Transition(body.state, body.reason))
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/assign", params(("id" = i64, Path, description = "incident id")),
    request_body = AssignBody, tag = "incidents",
    responses((status = 200, description = "the incident afterwards", body = IncidentJson), (status = 400, description = "a bad value", body = ErrorBody), (status = 404, description = "no such incident", body = ErrorBody), (status = 415, description = "the body is not declared as JSON", body = ErrorBody)))]
async fn assign(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Json(body): Json<AssignBody>,
) -> Result<Json<IncidentJson>, ApiError> {
    Ok(Json(
        change(&state, &p, id, Change::Assign(body.assignee))
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/comment", params(("id" = i64, Path, description = "incident id")),
    request_body = CommentBody, tag = "incidents",
    responses((status = 200, description = "the incident afterwards", body = IncidentJson), (status = 400, description = "a bad value", body = ErrorBody), (status = 404, description = "no such incident", body = ErrorBody), (status = 415, description = "the body is not declared as JSON", body = ErrorBody)))]
async fn comment(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Json(body): Json<CommentBody>,
) -> Result<Json<IncidentJson>, ApiError> {
    Ok(Json(
        change(
            &state,
            &p,
            id,
            Change::Comment(body.text, body.to_constituent),
        )
        .await?
        .into(),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyPage {
    /// Continue after this id.
    pub after: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/constituents", params(KeyPage), tag = "constituents",
    responses((status = 200, description = "constituents ordered by id", body = ConstituentPage), (status = 400, description = "a bad parameter", body = ErrorBody)))]
async fn constituents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<KeyPage>,
) -> Result<Json<ConstituentPage>, ApiError> {
    let asked = limit(q.limit, MAX_LIMIT, DEFAULT_LIMIT)?;
    let (st, scope, after) = (state.clone(), p.scope(), q.after.unwrap_or_default());
    let mut rows =
        blocking(move || Ok(st.store.constituents_page(&scope, &after, asked + 1)?)).await?;
    let next = if rows.len() > asked {
        rows.truncate(asked);
        rows.last().map(|c| c.id.clone())
    } else {
        None
    };
    Ok(Json(ConstituentPage {
        constituents: schema::all(rows),
        next_after: next,
    }))
}

/// A constituent with its first incidents (up to 100) and its last 50 notification deliveries,
/// if in scope.
pub async fn constituent_detail(
    state: &AppState,
    scope: Scope,
    id: String,
) -> Result<(focal_store::web::ConstituentRow, ConstituentDetail), ApiError> {
    let st = state.clone();
    blocking(move || {
        let c = st
            .store
            .constituent_in(&id, &scope)?
            .ok_or_else(|| ApiError::not_found("such constituent"))?;
        let filter = IncidentFilter {
            constituent: Some(c.id.clone()),
            ..IncidentFilter::default()
        };
        let incidents = st.store.incidents_page(&filter, &scope, 0, 100)?;
        let notifications = st.store.notification_history(&c.id, &scope, 50)?;
        let detail = ConstituentDetail {
            constituent: c.clone().into(),
            incidents: schema::all(incidents),
            notifications: schema::all(notifications),
        };
        Ok((c, detail))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/constituents/{id}", params(("id" = String, Path, description = "constituent id")),
    tag = "constituents", responses((status = 200, description = "netblocks, ASNs, contact, incidents and notification history", body = ConstituentDetail),
    (status = 404, description = "no such constituent (or not yours)", body = ErrorBody)))]
async fn constituent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ConstituentDetail>, ApiError> {
    Ok(Json(constituent_detail(&state, p.scope(), id).await?.1))
}

/// `/api/v1/constituents/import` is the import's route; a constituent called `import` is still
/// read and replaced there.
async fn constituent_called_import(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<ConstituentDetail>, ApiError> {
    Ok(Json(
        constituent_detail(&state, p.scope(), "import".into())
            .await?
            .1,
    ))
}

async fn replace_constituent_called_import(
    state: State<AppState>,
    p: Extension<Principal>,
    body: axum::body::Body,
) -> Result<Response, ChangeError> {
    replace_constituent(state, p, Path("import".into()), body).await
}

/// An AS number, as a number (`64500`) or text (`"AS64500"`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AsnValue {
    /// Any JSON number, so that a negative or fractional one is refused by the ASN check with
    /// the field named, rather than by the JSON decoder without it.
    #[schema(value_type = u32)]
    Number(serde_json::Number),
    Text(String),
}

/// One constituent, as sent to create or replace it. Every field but `language` and `also_notify` must be
/// present (an empty string or list where there is nothing), so a forgotten field never
/// erases what is stored.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstituentBody {
    /// Required when creating; when replacing, absent or the id in the URL (ids do not change).
    pub id: Option<String>,
    pub name: String,
    /// Where notifications go; empty for none.
    pub abuse_email: String,
    pub asns: Vec<AsnValue>,
    /// CIDR networks (`192.0.2.0/24`, `2001:db8::/32`) or single addresses.
    pub netblocks: Vec<String>,
    /// Domain suffixes (`example.org` covers `www.example.org`).
    pub domains: Vec<String>,
    /// A BCP 47 tag such as `de`; absent or null for the default language.
    pub language: Option<String>,
    /// Further recipients of notifications (Cc): each one e-mail address (an RFC 5322
    /// addr-spec, no name or list), at most 10. Absent or null: unchanged when replacing,
    /// none when creating.
    pub also_notify: Option<Vec<String>>,
}

impl ConstituentBody {
    /// The body as the form's text fields. An entry holding a separator would be split into
    /// several values, so it is refused instead.
    fn fields(self, id: String) -> Result<crate::constituents::Fields, ChangeError> {
        fn joined(field: &str, list: &[String]) -> Result<String, ChangeError> {
            if let Some(bad) = list
                .iter()
                .find(|v| v.contains(|c: char| c.is_whitespace() || c == ','))
            {
                return Err(ChangeError::one(
                    Some(field),
                    format!("{bad:?}: give one value per list entry"),
                ));
            }
            Ok(list.join("\n"))
        }
        let asns: Vec<String> = self
            .asns
            .into_iter()
            .map(|a| match a {
                AsnValue::Number(n) => n.to_string(),
                AsnValue::Text(t) => t,
            })
            .collect();
        Ok(crate::constituents::Fields {
            id,
            name: self.name,
            abuse_email: self.abuse_email,
            asns: joined("asns", &asns)?,
            netblocks: joined("netblocks", &self.netblocks)?,
            domains: joined("domains", &self.domains)?,
            language: self.language.unwrap_or_default(),
            also_notify: match self.also_notify {
                None => None,
                Some(list) => {
                    // Refused like the other lists: an entry holding a separator is not split.
                    if let Some(bad) = list
                        .iter()
                        .find(|v| v.contains(focal_model::constituent::ALSO_NOTIFY_SEPARATORS))
                    {
                        return Err(ChangeError::one(
                            Some("also_notify"),
                            format!("{bad:?}: give one address per list entry"),
                        ));
                    }
                    Some(list.join("\n"))
                }
            },
        })
    }
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(
    body: axum::body::Body,
    limit: usize,
    too_large: &str,
) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError(StatusCode::PAYLOAD_TOO_LARGE, too_large.to_string()))
}

/// Reads and decodes a constituent body: 400 for what is not JSON, 422 for JSON of the wrong
/// shape (a missing or unknown field, a wrong type).
async fn constituent_body(body: axum::body::Body) -> Result<ConstituentBody, ChangeError> {
    let (limit, too_large) = crate::access::body_limit("/api/v1/constituents");
    let bytes = read_body(body, limit, too_large).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                // serde names the field in backquotes: "missing field `name`".
                let text = e.to_string();
                let field = ["missing field `", "unknown field `"]
                    .iter()
                    .find_map(|p| text.strip_prefix(p))
                    .and_then(|rest| rest.split('`').next());
                ChangeError::one(field, format!("body: {text}"))
            }
            _ => ApiError::bad(format!("body is not JSON: {e}")).into(),
        }
    })
}

fn saved(c: ConstituentOut, added: bool) -> Response {
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(c)).into_response()
}

#[utoipa::path(post, path = "/api/v1/constituents", request_body = ConstituentBody, tag = "constituents",
    description = "Adds a constituent, or replaces the one with this id. Constituents are matched to events when they are ingested: the change applies to ingests started afterwards. Audited with the caller as actor.",
    responses((status = 201, description = "added", body = ConstituentOut),
        (status = 200, description = "replaced (or already so)", body = ConstituentOut),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 413, description = "the body is over 1 MiB", body = ErrorBody),
        (status = 422, description = "a field is missing or wrong; nothing was saved", body = Refusal)))]
async fn create_constituent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    body: axum::body::Body,
) -> Result<Response, ChangeError> {
    let body = constituent_body(body).await?;
    let Some(id) = body.id.clone() else {
        return Err(ChangeError::one(Some("id"), "is missing"));
    };
    let fields = body.fields(id)?;
    let (c, added) = crate::constituents::save(&state, &p, fields, SaveMode::Upsert).await?;
    Ok(saved(c, added))
}

#[utoipa::path(put, path = "/api/v1/constituents/{id}", params(("id" = String, Path, description = "constituent id")),
    request_body = ConstituentBody, tag = "constituents",
    description = "Replaces an existing constituent's name, contact, language, ASNs, netblocks and domains. Applies to ingests started afterwards. Audited with the caller as actor.",
    responses((status = 200, description = "the constituent afterwards", body = ConstituentOut),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 404, description = "no such constituent", body = ErrorBody),
        (status = 413, description = "the body is over 1 MiB", body = ErrorBody),
        (status = 422, description = "a field is missing or wrong; nothing was saved", body = Refusal)))]
async fn replace_constituent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ChangeError> {
    let body = constituent_body(body).await?;
    if let Some(other) = body.id.as_deref().filter(|b| *b != id) {
        return Err(ChangeError::one(
            Some("id"),
            format!("the body's id {other:?} is not the URL's {id:?}; ids cannot be changed"),
        ));
    }
    let fields = body.fields(id)?;
    let (c, _) = crate::constituents::save(&state, &p, fields, SaveMode::Update).await?;
    Ok(saved(c, false))
}

#[utoipa::path(post, path = "/api/v1/constituents/import", tag = "constituents",
    request_body(content = String, content_type = "text/csv",
        description = "`id,name,abuse_email,asns,netblocks,domains[,language][,also_notify]` with a header line; lists separated by spaces, `also_notify` addresses by `;`; at most 10 MiB"),
    description = "Adds and updates constituents from a CSV, all or nothing: when any row is wrong, nothing is imported and every problem is listed with its line and field. Applies to ingests started afterwards. Each added or changed constituent is audited with the caller as actor.",
    responses((status = 200, description = "imported", body = ImportResult),
        (status = 413, description = "the CSV is over 10 MiB", body = ErrorBody),
        (status = 415, description = "the body is not text/csv", body = ErrorBody),
        (status = 422, description = "bad rows; nothing was imported", body = Refusal)))]
async fn import_constituents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<ImportResult>, ChangeError> {
    let csv_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/csv"));
    if !csv_type {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the CSV as the body with Content-Type: text/csv".into(),
        )
        .into());
    }
    let (limit, too_large) = crate::access::body_limit("/api/v1/constituents/import");
    let bytes = read_body(body, limit.min(crate::access::MAX_IMPORT_BYTES), too_large).await?;
    let result = crate::constituents::import(&state, &p, bytes, "API upload".into()).await?;
    Ok(Json(result))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BeforePage {
    /// Continue with ids below this one (newest first).
    pub before: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Only this feed (quarantine).
    pub feed: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/runs", params(BeforePage), tag = "feeds",
    responses((status = 200, description = "ingestion runs, newest first", body = RunPage), (status = 400, description = "a bad parameter", body = ErrorBody)))]
async fn runs(
    State(state): State<AppState>,
    Query(q): Query<BeforePage>,
) -> Result<Json<RunPage>, ApiError> {
    let asked = limit(q.limit, MAX_LIMIT, DEFAULT_LIMIT)?;
    let (st, before) = (state.clone(), q.before.unwrap_or(0).max(0));
    let rows = blocking(move || Ok(st.store.runs_page(before, asked)?)).await?;
    let next = (rows.len() == asked)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(RunPage {
        runs: schema::all(rows),
        next_before: next,
    }))
}

#[utoipa::path(get, path = "/api/v1/quarantine", params(BeforePage), tag = "feeds",
    responses((status = 200, description = "quarantined records with the reason for each, newest first", body = QuarantinePage), (status = 400, description = "a bad parameter", body = ErrorBody)))]
async fn quarantine(
    State(state): State<AppState>,
    Query(q): Query<BeforePage>,
) -> Result<Json<QuarantinePage>, ApiError> {
    let asked = limit(q.limit, MAX_LIMIT, DEFAULT_LIMIT)?;
    let (st, before, feed) = (state.clone(), q.before.unwrap_or(0).max(0), q.feed.clone());
    let rows =
        blocking(move || Ok(st.store.quarantine_page(feed.as_deref(), before, asked)?)).await?;
    let next = (rows.len() == asked)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(QuarantinePage {
        records: schema::all(rows),
        next_before: next,
    }))
}

/// A registered feed: the main settings of its definition, its last pull and run, and when the
/// scheduler pulls it next.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedInfo {
    pub name: String,
    pub provider: Option<String>,
    /// `csv`, `jsonl` or `list`.
    pub format: String,
    /// The TLP label of its events.
    pub tlp: String,
    /// `feed.url`: the feed's home, for people.
    pub url: Option<String>,
    /// `[pull]`, if Focal downloads the feed.
    pub pull: Option<FeedPullSettings>,
    pub last_pull: Option<FeedPull>,
    /// When this server's scheduler pulls it next (absent when it is pulled only on request, or
    /// scheduled pulls are off).
    pub next_pull_due: Option<String>,
    /// The feed's newest run, whether a pull or `focal ingest` made it.
    pub last_run: Option<FeedRun>,
}

/// `[pull]` of a definition. Header values are never shown: they may be keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedPullSettings {
    /// The URL pulled, with its user, password and query replaced by `[redacted]` (they may be
    /// keys): `https://example.org/feed.csv?[redacted]`.
    pub url: String,
    /// Seconds between scheduled pulls; absent: only on request.
    pub every_secs: Option<u64>,
    pub max_bytes: u64,
    pub timeout_secs: u64,
    /// Downloads kept.
    pub keep: u64,
    /// Names of the headers sent (values from the definition or the environment).
    pub headers: Vec<String>,
}

/// One attempt to pull a feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedPull {
    pub id: i64,
    /// `schedule`, `cli:<actor>` or `web:<user>`.
    pub requested_by: String,
    pub started_at: String,
    pub finished_at: String,
    /// `ok`, `unchanged` or `failed`.
    pub result: String,
    pub http_status: Option<u16>,
    pub bytes: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
    /// The run it made.
    pub run: Option<FeedRun>,
}

/// A run's status and counts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedRun {
    pub run_id: i64,
    /// `completed`, `already_ingested`, `running`, `interrupted` or `failed`.
    pub status: String,
    pub rows_read: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
}

/// The registered feeds.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedList {
    pub feeds: Vec<FeedInfo>,
    /// Definition files in the registry that do not validate, with the file and setting at fault.
    pub problems: Vec<String>,
    /// True when this server pulls feeds on their schedules.
    pub scheduled: bool,
}

/// One registered feed with its definition file and its pulls, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedDetail {
    pub feed: FeedInfo,
    /// The definition file as written, except for secrets: `[pull.headers]` values and the pull
    /// URL's user, password and query are replaced by `[redacted]`.
    pub definition: String,
    pub pulls: Vec<FeedPull>,
    /// Pass as `before` for older pulls; absent on the last page.
    pub next_before: Option<i64>,
}

fn feed_pull(p: &focal_store::PullRecord) -> FeedPull {
    FeedPull {
        id: p.id,
        requested_by: p.requested_by.clone(),
        started_at: p.started_at.clone(),
        finished_at: p.finished_at.clone(),
        result: p.result.as_str().to_string(),
        http_status: p.http_status,
        bytes: p.bytes,
        error: p.error.clone(),
        run: p.run.zip(p.run_id).map(|(r, run_id)| FeedRun {
            run_id,
            status: r.status.as_str().to_string(),
            rows_read: r.rows_read,
            events_stored: r.events_stored,
            duplicates: r.duplicates,
            quarantined: r.quarantined,
        }),
    }
}

fn feed_run(r: &focal_store::RunRecord) -> FeedRun {
    FeedRun {
        run_id: r.id,
        status: r.status.as_str().to_string(),
        rows_read: r.progress.rows_read,
        events_stored: r.progress.events_stored,
        duplicates: r.progress.duplicates,
        quarantined: r.progress.quarantined,
    }
}

fn feed_info(
    entry: &focal_feeds::Registered,
    last_pull: Option<&focal_store::PullRecord>,
    last_run: Option<&focal_store::RunRecord>,
    scheduled: bool,
) -> FeedInfo {
    let f = &entry.feed;
    let d = &f.definition;
    let next = f.pull.as_ref().filter(|_| scheduled).and_then(|p| {
        let at = last_pull.and_then(|l| l.finished_at.parse::<jiff::Timestamp>().ok());
        p.next_due(at, jiff::Timestamp::now())
    });
    FeedInfo {
        name: f.name.to_string(),
        provider: d.provider.clone(),
        format: format!("{:?}", d.format).to_lowercase(),
        tlp: f.tlp().to_string(),
        url: d.url.clone(),
        pull: f.pull.as_ref().map(|p| FeedPullSettings {
            url: focal_feeds::redact::url(&p.url),
            every_secs: p.every_secs,
            max_bytes: p.max_bytes,
            timeout_secs: p.timeout_secs,
            keep: p.keep as u64,
            headers: p
                .headers
                .iter()
                .chain(p.headers_from_env.iter())
                .map(|(k, _)| k.clone())
                .collect(),
        }),
        last_pull: last_pull.map(feed_pull),
        next_pull_due: next.map(|t| t.to_string()),
        last_run: last_run.map(feed_run),
    }
}

fn registry_error(e: focal_feeds::RegistryError) -> ApiError {
    match e {
        focal_feeds::RegistryError::Missing(_) => ApiError::not_found("such feed"),
        focal_feeds::RegistryError::Io { .. } => {
            tracing::error!(error = %e, "the feed registry cannot be read");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
        // A definition edited by hand into something invalid: say what and where.
        other => ApiError(StatusCode::CONFLICT, other.to_string()),
    }
}

/// The registered feeds with their last pulls and runs.
pub async fn feed_list(state: &AppState) -> Result<FeedList, ApiError> {
    let st = state.clone();
    blocking(move || {
        let Some(feeds) = st.feeds.clone() else {
            return Ok(FeedList {
                feeds: vec![],
                problems: vec![],
                scheduled: false,
            });
        };
        let scheduled = feeds.pull_now.is_some();
        let entries = focal_feeds::Registry::new(&feeds.data)
            .list()
            .map_err(registry_error)?;
        let pulls = focal_store::Store::latest_pulls(st.store.as_ref())?;
        let runs = st.store.latest_runs()?;
        let mut list = FeedList {
            feeds: vec![],
            problems: vec![],
            scheduled,
        };
        for entry in entries {
            match entry {
                Ok(e) => list.feeds.push(feed_info(
                    &e,
                    pulls.iter().find(|p| p.feed == e.name()),
                    runs.iter().find(|r| r.feed == e.name()),
                    scheduled,
                )),
                Err(e) => list.problems.push(e.to_string()),
            }
        }
        Ok(list)
    })
    .await
}

/// One registered feed, its definition and a page of its pulls.
pub async fn feed_detail(
    state: &AppState,
    name: String,
    before: i64,
    limit: usize,
) -> Result<FeedDetail, ApiError> {
    let st = state.clone();
    blocking(move || {
        let feeds = st
            .feeds
            .clone()
            .ok_or_else(|| ApiError::not_found("such feed"))?;
        let entry = focal_feeds::Registry::new(&feeds.data)
            .get(&name)
            .map_err(registry_error)?;
        let store = st.store.as_ref();
        let pulls = focal_store::Store::pulls(store, &name, before.max(0), limit)?;
        let last = if before > 0 {
            focal_store::Store::pulls(store, &name, 0, 1)?.pop()
        } else {
            pulls.first().cloned()
        };
        let run = st.store.latest_runs()?.into_iter().find(|r| r.feed == name);
        let next_before = (pulls.len() == limit)
            .then(|| pulls.last().map(|p| p.id))
            .flatten();
        Ok(FeedDetail {
            feed: feed_info(
                &entry,
                last.as_ref(),
                run.as_ref(),
                feeds.pull_now.is_some(),
            ),
            definition: entry.shown(),
            pulls: pulls.iter().map(feed_pull).collect(),
            next_before,
        })
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/feeds", tag = "feeds",
    responses((status = 200, description = "the registered feeds with their last pulls and runs, and definitions that do not validate", body = FeedList)))]
async fn feeds(State(state): State<AppState>) -> Result<Json<FeedList>, ApiError> {
    Ok(Json(feed_list(&state).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullPage {
    /// Continue with pulls older than this id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Pulls per page (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/feeds/{name}", params(("name" = String, Path, description = "feed name"), PullPage), tag = "feeds",
    responses((status = 200, description = "the feed, its definition file and its pulls, newest first", body = FeedDetail),
    (status = 400, description = "a bad parameter", body = ErrorBody),
    (status = 404, description = "no such feed is registered", body = ErrorBody),
    (status = 409, description = "the definition file does not validate", body = ErrorBody)))]
async fn feed(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PullPage>,
) -> Result<Json<FeedDetail>, ApiError> {
    let asked = limit(q.limit, MAX_LIMIT, DEFAULT_LIMIT)?;
    Ok(Json(
        feed_detail(&state, name, q.before.unwrap_or(0), asked).await?,
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Continue after this entry id.
    pub after: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    pub subject: Option<String>,
    pub action: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", params(AuditQuery), tag = "audit",
    responses((status = 200, description = "audit log entries in order, with their hashes", body = AuditPage), (status = 400, description = "a bad parameter", body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let asked = limit(q.limit, MAX_LIMIT, DEFAULT_LIMIT)?;
    let st = state.clone();
    let filter = AuditFilter {
        subject: nonempty(&q.subject).map(str::to_string),
        action: nonempty(&q.action).map(str::to_string),
        after_id: q.after,
        limit: Some(asked),
        ..AuditFilter::default()
    };
    let rows = blocking(move || Ok(st.store.audit_entries(&filter)?)).await?;
    let next = (rows.len() == asked)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(AuditPage {
        entries: schema::all(rows),
        next_after: next,
    }))
}

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("focal_session"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Focal API", description = "Events, incidents, constituents, feeds, accounts, sharing peers and the audit log of a Focal node."),
    paths(events, export, incidents, incident, transition, assign, comment, constituents, constituent,
        create_constituent, replace_constituent, import_constituents, runs, feeds, feed, quarantine, audit,
        accounts::list_users, accounts::user_detail, accounts::disable_user, accounts::enable_user,
        accounts::reset_password, accounts::end_user_sessions, accounts::end_user_session,
        accounts::own_account, accounts::change_password, accounts::end_own_sessions,
        accounts::end_own_session, crate::sharing::api_peers, crate::sharing::api_preview),
    components(schemas(EventPage, IncidentPage, TransitionBody, AssignBody, CommentBody,
        ConstituentBody, AsnValue, ConstituentOut, ImportResult, Problem, Refusal, ErrorBody,
        FeedList, FeedDetail, FeedInfo, FeedPullSettings, FeedPull, FeedRun,
        schema::UserOut, schema::SessionOut, schema::TokenOut, schema::UserList, schema::UserDetail,
        schema::Ended, accounts::PasswordReset, accounts::PasswordChange,
        schema::SharingPolicyOut, schema::SharingPeerOut, schema::SharingPeerList, schema::SharingPreviewOut)),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::assessments::AssessDoc::openapi());
    doc.merge(crate::awareness_pages::AwarenessDoc::openapi());
    Json(doc)
}
