//! Self-assessment, the risk register and findings over HTTP: the REST routes under
//! `/api/v1/assessments`, `/api/v1/risks` and `/api/v1/findings`, and the functions the web
//! pages ([`crate::assessment_pages`]) read and act through, so both follow the same rules.
//!
//! Everything here calls the domain (`focal_assessment`: `ops`, `score`, `apply_change`) and its
//! storage trait, as `focal assess` and `focal risks` do; the store writes the audit entries of
//! every change in the same transaction. Who may call a route is decided in [`crate::access`];
//! here a constituent's user is narrowed to the assessments whose subject is its own
//! constituent (the store filters by it), and sees no other.

use crate::AppState;
use crate::access::Principal;
use crate::api::{ApiError, blocking};
use crate::extract::{Json, Path, Query};
use crate::schema::ErrorBody;
use axum::http::StatusCode;
use axum::{Extension, Router, extract::State, routing};
use focal_assessment::assessment::{
    Answer, AnswerChange, Assessment, AssessmentHeader, EvidenceFile, Status, apply_change,
    due_reassessments,
};
use focal_assessment::framework::Framework;
use focal_assessment::matching::{Finding, FindingChange, FindingStatus};
use focal_assessment::ops;
use focal_assessment::risk::{Control, Risk, Treatment};
use focal_assessment::score::{Comparison, Scorecard, compare, score};
use focal_assessment::store::{AssessmentFilter, FindingFilter, RiskFilter, Storage, StoreError};
use focal_store::Store;
use focal_store::incidents::IncidentStore;
use focal_store::web::Scope;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Most assessments one list answers (each is scored, so the list is bounded).
pub const MAX_ASSESSMENTS: usize = 500;
const MAX_ROWS: usize = 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/assessments", routing::get(api_assessments))
        .route("/api/v1/assessments/{id}", routing::get(api_assessment))
        .route(
            "/api/v1/assessments/{id}/answers",
            routing::post(api_answer),
        )
        .route(
            "/api/v1/assessments/{id}/compare",
            routing::get(api_compare),
        )
        .route("/api/v1/risks", routing::get(api_risks))
        .route(
            "/api/v1/risks/{id}",
            routing::get(api_risk).put(api_update_risk),
        )
        .route("/api/v1/findings", routing::get(api_findings))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => {
                ApiError(StatusCode::NOT_FOUND, format!("there is no {what} {id}"))
            }
            StoreError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
            StoreError::Invalid(m) => ApiError::bad(m),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "assessment store error");
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
}

