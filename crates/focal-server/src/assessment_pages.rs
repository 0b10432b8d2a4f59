//! The web pages of self-assessment and the risk register: the assessments list, an assessment
//! (scores per section, ranked gaps, an answer form per item, the comparison with the previous
//! one), the risks list and a risk, and the dashboard's card of overdue reassessments. They read
//! and act through [`crate::assessments`], the functions the REST API uses, so the scope and
//! audit rules are the same; like the rest of the UI they are server-rendered with `maud` and
//! carry the session's CSRF token in every form.

use crate::AppState;
use crate::access::{Need, Principal};
use crate::api::{ApiError, blocking};
use crate::assessments::{
    self as asm, AnswerBody, AssessmentQuery, AssessmentRow, AssessmentView, RiskQuery,
};
use crate::extract::PagePath as Path;
use crate::ui::{enc, layout};
use axum::body::Body;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_assessment::advisory::Rating;
use focal_assessment::assessment::Status;
use focal_assessment::framework::{NOT_APPLICABLE, TextKind};
use focal_assessment::matching::FindingStatus;
use focal_assessment::ops;
use focal_assessment::store::FindingFilter;
use focal_store::web::Scope;
use maud::{Markup, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assessments", routing::get(assessments))
        .route("/assessments/{id}", routing::get(assessment))
        .route("/assessments/{id}/answer", routing::post(answer))
        .route("/assessments/{id}/report", routing::get(report))
        .route(
            "/assessments/{id}/files/{file}",
            routing::get(evidence_file),
        )
        .route("/risks", routing::get(risks))
        .route("/risks/{id}", routing::get(risk))
        .route("/risks/{id}/edit", routing::post(edit_risk))
        .route("/findings", routing::get(findings))
        .route("/findings/{id}", routing::post(change_finding))
}

fn respond(p: &Principal, r: Result<Html<String>, ApiError>) -> Response {
    match r {
        Ok(h) => h.into_response(),
        Err(e) => (e.0, layout("Problem", Some(p), html! { p.error { (e.1) } })).into_response(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "n/a".into())
}

fn rows_table(rows: &[AssessmentRow], id: &str) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "#" } th { "Subject" } th { "Framework" } th { "Status" } th { "Overall" } th { "Reassessment due" } } }
            tbody { @for r in rows { tr {
                td { a href=(format!("/assessments/{}", r.id)) { (r.id) } }
                td { a href=(format!("/assessments/{}", r.id)) { (r.subject) } " (" (r.subject_kind) ")" }
                td { (r.framework_title) " " small { (r.framework_id) " " (r.framework_version) } }
                td { (r.status) }
                td.num { (pct(r.overall)) @if let Some(b) = &r.band { " " small { (b) } } }
                td.nowrap {
                    (r.due.clone().unwrap_or_else(|| "-".into()))
                    @if r.overdue { " " span.status.bad { "overdue" } }
                }
            } } }
        }
    }
}

/// The dashboard's card: overdue reassessments the principal may see (none: no card).
pub fn overdue_card(st: &AppState, scope: &Scope) -> Result<Option<Markup>, ApiError> {
    let rows = asm::assessment_rows(
        st,
        scope,
        &AssessmentQuery {
            overdue: Some(true),
            ..AssessmentQuery::default()
        },
    )?;
    Ok((!rows.is_empty()).then(|| {
        html! {
            section.card #overdue-reassessments {
                h2 { "Overdue reassessments" }
                ul { @for r in &rows { li {
                    a href=(format!("/assessments/{}", r.id)) { (r.subject) }
                    " · " (r.framework_title) " · due " (r.due.clone().unwrap_or_default())
                    " " span.status.bad { "overdue" }
                } } }
                p { a href="/assessments?overdue=true" { "All overdue reassessments" } }
            }
        }
    }))
}

async fn assessments(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AssessmentQuery>,
) -> Response {
    let scope = p.scope();
    let only_overdue = q.overdue == Some(true);
    let r = blocking(move || asm::assessment_rows(&state, &scope, &q))
        .await
        .map(|rows| {
            layout(
                "Assessments",
                Some(&p),
                html! {
                    p.note { "Self-assessments against frameworks kept as data (" code { "frameworks/" } "), scored by Focal's stated method. "
                        @if only_overdue { a href="/assessments" { "Show all" } } @else { a href="/assessments?overdue=true" { "Only overdue reassessments" } } }
                    @if rows.is_empty() { p { "No assessment yet. Start one with " code { "focal assess new" } "." } }
                    @else { (rows_table(&rows, "assessments")) }
                },
            )
        });
    respond(&p, r)
}

