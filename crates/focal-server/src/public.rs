//! The public face of a focal point (issue 17): what anyone may read without signing in.
//!
//! Everything here is TLP:CLEAR by construction, decided in `focal-awareness`, not here:
//! - `/public/advisories.atom`: the Atom feed of published TLP:CLEAR advisories
//!   (`atom::render_atom` keeps to CLEAR itself);
//! - `/public/advisories/{id}`: the latest published revision of one advisory, only when that
//!   revision is TLP:CLEAR; any other advisory, a draft, or an unknown id is the same 404, so
//!   the page does not tell which ids exist;
//! - `/public/stats` and `/public/stats.json`: the public statistics (`stats::public_stats`),
//!   TLP:CLEAR events and incidents only, every figure below k withheld. The window is fixed
//!   (all time): publishing overlapping windows would let a reader subtract one from another
//!   (see the rule in `focal_awareness::stats`), so the public routes take no dates.
//!
//! The access table marks these routes `Need::Public`; `[awareness]` in focal.toml gives the
//! publisher, the base URL the feed links to, and k.

use crate::AppState;
use crate::api::{ApiError, blocking};
use crate::extract::PagePath as Path;
use crate::ui::layout;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing};
use focal_awareness::advisory::{Advisory, atom};
use focal_awareness::stats::{PublicStats, StatsWindow, public_stats};
use focal_model::Tlp;
use focal_store::Store;
use maud::{Markup, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/public/advisories.atom", routing::get(advisory_feed))
        .route("/public/advisories/{id}", routing::get(advisory_page))
        .route("/public/stats", routing::get(stats_page))
        .route("/public/stats.json", routing::get(stats_json))
}

fn store_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "store error on a public page");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

async fn advisory_feed(State(state): State<AppState>) -> Result<Response, ApiError> {
    let st = state.clone();
    let text = blocking(move || {
        let published = st
            .store
            .awareness()
            .published_advisories(atom::MAX_ENTRIES * 10)
            .map_err(store_failed)?;
        Ok(atom::render_atom(
            &published,
            &st.awareness,
            jiff::Timestamp::now(),
        ))
    })
    .await?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    Ok(resp)
}

/// The advisory when its latest published revision is TLP:CLEAR.
fn public_advisory(a: Advisory) -> Option<Advisory> {
    a.published()
        .is_some_and(|r| r.content.tlp == Tlp::Clear)
        .then_some(a)
}

async fn advisory_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = state.clone();
    let found = blocking(move || {
        // Ids are short; anything else is simply not found, without asking the store.
        if id.len() > 64 {
            return Ok(None);
        }
        match st.store.awareness().advisory(&id) {
            Ok(a) => Ok(public_advisory(a)),
            Err(focal_awareness::store::StorageError::NotFound(_)) => Ok(None),
            Err(e) => Err(store_failed(e)),
        }
    })
    .await?;
    let Some(a) = found else {
        let body = html! {
            p { "There is no public advisory with this id." }
            p { a href="/public/advisories.atom" { "All public advisories (Atom feed)" } }
        };
        return Ok((StatusCode::NOT_FOUND, layout("Not found", None, body)).into_response());
    };
    Ok(layout(&a.id, None, advisory_body(&a, &state)).into_response())
}

fn advisory_body(a: &Advisory, state: &AppState) -> Markup {
    let Some(r) = a.published() else {
        return html! {};
    };
    let c = &r.content;
    html! {
        p.tlp { "TLP:CLEAR · revision " (r.number) " · published " (r.date.strftime("%Y-%m-%d %H:%M UTC")) " by " (state.awareness.publisher) }
        h2 { (c.title) }
        p { (c.summary) }
        @if !c.products.is_empty() {
            h3 { "Affected products" }
            ul { @for p in &c.products {
                li { (p.vendor) " " (p.name) @if let Some(v) = &p.version { " " (v) } }
            } }
        }
        @if !c.cves.is_empty() {
            h3 { "CVE" }
            ul { @for cve in &c.cves { li { (cve) } } }
        }
        @if let Some(v) = &c.cvss {
            h3 { "CVSS" }
            p { code { (v) }
                @if let Ok(s) = focal_awareness::advisory::cvss_score(v) {
                    " (" (s.score) ", " (s.severity) ")"
                }
            }
        }
        @if let Some(rem) = &c.remediation {
            h3 { "Remediation" }
            p { (rem) }
        }
        @if !c.references.is_empty() {
            h3 { "References" }
            // Shown as text, not links: a reference is the author's input, and a public page
            // should not turn it into a click.
            ul { @for rf in &c.references { li { code { (rf.url) } @if !rf.summary.is_empty() { " " (rf.summary) } } } }
        }
        p { a href="/public/advisories.atom" { "All public advisories (Atom feed)" } }
    }
}