fn parse_date(name: &str, text: &str) -> Result<Date, ApiError> {
    text.trim()
        .parse::<Date>()
        .map_err(|_| ApiError::bad(format!("{name} {text:?}: expected a date (2026-11-23)")))
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Whether the principal may see this assessment: staff all, a constituent's user only those
/// whose subject is its constituent. Others answer 404, as if they did not exist.
fn visible(scope: &Scope, h: &AssessmentHeader) -> bool {
    match scope.organisation() {
        None => true,
        Some(org) => h.subject.constituent.as_deref() == Some(org),
    }
}

fn load(s: &dyn Storage, scope: &Scope, id: i64) -> Result<Assessment, ApiError> {
    let a = s.assessment(id)?;
    if !visible(scope, &a.header) {
        return Err(ApiError::not_found(&format!("assessment {id}")));
    }
    Ok(a)
}

/// One row of the assessments list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssessmentRow {
    pub id: i64,
    /// `organisation` or `country`.
    pub subject_kind: String,
    pub subject: String,
    /// The constituent the subject is, when it is one.
    pub constituent: Option<String>,
    pub framework_id: String,
    pub framework_version: String,
    pub framework_title: String,
    /// `draft` or `completed`.
    pub status: String,
    /// 0..100 by Focal's stated method; null when nothing applies.
    pub overall: Option<f64>,
    pub band: Option<String>,
    /// When the next assessment is due (completed assessments).
    pub due: Option<String>,
    /// The latest completed assessment of its subject and framework, past its due date.
    pub overdue: bool,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssessmentQuery {
    /// A subject's name.
    pub subject: Option<String>,
    /// A framework id, e.g. `un-ares-57-239`.
    pub framework: Option<String>,
    /// `draft` or `completed`.
    pub status: Option<String>,
    /// Only overdue reassessments.
    pub overdue: Option<bool>,
}

/// The assessments the principal may see, scored, newest first.
pub fn assessment_rows(
    st: &AppState,
    scope: &Scope,
    q: &AssessmentQuery,
) -> Result<Vec<AssessmentRow>, ApiError> {
    let status = nonempty(&q.status)
        .map(|x| Status::parse(x).ok_or_else(|| ApiError::bad("status: draft or completed")))
        .transpose()?;
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    let headers = s.assessments(&AssessmentFilter {
        subject: nonempty(&q.subject).map(str::to_string),
        framework: nonempty(&q.framework).map(str::to_string),
        status,
        constituent: scope.organisation().map(str::to_string),
        ..AssessmentFilter::default()
    })?;
    // Overdue: decided once, by the same rule as `focal assess due` (the latest completed
    // assessment of each subject and framework, past its date).
    let today = today();
    let overdue: std::collections::HashSet<i64> = due_reassessments(&headers, today, today)
        .into_iter()
        .filter(|d| d.overdue)
        .map(|d| d.assessment.id)
        .collect();
    let mut rows = Vec::new();
    let mut frameworks: Vec<Framework> = Vec::new();
    for h in headers.iter().rev() {
        let late = overdue.contains(&h.id);
        if q.overdue == Some(true) && !late {
            continue;
        }
        if rows.len() >= MAX_ASSESSMENTS {
            break;
        }
        let fw = match frameworks
            .iter()
            .find(|f| f.id == h.framework_id && f.version == h.framework_version)
        {
            Some(f) => f.clone(),
            None => {
                let f = ops::framework_of(s, h)?;
                frameworks.push(f.clone());
                f
            }
        };
        let card = score(&fw, &s.assessment(h.id)?);
        rows.push(AssessmentRow {
            id: h.id,
            subject_kind: h.subject.kind.as_str().into(),
            subject: h.subject.name.clone(),
            constituent: h.subject.constituent.clone(),
            framework_id: h.framework_id.clone(),
            framework_version: h.framework_version.clone(),
            framework_title: fw.short_title.clone().unwrap_or_else(|| fw.title.clone()),
            status: h.status.as_str().into(),
            overall: card.overall,
            band: card.band,
            due: h.due.map(|d| d.to_string()),
            overdue: late,
        });
    }
    Ok(rows)
}

#[derive(Serialize, ToSchema)]
pub struct AssessmentList {
    pub assessments: Vec<AssessmentRow>,
}

#[utoipa::path(get, path = "/api/v1/assessments", params(AssessmentQuery), tag = "assessments",
    responses((status = 200, description = "the assessments you may see (a constituent: its own), newest first, with their overall scores", body = AssessmentList),
    (status = 400, description = "a bad filter", body = ErrorBody)))]
async fn api_assessments(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AssessmentQuery>,
) -> Result<Json<AssessmentList>, ApiError> {
    let scope = p.scope();
    let rows = blocking(move || assessment_rows(&state, &scope, &q)).await?;
    Ok(Json(AssessmentList { assessments: rows }))
}

/// An assessment with its framework, scores, ranked gaps and the comparison with the previous
/// completed assessment of the same subject and framework.
pub struct AssessmentView {
    pub assessment: Assessment,
    pub framework: Framework,
    pub card: Scorecard,
    pub comparison: Option<Comparison>,
    pub overdue: bool,
}

/// The standalone report of an assessment the principal may see, as `focal assess export`
/// writes it (`focal_assessment::ops::export_report`).
pub fn export_report(
    st: &AppState,
    scope: &Scope,
    id: i64,
    format: ops::ReportFormat,
) -> Result<String, ApiError> {
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    load(s, scope, id)?;
    Ok(ops::export_report(s, id, format)?)
}