fn level_label(v: &AssessmentView, level: Option<&str>) -> String {
    match level {
        None => "unanswered".into(),
        Some(l) if l == NOT_APPLICABLE => "n/a".into(),
        Some(l) => v
            .framework
            .level(l)
            .map(|x| x.label.clone())
            .unwrap_or_else(|| l.to_string()),
    }
}

#[derive(serde::Deserialize)]
struct Saved {
    saved: Option<String>,
}

async fn assessment(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Query(saved): Query<Saved>,
) -> Response {
    let scope = p.scope();
    let r = blocking(move || asm::assessment_view(&state, &scope, id))
        .await
        .map(|v| assessment_page(&p, id, &v, saved.saved.as_deref()));
    respond(&p, r)
}

fn assessment_page(
    p: &Principal,
    id: i64,
    v: &AssessmentView,
    saved: Option<&str>,
) -> Html<String> {
    let h = &v.assessment.header;
    let f = &v.framework;
    let card = &v.card;
    let editable = h.status == Status::Draft && p.can(Need::Act);
    layout(
        &format!("Assessment {id}: {}", h.subject.name),
        Some(p),
        html! {
            @if let Some(item) = saved { p.notice #saved { "Saved the answer to item " (item) "." } }
            dl.facts {
                dt { "Subject" } dd { (h.subject.name) " (" (h.subject.kind.as_str()) ")"
                    @if let Some(c) = &h.subject.constituent { " · constituent " (c) } }
                dt { "Framework" } dd { (f.title) " · " code { (f.id) " " (f.version) } }
                dt { "Status" } dd #status { (h.status.as_str()) }
                dt { "Overall" } dd #overall { (pct(card.overall)) @if let Some(b) = &card.band { " · " (b) } }
                dt { "Answered" } dd { (card.answered) " of " (card.items_total) " (" (card.not_applicable) " n/a)" }
                @if let Some(d) = h.due { dt { "Reassessment due" } dd { (d.to_string())
                    @if v.overdue { " " span.status.bad #overdue { "overdue" } } } }
            }
            p.note { "A self-assessment: not an ITU GCI score or a GCSCC CMM review. " (card.method) }
            p #exports { "Report: "
                a #export-html href=(format!("/assessments/{id}/report?format=html")) download=(format!("assessment-{id}.html")) { "standalone HTML" } " · "
                a #export-json href=(format!("/assessments/{id}/report?format=json")) download=(format!("assessment-{id}.json")) { "JSON" }
                " (as " code { "focal assess export " (id) } " writes them) · "
                a href=(format!("/api/v1/assessments/{id}")) { "API" } }
            section.card.wide { h2 { "Scores per section" }
                table #sections { thead { tr { th { "Section" } th { "Score" } th {} th { "Answered" } th { "Weight" } } }
                    tbody { @for s in &card.sections { tr {
                        td { (s.section) " " (s.title) }
                        td.num { (pct(s.score)) @if let Some(l) = s.level_equivalent { " " small { "(level " (format!("{l:.1}")) ")" } } }
                        td { meter min="0" max="100" value=(s.score.unwrap_or(0.0)) {} }
                        td.num { (s.answered) "/" (s.applicable) }
                        td.num { (s.weight) }
                    } } }
                }
            }
            section.card.wide { h2 { "Gaps, ranked by the points each would add" }
                @if card.gaps.is_empty() { p { "No gap: every applicable item is at its target." } }
                @else {
                    table #gaps { thead { tr { th { "Rank" } th { "Item" } th { "Answer" } th { "Target" } th { "Points" } th { "Owner" } } }
                        tbody { @for g in &card.gaps { tr {
                            td.num { (g.rank) }
                            td { a href=(format!("#item-{}", enc(&g.item))) { (g.item) } " " (g.title.chars().take(90).collect::<String>()) }
                            td { (level_label(v, g.answer.as_deref())) }
                            td { (level_label(v, Some(&g.target))) }
                            td.num { (format!("{:.1}", g.points)) }
                            td { (g.owner.clone().unwrap_or_default()) }
                        } } }
                    }
                }
            }
            section.card.wide #comparison { h2 { "Compared with the previous assessment" }
                @match &v.comparison {
                    None => p { "No earlier completed assessment of this subject against this framework." },
                    Some(c) => {
                        p { "Assessment " a href=(format!("/assessments/{}", c.from)) { (c.from) } ": overall "
                            (pct(c.overall_before)) " → " (pct(c.overall_after))
                            @if let Some(d) = c.overall_delta { " (" (format!("{d:+.1}")) ")" } }
                        @if c.improved.is_empty() && c.regressed.is_empty() && c.other_changes.is_empty() { p { "No answer changed." } }
                        @else {
                            table { thead { tr { th { "Change" } th { "Item" } th { "Before" } th { "After" } } }
                                tbody {
                                    @for (label, list) in [("improved", &c.improved), ("regressed", &c.regressed), ("changed", &c.other_changes)] {
                                        @for ch in list { tr {
                                            td { span class=(if label == "regressed" { "status bad" } else if label == "improved" { "status good" } else { "status" }) { (label) } }
                                            td { (ch.item) }
                                            td { (level_label(v, ch.before.as_deref())) }
                                            td { (level_label(v, ch.after.as_deref())) }
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Items" }
            @if !editable && h.status == Status::Completed { p.note { "Completed assessments do not change; the next one starts from a copy (" code { "focal assess new" } ")." } }
            table #items { thead { tr { th { "Item" } th { "Text" } th { "Answer" } @if editable { th { "Change" } } } }
                tbody { @for leaf in f.leaves() {
                    @let item = leaf.item;
                    @let ans = v.assessment.answer(&item.id);
                    @let kind = item.text_kind.or(leaf.parent.and_then(|x| x.text_kind)).unwrap_or(f.source.text_kind);
                    tr id=(format!("item-{}", item.id)) {
                        td { strong { (item.id) } @if let Some(t) = &item.title { br; (t) } }
                        td { @if kind == TextKind::Verbatim { q { (item.text) } } @else { "Summary of the source: " (item.text) } }
                        td.nowrap { span class="answer" { (level_label(v, ans.and_then(|a| a.level.as_deref()))) }
                            @if let Some(o) = ans.and_then(|a| a.owner.as_deref()) { br; small { "owner " (o) } }
                            @if let Some(e) = ans.map(|a| a.evidence.as_str()).filter(|e| !e.is_empty()) { br; small { (e.chars().take(80).collect::<String>()) } }
                            @for link in ans.map(|a| a.links.as_slice()).unwrap_or_default() {
                                br; small.evidence-link { a href=(link) rel="noopener noreferrer nofollow" { (link.chars().take(60).collect::<String>()) } } }
                            @for file in v.assessment.files.iter().filter(|f| f.item == item.id) {
                                br; small.evidence-file { a href=(format!("/assessments/{id}/files/{}", file.id)) download=(file.name) { (file.name) } " (" (file.size) " bytes)" } } }
                        @if editable { td {
                            form.inline method="post" enctype="multipart/form-data" action=(format!("/assessments/{id}/answer")) {
                                input type="hidden" name="csrf" value=(p.csrf());
                                input type="hidden" name="item" value=(item.id);
                                select name="level" id=(format!("level-{}", item.id)) {
                                    option value="" { "(unanswered)" }
                                    @for l in &f.scale.levels {
                                        option value=(l.id) selected[ans.and_then(|a| a.level.as_deref()) == Some(l.id.as_str())] { (l.label) }
                                    }
                                    option value=(NOT_APPLICABLE) selected[ans.and_then(|a| a.level.as_deref()) == Some(NOT_APPLICABLE)] { "n/a" }
                                }
                                input type="text" name="evidence" placeholder="evidence" value=(ans.map(|a| a.evidence.clone()).unwrap_or_default());
                                input type="text" name="owner" placeholder="owner" size="10" value=(ans.and_then(|a| a.owner.clone()).unwrap_or_default());
                                input type="url" name="link" placeholder="evidence link (https://…)" aria-label="evidence link" id=(format!("link-{}", item.id));
                                input type="file" name="file" aria-label="evidence file" id=(format!("file-{}", item.id));
                                button type="submit" id=(format!("save-{}", item.id)) { "Save" }
                            }
                        } }
                    }
                } }
            }
        },
    )
}

#[derive(serde::Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

/// The standalone report as a download, the bytes `focal assess export ID --format html|json`
/// writes.
async fn report(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> Response {
    let text = q.format.as_deref().unwrap_or("html");
    let Some(format) = ops::ReportFormat::parse(text) else {
        return respond(
            &p,
            Err(ApiError::bad(format!("format {text:?}: use html or json"))),
        );
    };
    let scope = p.scope();
    match blocking(move || asm::export_report(&state, &scope, id, format)).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, format.media_type().to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"assessment-{id}.{}\"",
                        format.extension()
                    ),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => respond(&p, Err(e)),
    }
}

/// The answer form's fields: sent as multipart (it carries an evidence file) or, from other
/// clients, URL-encoded.
#[derive(Default)]
struct AnswerForm {
    item: String,
    level: Option<String>,
    evidence: Option<String>,
    owner: Option<String>,
    link: Option<String>,
    /// The evidence file chosen, with the name the browser gave it.
    file: Option<(String, bytes::Bytes)>,
}

impl AnswerForm {
    async fn read(headers: &HeaderMap, body: Body) -> Result<AnswerForm, ApiError> {
        let (limit, too_large) = crate::access::body_limit("/assessments/{id}/answer");
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| ApiError(StatusCode::PAYLOAD_TOO_LARGE, too_large.to_string()))?;
        let mut form = AnswerForm::default();
        if crate::multipart::is_multipart(headers) {
            let parts = crate::multipart::parts(headers, bytes)
                .await
                .map_err(ApiError::bad)?;
            for part in parts {
                if part.name == "file" {
                    if !part.data.is_empty() {
                        let name = part.file_name.clone().unwrap_or_default();
                        form.file = Some((name, part.data));
                    }
                    continue;
                }
                let text = String::from_utf8(part.data.to_vec())
                    .map_err(|_| ApiError::bad(format!("{}: not UTF-8 text", part.name)))?;
                form.set(&part.name, text);
            }
        } else {
            for (name, value) in crate::access::serde_urlencoded_pairs(&bytes) {
                form.set(&name, value);
            }
        }
        if form.item.trim().is_empty() {
            return Err(ApiError::bad(
                "item: which item the answer is for is missing",
            ));
        }
        Ok(form)
    }

    fn set(&mut self, name: &str, value: String) {
        match name {
            "item" => self.item = value,
            "level" => self.level = Some(value),
            "evidence" => self.evidence = Some(value),
            "owner" => self.owner = Some(value),
            "link" => self.link = Some(value),
            _ => {}
        }
    }
}

async fn answer(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let f = match AnswerForm::read(&headers, body).await {
        Ok(f) => f,
        Err(e) => return respond(&p, Err(e)),
    };
    let (scope, actor) = (p.scope(), p.actor());
    let item = f.item.clone();
    let answer = AnswerBody {
        item: f.item,
        clear: f.level.as_deref().is_some_and(|l| l.trim().is_empty()),
        level: f.level,
        evidence: f.evidence,
        owner: f.owner,
        links: f
            .link
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .into_iter()
            .collect(),
        ..AnswerBody::default()
    };
    let file = f.file;
    if let Some((name, content)) = &file
        && content.len() > focal_assessment::assessment::MAX_FILE_BYTES
    {
        return respond(
            &p,
            Err(ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "{name}: {} bytes; an evidence file may have at most 10 MiB",
                    content.len()
                ),
            )),
        );
    }
    let saved = blocking(move || {
        // The answer is checked and saved first, so a refused answer attaches no file.
        asm::answer_item(&state, &scope, &actor, id, &answer)?;
        if let Some((name, content)) = &file {
            asm::attach_evidence(&state, &scope, &actor, id, &answer.item, name, content)?;
        }
        Ok(())
    })
    .await;
    match saved {
        Ok(()) => Redirect::to(&format!(
            "/assessments/{id}?saved={}#item-{}",
            enc(&item),
            enc(&item)
        ))
        .into_response(),
        Err(e) => respond(&p, Err(e)),
    }
}

/// An evidence file, as a download: never shown inline, whatever its type.
async fn evidence_file(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((id, file)): Path<(i64, i64)>,
) -> Response {
    let scope = p.scope();
    match blocking(move || asm::evidence_download(&state, &scope, id, file)).await {
        Ok((meta, content)) => {
            let ascii: String = meta
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{ascii}\""),
                    ),
                ],
                content,
            )
                .into_response()
        }
        Err(e) => respond(&p, Err(e)),
    }
}