fn stats(state: &AppState) -> Result<PublicStats, ApiError> {
    public_stats(
        state.store.awareness(),
        state.awareness.public_k,
        StatsWindow::default(),
    )
    .map_err(store_failed)
}

async fn stats_json(State(state): State<AppState>) -> Result<Json<PublicStats>, ApiError> {
    let st = state.clone();
    Ok(Json(blocking(move || stats(&st)).await?))
}

async fn stats_page(State(state): State<AppState>) -> Result<Response, ApiError> {
    let st = state.clone();
    let s = blocking(move || stats(&st)).await?;
    Ok(layout("Public statistics", None, stats_body(&s)).into_response())
}

fn figure(n: Option<u64>) -> String {
    n.map_or_else(|| "withheld".to_string(), |n| n.to_string())
}

/// Events per week (all types) as bars in inline SVG: attributes only, no inline style, so the
/// page keeps the application's Content-Security-Policy.
fn weekly_chart(s: &PublicStats) -> Markup {
    let mut weeks: std::collections::BTreeMap<&str, u64> = Default::default();
    for c in &s.events_per_week.cells {
        *weeks.entry(c.key.week.as_str()).or_default() += c.count;
    }
    let max = weeks.values().copied().max().unwrap_or(0).max(1);
    let (bar, gap, height) = (18u64, 6u64, 120u64);
    let width = (weeks.len() as u64 * (bar + gap)).max(bar + gap);
    html! {
        svg.chart width=(width) height=(height + 20) viewBox=(format!("0 0 {width} {}", height + 20)) role="img" aria-label="Published events per week" {
            @for (i, (week, n)) in weeks.iter().enumerate() {
                @let h = (n * height / max).max(1);
                @let x = i as u64 * (bar + gap);
                rect x=(x) y=(height - h) width=(bar) height=(h) fill="#3b6ea8" {
                    title { (week) ": " (n) }
                }
            }
            line x1="0" y1=(height) x2=(width) y2=(height) stroke="#888" {}
        }
    }
}

fn stats_body(s: &PublicStats) -> Markup {
    let e = &s.events_per_week;
    let h = &s.infected_hosts;
    html! {
        p { "Aggregated figures from TLP:CLEAR data only. No figure below " strong { (s.k) } " is shown, and none can be worked out from those shown: withheld cells are published only as one \"other\" figure of at least " (s.k) "." }
        p { "Generated " (s.generated_at.strftime("%Y-%m-%d %H:%M UTC")) ". " a href="/public/stats.json" { "As JSON" } }
        h2 { "Events per week" }
        p { "Total: " (figure(e.total)) }
        @if !e.cells.is_empty() { (weekly_chart(s)) }
        table {
            thead { tr { th { "Week" } th { "Type" } th.num { "Events" } } }
            tbody {
                @for c in &e.cells { tr { td { (c.key.week) } td { (c.key.classification_type) } td.num { (c.count) } } }
                @if let Some(o) = e.other { tr { td colspan="2" { "Other (" (e.withheld_cells) " cells withheld)" } td.num { (o) } } }
                @if e.cells.is_empty() && e.other.is_none() { tr { td colspan="3" { "Too few events to publish any figure." } } }
            }
        }
        h2 { "Infected hosts by country and network" }
        p { "Total: " (figure(h.total)) }
        table {
            thead { tr { th { "Country" } th { "AS" } th.num { "Hosts" } } }
            tbody {
                @for c in &h.countries {
                    tr { td { strong { (c.country) } } td { } td.num { strong { (c.hosts) } } }
                    @for a in &c.asns.cells { tr { td { } td { (a.key.asn) } td.num { (a.count) } } }
                    @if let Some(o) = c.asns.other { tr { td { } td { "other networks" } td.num { (o) } } }
                }
                @if let Some(o) = h.other { tr { td { "other countries" } td { } td.num { (o) } } }
                @if h.countries.is_empty() && h.other.is_none() { tr { td colspan="3" { "Too few hosts to publish any figure." } } }
            }
        }
        h2 { "Median time to resolution" }
        @if !s.time_to_resolution.available {
            p { "Not available on this store." }
        } @else {
            table {
                thead { tr { th { "Week" } th.num { "Incidents" } th.num { "Median hours" } } }
                tbody {
                    @for w in &s.time_to_resolution.weeks {
                        tr { td { (w.week) } td.num { (w.incidents) } td.num { (format!("{:.1}", w.median_hours)) } }
                    }
                    @if s.time_to_resolution.weeks.is_empty() { tr { td colspan="3" { "No week has enough resolved incidents to publish." } } }
                }
            }
            @if s.time_to_resolution.withheld_weeks > 0 {
                p { (s.time_to_resolution.withheld_weeks) " weeks with fewer than " (s.k) " resolved incidents are withheld." }
            }
        }
        p.rule { (s.rule) }
    }
}