pub fn assessment_view(st: &AppState, scope: &Scope, id: i64) -> Result<AssessmentView, ApiError> {
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    let a = load(s, scope, id)?;
    let fw = ops::framework_of(s, &a.header)?;
    let card = score(&fw, &a);
    let comparison = match ops::previous(s, &a.header)? {
        Some(prev) => {
            let pa = s.assessment(prev.id)?;
            Some(compare(&ops::framework_of(s, &prev)?, &pa, &fw, &a))
        }
        None => None,
    };
    let today = today();
    let overdue = a.header.status == Status::Completed
        && a.header.due.is_some_and(|d| d < today)
        && ops::due(s, today, today)?
            .iter()
            .any(|d| d.overdue && d.assessment.id == id);
    Ok(AssessmentView {
        assessment: a,
        framework: fw,
        card,
        comparison,
        overdue,
    })
}

/// An assessment as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AssessmentDetail {
    /// The assessment: its header (subject, framework, status, dates) and answers.
    #[schema(value_type = Object)]
    pub assessment: serde_json::Value,
    pub framework_title: String,
    /// Whether item texts are the source's words (`verbatim`) or a `summary` of them.
    pub text_kind: String,
    /// Scores per section and overall, the items' scores and the ranked gap list, with the
    /// method stated.
    #[schema(value_type = Object)]
    pub score: serde_json::Value,
    /// What changed since the previous completed assessment of the same subject and framework;
    /// null when there is none.
    #[schema(value_type = Option<Object>)]
    pub comparison_with_previous: Option<serde_json::Value>,
    pub overdue: bool,
}

fn to_value(v: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| {
        tracing::error!(error = %e, "serialising an assessment");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    })
}

#[utoipa::path(get, path = "/api/v1/assessments/{id}", params(("id" = i64, Path, description = "assessment id")), tag = "assessments",
    responses((status = 200, description = "the assessment, its scores per section and overall, the ranked gaps, and the comparison with the previous one", body = AssessmentDetail),
    (status = 400, description = "a bad id", body = ErrorBody), (status = 404, description = "no such assessment (or not yours)", body = ErrorBody)))]
async fn api_assessment(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<AssessmentDetail>, ApiError> {
    let scope = p.scope();
    let v = blocking(move || assessment_view(&state, &scope, id)).await?;
    Ok(Json(AssessmentDetail {
        assessment: to_value(&v.assessment)?,
        framework_title: v.framework.title.clone(),
        text_kind: to_value(&v.framework.source.text_kind)?
            .as_str()
            .unwrap_or_default()
            .to_string(),
        score: to_value(&v.card)?,
        comparison_with_previous: v.comparison.as_ref().map(to_value).transpose()?,
        overdue: v.overdue,
    }))
}

/// One item's answer. Fields left out keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct AnswerBody {
    /// The item (or sub-item) id.
    pub item: String,
    /// A level of the framework's scale, or `n/a`.
    pub level: Option<String>,
    /// Clears the answer's level (unanswered again).
    #[serde(default)]
    pub clear: bool,
    pub evidence: Option<String>,
    /// Evidence links (http or https) to add.
    #[serde(default)]
    pub links: Vec<String>,
    pub owner: Option<String>,
    /// The level aimed for.
    pub target: Option<String>,
    /// The date the target should be reached by (2026-11-23).
    pub target_date: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AnswerResult {
    pub assessment: i64,
    #[schema(value_type = Object)]
    pub answer: serde_json::Value,
    /// The overall score afterwards.
    pub overall: Option<f64>,
}

/// Records one answer, checked against the framework, as `focal assess answer` does; a
/// completed assessment is refused (409), in the store's transaction as well.
pub fn answer_item(
    st: &AppState,
    scope: &Scope,
    actor: &str,
    id: i64,
    body: &AnswerBody,
) -> Result<(Answer, Option<f64>), ApiError> {
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    let a = load(s, scope, id)?;
    if a.header.status == Status::Completed {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("assessment {id} is completed and cannot change; start a new one from it"),
        ));
    }
    let fw = ops::framework_of(s, &a.header)?;
    let target_date = nonempty(&body.target_date)
        .map(|d| parse_date("target_date", d))
        .transpose()?;
    let change = AnswerChange {
        level: if body.clear {
            Some(None)
        } else {
            nonempty(&body.level).map(|l| Some(l.to_string()))
        },
        evidence: body.evidence.clone(),
        add_links: body.links.clone(),
        clear_links: false,
        owner: body
            .owner
            .as_ref()
            .map(|o| Some(o.trim().to_string()).filter(|o| !o.is_empty())),
        target: nonempty(&body.target).map(|t| Some(t.to_string())),
        target_date: target_date.map(Some),
    };
    let answer = apply_change(&fw, body.item.trim(), a.answer(body.item.trim()), &change)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    s.save_answer(id, &answer, actor)?;
    let overall = score(&fw, &s.assessment(id)?).overall;
    Ok((answer, overall))
}