async fn risks(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<RiskQuery>,
) -> Response {
    let r = blocking(move || asm::list_risks(&state, &q))
        .await
        .map(|list| {
            layout(
                "Risks",
                Some(&p),
                html! {
                    p.note { "Likelihood × impact on a 5 × 5 scale (level 1-25; low 1-4, medium 5-9, high 10-16, critical 17-25)." }
                    @if list.is_empty() { p { "The register is empty. Add risks with " code { "focal risks add" } "." } }
                    @else {
                        table #risks { thead { tr { th { "#" } th { "Risk" } th { "Asset" } th { "Level" } th { "Acceptable" } th { "Treatment" } th { "Owner" } th { "Review" } } }
                            tbody { @for r in &list {
                                @let rating = r.draft.rating();
                                tr {
                                    td { a href=(format!("/risks/{}", r.id)) { (r.id) } }
                                    td { a href=(format!("/risks/{}", r.id)) { (r.draft.title) } }
                                    td { (r.draft.asset.clone().unwrap_or_default()) }
                                    td.num { (r.draft.likelihood) " × " (r.draft.impact) " = " (rating.level) " " span class=(if rating.exceeds_appetite { "status bad" } else { "status" }) { (rating.band) } }
                                    td.num { (rating.acceptable) }
                                    td { (r.draft.treatment.as_str()) }
                                    td { (r.draft.owner.clone().unwrap_or_default()) }
                                    td.nowrap { (r.draft.review_due.map(|d| d.to_string()).unwrap_or_default()) }
                                }
                            } }
                        }
                    }
                },
            )
        });
    respond(&p, r)
}