#[utoipa::path(post, path = "/api/v1/assessments/{id}/answers", params(("id" = i64, Path, description = "assessment id")),
    request_body = AnswerBody, tag = "assessments",
    responses((status = 200, description = "the answer as stored, and the overall score afterwards", body = AnswerResult),
    (status = 400, description = "a bad value (an item or level not in the framework)", body = ErrorBody),
    (status = 404, description = "no such assessment (or not yours)", body = ErrorBody),
    (status = 409, description = "the assessment is completed", body = ErrorBody),
    (status = 415, description = "the body is not declared as JSON", body = ErrorBody)))]
async fn api_answer(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Json(body): Json<AnswerBody>,
) -> Result<Json<AnswerResult>, ApiError> {
    let (scope, actor) = (p.scope(), p.actor());
    let (answer, overall) =
        blocking(move || answer_item(&state, &scope, &actor, id, &body)).await?;
    Ok(Json(AnswerResult {
        assessment: id,
        answer: to_value(&answer)?,
        overall,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ComparisonOut {
    pub assessment: i64,
    /// The previous completed assessment of the same subject and framework; null when none.
    pub previous: Option<i64>,
    /// Exactly the items whose answer changed (improved, regressed, other), and the section
    /// and overall deltas; null when there is no previous assessment.
    #[schema(value_type = Option<Object>)]
    pub comparison: Option<serde_json::Value>,
}

#[utoipa::path(get, path = "/api/v1/assessments/{id}/compare", params(("id" = i64, Path, description = "assessment id")), tag = "assessments",
    responses((status = 200, description = "the comparison with the previous completed assessment", body = ComparisonOut),
    (status = 400, description = "a bad id", body = ErrorBody), (status = 404, description = "no such assessment (or not yours)", body = ErrorBody)))]
async fn api_compare(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<ComparisonOut>, ApiError> {
    let scope = p.scope();
    let v = blocking(move || assessment_view(&state, &scope, id)).await?;
    Ok(Json(ComparisonOut {
        assessment: id,
        previous: v.comparison.as_ref().map(|c| c.from),
        comparison: v.comparison.as_ref().map(to_value).transpose()?,
    }))
}

/// A risk with its rating on the stated 5 × 5 scale.
#[derive(Serialize, ToSchema)]
pub struct RiskOut {
    /// The risk: title, asset, threat, vulnerability, likelihood, impact, acceptable level,
    /// treatment, owner, review date, controls.
    #[schema(value_type = Object)]
    pub risk: serde_json::Value,
    /// Level (likelihood × impact, 1-25), band, and whether it is above the acceptable level.
    #[schema(value_type = Object)]
    pub rating: serde_json::Value,
}

pub fn risk_out(r: &Risk) -> Result<RiskOut, ApiError> {
    Ok(RiskOut {
        risk: to_value(r)?,
        rating: to_value(&r.draft.rating())?,
    })
}

#[derive(Serialize, ToSchema)]
pub struct RiskList {
    pub risks: Vec<RiskOut>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RiskQuery {
    /// An asset id.
    pub asset: Option<String>,
    /// Only risks whose review is due on or before this date.
    pub review_due_by: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

fn bounded(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(MAX_ROWS),
        Some(n) if (1..=MAX_ROWS).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad(format!("limit: 1 to {MAX_ROWS}"))),
    }
}

pub fn list_risks(st: &AppState, q: &RiskQuery) -> Result<Vec<Risk>, ApiError> {
    let filter = RiskFilter {
        asset: nonempty(&q.asset).map(str::to_string),
        review_due_by: nonempty(&q.review_due_by)
            .map(|d| parse_date("review_due_by", d))
            .transpose()?,
        limit: Some(bounded(q.limit)?),
    };
    Ok(st.store.assessment().risks(&filter)?)
}

#[utoipa::path(get, path = "/api/v1/risks", params(RiskQuery), tag = "risks",
    responses((status = 200, description = "the risk register with each risk's rating", body = RiskList),
    (status = 400, description = "a bad filter", body = ErrorBody)))]
async fn api_risks(
    State(state): State<AppState>,
    Query(q): Query<RiskQuery>,
) -> Result<Json<RiskList>, ApiError> {
    let risks = blocking(move || list_risks(&state, &q)).await?;
    Ok(Json(RiskList {
        risks: risks.iter().map(risk_out).collect::<Result<_, _>>()?,
    }))
}

#[utoipa::path(get, path = "/api/v1/risks/{id}", params(("id" = i64, Path, description = "risk id")), tag = "risks",
    responses((status = 200, description = "the risk and its rating", body = RiskOut),
    (status = 400, description = "a bad id", body = ErrorBody), (status = 404, description = "no such risk", body = ErrorBody)))]
async fn api_risk(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RiskOut>, ApiError> {
    let r = blocking(move || Ok(state.store.assessment().risk(id)?)).await?;
    Ok(Json(risk_out(&r)?))
}

/// A change to a risk; fields left out keep their value.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RiskChange {
    pub title: Option<String>,
    pub description: Option<String>,
    /// 1-5.
    pub likelihood: Option<u8>,
    /// 1-5.
    pub impact: Option<u8>,
    /// The highest level (1-25) accepted without treatment.
    pub acceptable: Option<u8>,
    /// accept, mitigate, transfer or avoid.
    pub treatment: Option<String>,
    /// The owner; empty to clear.
    pub owner: Option<String>,
    /// The next review date (2026-11-23); empty to clear.
    pub review_due: Option<String>,
    /// Controls to add, as FRAMEWORK:ITEM (e.g. `nist-csf-2.0:PR.PS`).
    #[serde(default)]
    pub add_controls: Vec<String>,
}

/// Applies a change to a risk, checked as `focal risks update` checks it
/// (`focal_assessment::ops::check_risk`), and stores it with its audit entry.
pub fn update_risk(st: &AppState, actor: &str, id: i64, c: &RiskChange) -> Result<Risk, ApiError> {
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    let mut d = s.risk(id)?.draft;
    if let Some(t) = &c.title {
        d.title = t.trim().to_string();
    }
    if let Some(t) = &c.description {
        d.description = t.clone();
    }
    if let Some(v) = c.likelihood {
        d.likelihood = v;
    }
    if let Some(v) = c.impact {
        d.impact = v;
    }
    if let Some(v) = c.acceptable {
        d.acceptable = v;
    }
    if let Some(t) = nonempty(&c.treatment) {
        d.treatment = Treatment::parse(t).ok_or_else(|| {
            ApiError::bad(format!(
                "treatment {t:?}: use accept, mitigate, transfer or avoid"
            ))
        })?;
    }
    if let Some(o) = &c.owner {
        let o = o.trim();
        if o.len() > 256 {
            return Err(ApiError::bad("owner: at most 256 bytes"));
        }
        d.owner = (!o.is_empty()).then(|| o.to_string());
    }
    if let Some(r) = &c.review_due {
        d.review_due = if r.trim().is_empty() {
            None
        } else {
            Some(parse_date("review_due", r)?)
        };
    }
    for text in &c.add_controls {
        let (framework, item) = text
            .split_once(':')
            .ok_or_else(|| ApiError::bad(format!("control {text:?}: use FRAMEWORK:ITEM")))?;
        let control = Control {
            framework: framework.trim().into(),
            item: item.trim().into(),
        };
        if !d.controls.contains(&control) {
            d.controls.push(control);
        }
    }
    ops::check_risk(s, &d)?;
    Ok(s.update_risk(id, &d, actor)?)
}