async fn risk(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Query(saved): Query<Saved>,
) -> Response {
    let editable = p.can(Need::Manage);
    let r = blocking(move || {
        use focal_store::Store;
        Ok(state.store.assessment().risk(id)?)
    })
        .await
        .map(|r| {
            let d = &r.draft;
            let rating = d.rating();
            layout(
                &format!("Risk {id}: {}", d.title),
                Some(&p),
                html! {
                    @if saved.saved.is_some() { p.notice #saved { "Saved the change." } }
                    dl.facts {
                        dt { "Description" } dd { (d.description) }
                        dt { "Asset" } dd { (d.asset.clone().unwrap_or_else(|| "-".into())) }
                        dt { "Likelihood × impact" } dd #level { (d.likelihood) " × " (d.impact) " = " (rating.level) " (" (rating.band) ")" }
                        dt { "Acceptable level" } dd { (d.acceptable)
                            @if rating.exceeds_appetite { " " span.status.bad { "above appetite" } } }
                        dt { "Treatment" } dd { (d.treatment.as_str()) }
                        dt { "Owner" } dd { (d.owner.clone().unwrap_or_else(|| "-".into())) }
                        dt { "Review due" } dd { (d.review_due.map(|x| x.to_string()).unwrap_or_else(|| "-".into())) }
                        dt { "Controls" } dd { @for c in &d.controls { code { (c.framework) ":" (c.item) } " " } }
                        dt { "Updated" } dd { (r.updated_at.strftime("%Y-%m-%d %H:%M").to_string()) }
                    }
                    p { a href=(format!("/api/v1/risks/{id}")) { "As JSON" } " · changes also through " code { "PUT /api/v1/risks/" (id) } " or " code { "focal risks update " (id) } }
                    @if editable {
                        section.card.wide #edit { h2 { "Change" }
                            form method="post" action=(format!("/risks/{id}/edit")) {
                                input type="hidden" name="csrf" value=(p.csrf());
                                dl.facts {
                                    dt { label for="title" { "Title" } } dd { input #title type="text" name="title" size="60" value=(d.title); }
                                    dt { label for="description" { "Description" } } dd { textarea #description name="description" rows="3" cols="60" { (d.description) } }
                                    dt { label for="likelihood" { "Likelihood (1-5)" } } dd { input #likelihood type="number" name="likelihood" min="1" max="5" value=(d.likelihood); }
                                    dt { label for="impact" { "Impact (1-5)" } } dd { input #impact type="number" name="impact" min="1" max="5" value=(d.impact); }
                                    dt { label for="acceptable" { "Acceptable level (1-25)" } } dd { input #acceptable type="number" name="acceptable" min="1" max="25" value=(d.acceptable); }
                                    dt { label for="treatment" { "Treatment" } } dd { select #treatment name="treatment" {
                                        @for t in ["accept", "mitigate", "transfer", "avoid"] { option value=(t) selected[d.treatment.as_str() == t] { (t) } } } }
                                    dt { label for="owner" { "Owner" } } dd { input #owner type="text" name="owner" value=(d.owner.clone().unwrap_or_default()); }
                                    dt { label for="review_due" { "Review due" } } dd { input #review_due type="date" name="review_due" value=(d.review_due.map(|x| x.to_string()).unwrap_or_default()); }
                                    dt { label for="add_control" { "Add a control" } } dd { input #add_control type="text" name="add_control" size="40" placeholder="FRAMEWORK:ITEM, e.g. nist-csf-2.0:PR.PS"; }
                                }
                                button #save-risk type="submit" { "Save" }
                            }
                        }
                    }
                },
            )
        });
    respond(&p, r)
}

#[derive(serde::Deserialize)]
struct FindingsQuery {
    status: Option<String>,
    saved: Option<i64>,
    /// Findings to skip: the page starts after them.
    offset: Option<usize>,
}

/// Findings per page.
const FINDINGS_PAGE: usize = 200;

/// Vulnerability findings (staff), worst first, with a form per finding to move it or say what
/// was done, for those who may (`Need::Manage`).
async fn findings(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<FindingsQuery>,
) -> Response {
    let status = match q.status.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        None => vec![],
        Some(x) => match FindingStatus::parse(x) {
            Some(s) => vec![s],
            None => {
                return respond(
                    &p,
                    Err(ApiError::bad(format!(
                        "status {x:?}: open, in_progress, resolved, accepted or false_positive"
                    ))),
                );
            }
        },
    };
    let shown = q.status.clone().unwrap_or_default();
    let offset = q.offset.unwrap_or(0);
    // One more than a page tells whether there is a next one.
    let filter = FindingFilter {
        status,
        limit: Some(FINDINGS_PAGE + 1),
        offset,
        ..FindingFilter::default()
    };
    let editable = p.can(Need::Manage);
    let r = blocking(move || {
        use focal_store::Store;
        Ok(state.store.assessment().findings(&filter)?)
    })
    .await
    .map(|mut list| {
        // Worst first, in the store's order, so pages follow one another.
        let more = list.len() > FINDINGS_PAGE;
        list.truncate(FINDINGS_PAGE);
        let page_link = |at: usize| {
            let mut link = format!("/findings?offset={at}");
            if !shown.is_empty() {
                link.push_str(&format!("&status={}", enc(&shown)));
            }
            link
        };
        layout(
            "Findings",
            Some(&p),
            html! {
                @if let Some(id) = q.saved { p.notice #saved { "Saved finding " (id) "." } }
                p.note { "Imported advisories (" code { "focal vulns import" } ", CSAF 2.0 or OSV) matched against the assets' software, worst first, " (FINDINGS_PAGE) " a page. Status: "
                    a href="/findings" { "all" }
                    @for st in FindingStatus::ALL { " · " a href=(format!("/findings?status={}", st.as_str())) { (st.as_str()) } } }
                @if list.is_empty() { p { "No finding" @if !shown.is_empty() { " with status " (shown) } "." } }
                @else {
                    table #findings { thead { tr { th { "#" } th { "Severity" } th { "Asset" } th { "Advisory" } th { "Package" } th { "Status" } th { "Resolution, due, links" } @if editable { th { "Change" } } } }
                        tbody { @for f in &list {
                            @let d = &f.draft;
                            tr id=(format!("finding-{}", f.id)) {
                                td.num { (f.id) }
                                td { span class=(if d.severity.rating >= Rating::High { "status bad" } else { "status" }) { (d.severity.rating.as_str()) }
                                    @if let Some(c) = d.severity.cvss_score { " " small { "CVSS " (format!("{c:.1}")) } } }
                                td { (d.asset) br; small { (d.organisation) } }
                                td { (d.advisory_ref) @if d.vuln_id != d.advisory_ref { br; small { (d.vuln_id) } } }
                                td { (d.product) @if let Some(v) = &d.version { " " (v) } }
                                td.status { (f.status.as_str()) }
                                td { (f.resolution.clone().unwrap_or_default())
                                    @if let Some(d) = f.due { br; small.due { "due " (d) } }
                                    @for r in &f.risks { br; small { a.risk-link href=(format!("/risks/{r}")) { "risk " (r) } } }
                                    @for n in &f.incidents { br; small { a.incident-link href=(format!("/incidents/{n}")) { "incident " (n) } } } }
                                @if editable { td {
                                    form.inline method="post" action=(format!("/findings/{}", f.id)) {
                                        input type="hidden" name="csrf" value=(p.csrf());
                                        select name="status" id=(format!("status-{}", f.id)) {
                                            option value="" { "(keep " (f.status.as_str()) ")" }
                                            @for n in f.status.next() { option value=(n.as_str()) { (n.as_str()) } }
                                        }
                                        input type="text" name="resolution" placeholder="resolution" aria-label="resolution" id=(format!("resolution-{}", f.id));
                                        input type="date" name="due" aria-label="due date" title="remediation due" id=(format!("due-{}", f.id)) value=(f.due.map(|d| d.to_string()).unwrap_or_default());
                                        input type="text" name="risk" placeholder="risk #" aria-label="link to risk" size="5" id=(format!("risk-{}", f.id));
                                        input type="text" name="incident" placeholder="incident #" aria-label="link to incident" size="6" id=(format!("incident-{}", f.id));
                                        button type="submit" id=(format!("save-{}", f.id)) { "Save" }
                                    }
                                } }
                            }
                        } }
                    }
                }
                @if !list.is_empty() || offset > 0 { nav.pager #findings-pages {
                    @if offset > 0 { a #findings-prev href=(page_link(offset.saturating_sub(FINDINGS_PAGE))) { "← Previous" } " " }
                    span { "Findings " (offset + 1) "–" (offset + list.len()) }
                    @if more { " " a #findings-next href=(page_link(offset + FINDINGS_PAGE)) { "Next →" } }
                } }
            },
        )
    });
    respond(&p, r)
}

#[derive(serde::Deserialize)]
struct FindingForm {
    status: Option<String>,
    resolution: Option<String>,
    due: Option<String>,
    risk: Option<String>,
    incident: Option<String>,
}

async fn change_finding(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(f): Form<FindingForm>,
) -> Response {
    let actor = p.actor();
    match blocking(move || {
        asm::change_finding(
            &state,
            &actor,
            id,
            &asm::FindingEdit {
                status: f.status.as_deref(),
                resolution: f.resolution.as_deref(),
                due: f.due.as_deref(),
                risk: f.risk.as_deref(),
                incident: f.incident.as_deref(),
            },
        )
    })
    .await
    {
        Ok(_) => Redirect::to(&format!("/findings?saved={id}#finding-{id}")).into_response(),
        Err(e) => respond(&p, Err(e)),
    }
}

#[derive(serde::Deserialize)]
struct RiskForm {
    title: Option<String>,
    description: Option<String>,
    likelihood: Option<String>,
    impact: Option<String>,
    acceptable: Option<String>,
    treatment: Option<String>,
    owner: Option<String>,
    review_due: Option<String>,
    add_control: Option<String>,
}

/// A 1-255 number from a form field; empty leaves the value as it is.
fn form_number(name: &str, v: Option<&str>) -> Result<Option<u8>, ApiError> {
    match v.map(str::trim).filter(|x| !x.is_empty()) {
        None => Ok(None),
        Some(x) => x
            .parse::<u8>()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("{name} {x:?}: expected a whole number"))),
    }
}

/// The risk page's form: the same change and checks as `PUT /api/v1/risks/{id}`
/// (`crate::assessments::update_risk`, which calls `ops::check_risk`), audited by the store.
async fn edit_risk(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(f): Form<RiskForm>,
) -> Response {
    let change = (|| {
        Ok::<_, ApiError>(asm::RiskChange {
            title: f.title.filter(|t| !t.trim().is_empty()),
            description: f.description,
            likelihood: form_number("likelihood", f.likelihood.as_deref())?,
            impact: form_number("impact", f.impact.as_deref())?,
            acceptable: form_number("acceptable", f.acceptable.as_deref())?,
            treatment: f.treatment,
            owner: f.owner,
            review_due: f.review_due,
            add_controls: f
                .add_control
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .into_iter()
                .collect(),
        })
    })();
    let change = match change {
        Ok(c) => c,
        Err(e) => return respond(&p, Err(e)),
    };
    let actor = p.actor();
    match blocking(move || asm::update_risk(&state, &actor, id, &change)).await {
        Ok(_) => Redirect::to(&format!("/risks/{id}?saved=1")).into_response(),
        Err(e) => respond(&p, Err(e)),
    }
}