#[utoipa::path(put, path = "/api/v1/risks/{id}", params(("id" = i64, Path, description = "risk id")),
    request_body = RiskChange, tag = "risks",
    responses((status = 200, description = "the risk afterwards, with its rating", body = RiskOut),
    (status = 400, description = "a bad value", body = ErrorBody), (status = 404, description = "no such risk (or framework of a control)", body = ErrorBody),
    (status = 415, description = "the body is not declared as JSON", body = ErrorBody)))]
async fn api_update_risk(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Json(body): Json<RiskChange>,
) -> Result<Json<RiskOut>, ApiError> {
    let actor = p.actor();
    let r = blocking(move || update_risk(&state, &actor, id, &body)).await?;
    Ok(Json(risk_out(&r)?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// open, in_progress, resolved, accepted or false_positive (default: every status).
    pub status: Option<String>,
    /// An asset id.
    pub asset: Option<String>,
    /// An organisation.
    pub organisation: Option<String>,
    /// An imported advisory's id.
    pub advisory: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// Findings to skip first (worst first, then oldest), to read the next page.
    #[param(minimum = 0)]
    pub offset: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct FindingList {
    /// Findings (one per advisory × vulnerability × asset × package) with severity, status,
    /// remediation and linked risks and incidents.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
}

#[utoipa::path(get, path = "/api/v1/findings", params(FindingQuery), tag = "risks",
    responses((status = 200, description = "findings of advisories matched against the assets", body = FindingList),
    (status = 400, description = "a bad filter", body = ErrorBody)))]
async fn api_findings(
    State(state): State<AppState>,
    Query(q): Query<FindingQuery>,
) -> Result<Json<FindingList>, ApiError> {
    let status = match nonempty(&q.status) {
        Some(x) => vec![FindingStatus::parse(x).ok_or_else(|| {
            ApiError::bad(format!(
                "status {x:?}: open, in_progress, resolved, accepted or false_positive"
            ))
        })?],
        None => vec![],
    };
    let filter = FindingFilter {
        status,
        asset: nonempty(&q.asset).map(str::to_string),
        organisation: nonempty(&q.organisation).map(str::to_string),
        advisory: q.advisory,
        min_rating: None,
        limit: Some(bounded(q.limit)?),
        offset: q.offset.unwrap_or(0),
    };
    let list = blocking(move || Ok(state.store.assessment().findings(&filter)?)).await?;
    Ok(Json(FindingList {
        findings: list.iter().map(to_value).collect::<Result<_, _>>()?,
    }))
}

/// A person's change to a finding's status or resolution, applied by the store's
/// `update_finding` (which checks the move and audits it) as `focal vulns finding ID --status`
/// is. An empty status leaves it as it is.
/// A change to a finding from the web form: any of its fields may be left empty.
#[derive(Debug, Default)]
pub struct FindingEdit<'a> {
    pub status: Option<&'a str>,
    pub resolution: Option<&'a str>,
    /// The remediation due date (2026-12-31), or `-` to clear it.
    pub due: Option<&'a str>,
    /// A risk of the register to link the finding to.
    pub risk: Option<&'a str>,
    /// An incident to link the finding to.
    pub incident: Option<&'a str>,
}

fn linked_id(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    match text.map(str::trim).filter(|x| !x.is_empty()) {
        None => Ok(None),
        Some(x) => x
            .trim_start_matches('#')
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad(format!("{name} {x:?}: expected the number of a {name}"))),
    }
}

pub fn change_finding(
    st: &AppState,
    actor: &str,
    id: i64,
    edit: &FindingEdit<'_>,
) -> Result<Finding, ApiError> {
    let status = match edit.status.map(str::trim).filter(|x| !x.is_empty()) {
        Some(x) => Some(FindingStatus::parse(x).ok_or_else(|| {
            ApiError::bad(format!(
                "status {x:?}: open, in_progress, resolved, accepted or false_positive"
            ))
        })?),
        None => None,
    };
    let resolution = edit.resolution.map(str::trim).filter(|x| !x.is_empty());
    if resolution.is_some_and(|r| r.len() > 4096) {
        return Err(ApiError::bad("resolution: at most 4096 bytes"));
    }
    let due = match edit.due.map(str::trim).filter(|x| !x.is_empty()) {
        None => None,
        Some("-") => Some(None),
        Some(d) => Some(Some(parse_date("due", d)?)),
    };
    let add_risk = linked_id("risk", edit.risk)?;
    let add_incident = linked_id("incident", edit.incident)?;
    // Incidents are another domain's: the finding's store cannot check the link, so it is
    // checked here, before anything is written.
    if let Some(n) = add_incident
        && st.store.incident(n)?.is_none()
    {
        return Err(ApiError::not_found(&format!("incident {n}")));
    }
    let change = FindingChange {
        status,
        resolution: resolution.map(str::to_string),
        due,
        add_risk,
        add_incident,
    };
    Ok(st.store.assessment().update_finding(id, &change, actor)?)
}

/// Attaches a file to an item of a draft assessment as evidence, within the principal's scope.
pub fn attach_evidence(
    st: &AppState,
    scope: &Scope,
    actor: &str,
    id: i64,
    item: &str,
    file_name: &str,
    content: &[u8],
) -> Result<EvidenceFile, ApiError> {
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    let a = load(s, scope, id)?;
    if a.header.status == Status::Completed {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("assessment {id} is completed and cannot change; start a new one from it"),
        ));
    }
    let fw = ops::framework_of(s, &a.header)?;
    let item = item.trim();
    if fw.leaf(item).is_none() {
        return Err(ApiError::bad(format!(
            "item {item:?}: not an answerable item of {}",
            fw.id
        )));
    }
    Ok(s.add_evidence_file(id, item, &evidence_name(file_name), content, actor)?)
}

/// The name an uploaded file is kept under: its last path component (browsers on some systems
/// send a whole path), without control characters, at most 200 characters.
fn evidence_name(sent: &str) -> String {
    let last = sent.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "evidence".to_string()
    } else {
        clean.to_string()
    }
}

/// An evidence file of an assessment the principal may see, with its content.
pub fn evidence_download(
    st: &AppState,
    scope: &Scope,
    id: i64,
    file: i64,
) -> Result<(EvidenceFile, Vec<u8>), ApiError> {
    let store = st.store.assessment();
    let s: &dyn Storage = &*store;
    let a = load(s, scope, id)?;
    if !a.files.iter().any(|f| f.id == file) {
        return Err(ApiError::not_found(&format!(
            "evidence file {file} of assessment {id}"
        )));
    }
    Ok(s.evidence_file(file)?)
}

/// The assessment routes' part of the OpenAPI document (merged into `crate::api::ApiDoc`'s).
#[derive(OpenApi)]
#[openapi(
    paths(
        api_assessments,
        api_assessment,
        api_answer,
        api_compare,
        api_risks,
        api_risk,
        api_update_risk,
        api_findings
    ),
    components(schemas(
        AssessmentRow,
        AssessmentList,
        AssessmentDetail,
        AnswerBody,
        AnswerResult,
        ComparisonOut,
        RiskOut,
        RiskList,
        RiskChange,
        FindingList
    ))
)]
pub struct AssessDoc;

#[cfg(test)]
mod tests {
    use super::evidence_name;

    #[test]
    fn uploaded_file_names_keep_only_their_last_component() {
        assert_eq!(evidence_name("C:\\Users\\a\\policy.pdf"), "policy.pdf");
        assert_eq!(evidence_name("../../etc/passwd"), "passwd");
        assert_eq!(evidence_name("a\u{7}b.txt"), "ab.txt");
        assert_eq!(evidence_name(".."), "evidence");
        assert_eq!(evidence_name(""), "evidence");
        assert_eq!(evidence_name(&"x".repeat(300)).len(), 200);
    }
}
