//! The web UI: server-rendered HTML with `maud` (which escapes every interpolated value), one
//! stylesheet served by the binary, no script at all, and a chart drawn as inline SVG on the
//! server. Every list is a page from the store; links carry the filters and the keyset cursor.
//!
//! The pages read and act through the same functions as the REST API ([`crate::api`]), so the
//! scope and audit rules are the same.

use crate::AppState;
use crate::access::{Need, Principal};
use crate::api::{
    self, ApiError, BeforePage, Change, EventQuery, FeedInfo, FeedPull, IncidentQuery, KeyPage,
    PullPage, blocking,
};
use crate::constituents::{self as cons, ChangeError, Fields, ImportResult, Problem};
use crate::extract::PagePath as Path;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Router, routing};
use focal_store::SaveMode;
use focal_store::incidents::{AuditFilter, AuditLog};
use focal_store::web::WebStore;
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

const CSS: &str = include_str!("focal.css");
const PAGE: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", routing::get(dashboard))
        .route("/static/focal.css", routing::get(css))
        .route("/events", routing::get(events))
        .route("/events/{seq}", routing::get(event))
        .route("/incidents", routing::get(incidents))
        .route("/incidents/bulk", routing::post(bulk))
        .route("/incidents/{id}", routing::get(incident))
        .route("/incidents/{id}/transition", routing::post(transition))
        .route("/incidents/{id}/comment", routing::post(comment))
        .route("/incidents/{id}/assign", routing::post(assign))
        .route("/incidents/{id}/severity", routing::post(severity))
        .route(
            "/constituents",
            routing::get(constituents).post(create_constituent),
        )
        // A constituent may be called `import`: its page is still reachable.
        .route(
            "/constituents/import",
            routing::get(constituent_called_import).post(import_constituents),
        )
        .route("/constituents/{id}", routing::get(constituent))
        .route("/constituents/{id}/edit", routing::post(edit_constituent))
        .route("/feeds", routing::get(feeds))
        .route("/feeds/{name}", routing::get(feed))
        .route("/feeds/{name}/pull", routing::post(pull_now))
        .route("/audit", routing::get(audit))
}

async fn css() -> Response {
    let mut r = CSS.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// Percent-encodes a query value (everything but unreserved characters).
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", enc(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn layout(title: &str, p: Option<&Principal>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Focal" }
                    link rel="stylesheet" href="/static/focal.css";
                }
                body {
                    @if let Some(p) = p {
                        header {
                            nav {
                                strong { "Focal" }
                                a href="/" { "Dashboard" }
                                a href="/events" { "Events" }
                                a href="/incidents" { "Incidents" }
                                a href="/constituents" { "Constituents" }
                                a href="/assessments" { "Assessments" }
                                @if p.can(Need::StaffRead) { a href="/risks" { "Risks" } }
                                @if p.can(Need::StaffRead) { a href="/findings" { "Findings" } }
                                a href="/advisories" { "Advisories" }
                                a href="/library" { "Library" }
                                @if p.can(Need::StaffRead) { a href="/feeds" { "Feeds" } }
                                @if p.can(Need::StaffRead) { a href="/sharing" { "Sharing" } }
                                @if p.can(Need::Audit) { a href="/audit" { "Audit log" } }
                                @if p.can(Need::Accounts) { a href="/users" { "Users" } }
                                a href="/account" { "Your account" }
                            }
                            form.logout method="post" action="/logout" {
                                span.who { (p.user.name) " (" (p.user.role)
                                    @if let Some(o) = &p.user.organisation { ", " (o) } ")" }
                                input type="hidden" name="csrf" value=(p.csrf());
                                button type="submit" id="logout" { "Sign out" }
                            }
                        }
                    }
                    main {
                        h1 { (title) }
                        (body)
                    }
                }
            }
        }
        .into_string(),
    )
}

/// The sign-in form; `next` (already checked by `session::safe_next`) is where it leads after.
pub fn login_page(csrf: &str, message: Option<&str>, next: Option<&str>) -> String {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(m) = message { p.error { (m) } }
            form.login method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                @if let Some(n) = next { input type="hidden" name="next" id="next" value=(n); }
                label { "Name" input type="text" name="username" id="username" autocomplete="username" required; }
                label { "Password" input type="password" name="password" id="password" autocomplete="current-password" required; }
                button type="submit" id="signin" { "Sign in" }
            }
        },
    )
    .0
}

fn error_page(p: &Principal, e: ApiError) -> Response {
    crate::errors::page(e.0, Some(p), &e.1)
}

fn page_result(p: &Principal, r: Result<Html<String>, ApiError>) -> Response {
    match r {
        Ok(h) => h.into_response(),
        Err(e) => error_page(p, e),
    }
}

fn fmt_ts(t: &jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

/// Days the dashboard's chart covers: the last [`CHART_DAYS`] UTC days up to and including today.
const CHART_DAYS: i64 = 14;
/// The least height, in chart units, of a bar segment with any events: a day of 15 events
/// beside one of thousands stays visible, and the count written above it says how many.
const MIN_SEGMENT: f64 = 4.0;

/// The UTC days (`YYYY-MM-DD`) of the chart ending on the day of `now_us`, oldest first, and
/// the first microsecond of the first one.
fn chart_days(now_us: i64) -> (Vec<String>, i64) {
    const DAY_US: i64 = 86_400_000_000;
    let today = now_us.div_euclid(DAY_US);
    let first = today - (CHART_DAYS - 1);
    let days = (first..=today)
        .map(|d| {
            jiff::Timestamp::from_second(d.saturating_mul(86_400))
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_else(|_| d.to_string())
        })
        .collect();
    (days, first.saturating_mul(DAY_US))
}

/// Events per day by type as stacked bars, one per day of `days` (a day without events too),
/// on a linear scale where any non-zero segment is at least [`MIN_SEGMENT`] tall, with each
/// day's total written above its bar and every bar and segment titled with its counts.
fn chart(days: &[String], per_day: &[(String, String, u64)]) -> Markup {
    const PALETTE: [&str; 8] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    ];
    let mut types: Vec<&str> = per_day.iter().map(|r| r.1.as_str()).collect();
    types.sort();
    types.dedup();
    let count = |d: &str, t: &str| -> u64 {
        per_day
            .iter()
            .filter(|r| r.0 == d && r.1 == t)
            .map(|r| r.2)
            .sum()
    };
    let total = |d: &str| -> u64 { per_day.iter().filter(|r| r.0 == d).map(|r| r.2).sum() };
    let max = days.iter().map(|d| total(d)).max().unwrap_or(0);
    // Plot area: from y = TOP (room for the totals) down to the axis at y = AXIS.
    let (w, top, axis) = (960.0f64, 24.0f64, 210.0f64);
    let slot = w / (days.len().max(1) as f64);
    // Room left for the minimum heights, so the highest bar still fits.
    let scale = (axis - top - MIN_SEGMENT * types.len() as f64).max(10.0) / max.max(1) as f64;
    // Thin the date labels out when there are more days than fit side by side.
    let every = days.len().div_ceil(16).max(1);
    // Per day: (day, total, segments (type index, type, count, y, height) from the axis up, top).
    type Segment<'t> = (usize, &'t str, u64, f64, f64);
    let bars: Vec<(&str, u64, Vec<Segment>, f64)> = days
        .iter()
        .map(|d| {
            let mut y = axis;
            let mut segments = Vec::new();
            for (j, t) in types.iter().enumerate() {
                let c = count(d, t);
                if c > 0 {
                    let bh = (c as f64 * scale).max(MIN_SEGMENT);
                    y -= bh;
                    segments.push((j, *t, c, y, bh));
                }
            }
            (d.as_str(), total(d), segments, y)
        })
        .collect();
    html! {
        @if max == 0 {
            p { "No events in the last " (days.len()) " days." }
        } @else {
            div.chart-scroll { svg.chart #events-chart viewBox="0 0 960 240" role="img" aria-label="Events per day by type" {
                line x1="0" y1=(format!("{:.1}", axis - max as f64 * scale)) x2=(w) y2=(format!("{:.1}", axis - max as f64 * scale)) stroke="#e3e6ea" {}
                @for (i, (d, n, segments, bar_top)) in bars.iter().enumerate() {
                    @let x = i as f64 * slot;
                    g.day data-day=(d) data-total=(n) {
                        title {
                            (d) ": " (n) " event" @if *n != 1 { "s" }
                            @for (_, t, c, _, _) in segments { " · " (t) " " (c) }
                        }
                        // A transparent full-height target: the day's title shows anywhere in its slot.
                        rect x=(format!("{x:.1}")) y="0" width=(format!("{slot:.1}")) height=(axis) fill="transparent" {}
                        @for (j, t, c, y, bh) in segments {
                            rect.bar x=(format!("{:.1}", x + 2.0)) y=(format!("{y:.1}")) width=(format!("{:.1}", (slot - 4.0).max(1.0))) height=(format!("{bh:.1}")) fill=(PALETTE[j % PALETTE.len()]) {
                                title { (d) " " (t) ": " (c) }
                            }
                        }
                        text.total x=(format!("{:.1}", x + slot / 2.0)) y=(format!("{:.1}", bar_top - 4.0)) text-anchor="middle" { (n) }
                        @if i % every == 0 || i + 1 == days.len() {
                            text.date x=(format!("{:.1}", x + slot / 2.0)) y="228" text-anchor="middle" { (d.get(5..).unwrap_or(d)) }
                        }
                    }
                }
                line x1="0" y1=(axis) x2=(w) y2=(axis) stroke="#999" {}
            } }
            p.chart-note { "Linear scale: the number above each bar is the day's total; a type with any events on a day is drawn at least " (MIN_SEGMENT) " units tall, so small counts stay visible. Hover a bar for its counts by type." }
            ul.legend {
                @for (j, t) in types.iter().enumerate() {
                    li { svg width="10" height="10" { rect width="10" height="10" fill=(PALETTE[j % PALETTE.len()]) {} } " " (t) }
                }
            }
        }
    }
}

/// One row of a dashboard count table: the key (the link's filter value), a name to show
/// beside it when known, the count.
struct CountRow<'a> {
    key: &'a str,
    name: Option<&'a str>,
    n: u64,
}

/// A card of counts, each key linking to `link` followed by the key.
fn counts_table(title: &str, id: &str, rows: &[CountRow], link: Option<&str>) -> Markup {
    html! {
        section.card {
            h2 { (title) }
            @if rows.is_empty() { p { "None." } } @else {
                table.counts id=(id) { tbody {
                    @for r in rows {
                        tr data-key=(r.key) {
                            td {
                                @if let Some(l) = link {
                                    a href=(format!("{l}{}", enc(r.key))) { (r.key) @if let Some(n) = r.name { " " span.name { (n) } } }
                                } @else {
                                    (r.key) @if let Some(n) = r.name { " " span.name { (n) } }
                                }
                            }
                            td.num { (r.n) }
                        }
                    }
                } }
            }
        }
    }
}

/// Incident counts in the workflow order of [`focal_incidents::State::ALL`], every state
/// listed (zero too), and any stored state the workflow does not know after them.
fn states_in_order(by_state: &[(String, u64)]) -> Vec<CountRow<'_>> {
    let n = |s: &str| by_state.iter().find(|r| r.0 == s).map(|r| r.1).unwrap_or(0);
    let mut rows: Vec<CountRow> = focal_incidents::State::ALL
        .iter()
        .map(|s| CountRow {
            key: s.as_str(),
            name: None,
            n: n(s.as_str()),
        })
        .collect();
    for (k, c) in by_state {
        if focal_incidents::State::ALL.iter().all(|s| s.as_str() != k) {
            rows.push(CountRow {
                key: k,
                name: None,
                n: *c,
            });
        }
    }
    rows
}

/// Count rows with the name of each key, where `names` knows it.
fn named<'a>(
    counts: &'a [(String, u64)],
    names: &'a std::collections::BTreeMap<String, String>,
) -> Vec<CountRow<'a>> {
    counts
        .iter()
        .map(|(k, n)| CountRow {
            key: k,
            name: names.get(k).map(String::as_str),
            n: *n,
        })
        .collect()
}

async fn dashboard(State(state): State<AppState>, Extension(p): Extension<Principal>) -> Response {
    let (st, scope) = (state.clone(), p.scope());
    let staff = p.can(Need::StaffRead);
    let r = blocking(move || {
        let now = jiff::Timestamp::now();
        let (days, since) = chart_days(now.as_microsecond());
        let d = st.store.dashboard(&scope, since, now.as_microsecond())?;
        let health = if staff { feed_health(&st)? } else { vec![] };
        let overdue = crate::assessment_pages::overdue_card(&st, &scope)?;
        Ok((days, d, health, overdue))
    })
    .await
    .map(|(days, d, health, overdue)| {
        layout(
            "Dashboard",
            Some(&p),
            html! {
                section.card.wide { h2 { "Events per day by type (last " (days.len()) " days)" } (chart(&days, &d.per_day)) }
                div.grid.dashboard {
                    @if let Some(card) = overdue { (card) }
                    (counts_table("Incidents by state", "incidents-by-state", &states_in_order(&d.incidents_by_state), Some("/incidents?state=")))
                    section.card { h2 { "SLA breaches" } p.big { a href="/incidents?breached=true" { (d.sla_breaches) } } p { "open incidents past their due time" } }
                    (counts_table("Top ASNs", "top-asns", &named(&d.top_asns, &d.asn_names), Some("/events?asn=")))
                    (counts_table("Top countries", "top-countries", &named(&d.top_countries, &Default::default()), Some("/events?country=")))
                    (counts_table("Top constituents", "top-constituents", &named(&d.top_constituents, &d.constituent_names), Some("/events?constituent=")))
                }
                @if staff {
                    section.card.feed-health { h2 { "Feed health" }
                        @if health.is_empty() { p { "No feed has been pulled or ingested yet." } }
                        @else {
                            div.table-scroll { table #feed-health { thead { tr { th { "Feed" } th { "Last" } th { "Stored" } th { "Quarantined" } th { "When" } } }
                            tbody { @for h in &health { tr {
                                td { (h.feed) }
                                td { span class=(status_class(&h.status)) title=(h.error.clone().unwrap_or_default()) { (h.status) } }
                                td.num { (h.stored.map(|n| n.to_string()).unwrap_or_default()) }
                                td.num { (h.quarantined.map(|n| n.to_string()).unwrap_or_default()) }
                                td.nowrap { (short_time(&h.at)) " UTC" }
                            } } } } }
                        }
                        p { a href="/feeds" { "Feeds, their pulls and runs, and the quarantine" } }
                    }
                }
            },
        )
    });
    page_result(&p, r)
}

fn event_filters(q: &EventQuery) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("ip", q.ip.clone()),
        ("asn", q.asn.clone()),
        ("country", q.country.clone()),
        ("constituent", q.constituent.clone()),
        ("type", q.type_.clone()),
        ("feed", q.feed.clone()),
        ("since", q.since.clone()),
        ("until", q.until.clone()),
    ]
}

/// Whether the events page lists the newest first: its default, unlike the API's. An order
/// that is neither is refused, as by the API.
fn events_newest_first(q: &EventQuery) -> Result<bool, ApiError> {
    match q.order.as_deref().map(str::trim) {
        None | Some("") => Ok(true),
        Some(_) => q.newest_first(),
    }
}

async fn events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<EventQuery>,
) -> Response {
    let newest = match events_newest_first(&q) {
        Ok(n) => n,
        Err(e) => return error_page(&p, e),
    };
    let mut asked = q.clone();
    asked.limit = Some(q.limit.unwrap_or(PAGE).min(api::MAX_LIMIT));
    asked.order = Some(if newest { "newest" } else { "oldest" }.into());
    let filters = event_filters(&q);
    let order_param = (!newest).then(|| "oldest".to_string());
    let found = match api::search_events(&state, &p, asked.clone(), api::MAX_LIMIT).await {
        Ok(found) => found,
        Err(e) => return error_page(&p, e),
    };
    let total = match api::count_events(&state, &p, &asked).await {
        Ok(n) => n,
        Err(e) => return error_page(&p, e),
    };
    let (rows, next) = found;
    let base = query(&filters);
    let mut with_order = filters.clone();
    with_order.push(("order", order_param.clone()));
    let here = query(&with_order);
    // The API's default order is the oldest first: the export names the page's order.
    let mut export = filters.clone();
    export.push((
        "order",
        Some(if newest { "newest" } else { "oldest" }.to_string()),
    ));
    let export = query(&export);
    let field = |name: &'static str, label: &str, v: &Option<String>, hint: &str| {
        html! {
            label { (label) input type="text" name=(name) id=(format!("f-{name}")) value=(v.clone().unwrap_or_default()) placeholder=(hint); }
        }
    };
    let page = layout(
        "Events",
        Some(&p),
        html! {
            form.filters method="get" action="/events" {
                (field("ip", "IP or CIDR", &q.ip, "192.0.2.0/24"))
                (field("asn", "ASN", &q.asn, "64500"))
                (field("country", "Country", &q.country, "NL"))
                (field("constituent", "Constituent", &q.constituent, ""))
                (field("type", "Type", &q.type_, "infected-system"))
                (field("feed", "Feed", &q.feed, ""))
                (field("since", "Since", &q.since, "2026-11-01"))
                (field("until", "Until", &q.until, ""))
                label { "Order" select name="order" id="f-order" {
                    option value="newest" selected[newest] { "newest stored first" }
                    option value="oldest" selected[!newest] { "oldest stored first" }
                } }
                button type="submit" id="search" { "Search" }
            }
            p.count {
                strong #event-count { (total) }
                @if total == 1 { " event matches" } @else { " events match" }
                (if newest { ", newest stored first." } else { ", oldest stored first." })
            }
            p.exports {
                "Export this search: "
                a #export-csv href=(format!("/api/v1/events/export?format=csv&{export}")) { "CSV" } " · "
                a #export-json href=(format!("/api/v1/events/export?format=json&{export}")) { "JSON" }
            }
            table #events {
                thead { tr { th { "seq" } th { "Time" } th { "Type" } th { "Source IP" } th { "ASN" } th { "CC" } th { "Constituent" } th { "Feed" } th { "TLP" } } }
                tbody {
                    @for (seq, e) in &rows {
                        tr {
                            td.num { a.event href=(format!("/events/{seq}")) { (seq) } }
                            td { (fmt_ts(&e.time_source.unwrap_or(e.time_observation))) }
                            td { (e.classification_type.as_str()) }
                            td { (e.source_ip.map(|i| i.to_string()).unwrap_or_default()) }
                            td { (e.source_asn.map(|a| a.to_string()).unwrap_or_default()) }
                            td { (e.source_cc.as_ref().map(|c| c.to_string()).unwrap_or_default()) }
                            td { (e.constituent.as_deref().unwrap_or("")) }
                            td { (e.feed_name) }
                            td { (tlp_label(&e.tlp.to_string())) }
                        }
                    }
                }
            }
            @if rows.is_empty() { p { "No events match." } }
            nav.pager {
                a href=(format!("/events?{here}")) { "First page" }
                @if let Some(n) = next {
                    " · "
                    a rel="next" id="next" href=(format!("/events?{here}&{}={n}", if newest { "before" } else { "after" })) { "Next page" }
                }
            }
            @if base.is_empty() && total == 0 { p.note { "No event has been stored yet." } }
        },
    );
    page.into_response()
}

/// A stored word as a CSS class name part: letters, digits, `-` and `_` only.
fn css_token(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// How long ago `t` was, in the largest whole unit: `3 d`, `5 h`, `12 min`.
fn age(t: &jiff::Timestamp, now: &jiff::Timestamp) -> String {
    let secs = now.as_second().saturating_sub(t.as_second()).max(0);
    match secs {
        s if s >= 86_400 => format!("{} d", s / 86_400),
        s if s >= 3600 => format!("{} h", s / 3600),
        s if s >= 60 => format!("{} min", s / 60),
        _ => "just now".to_string(),
    }
}

/// A TLP label in FIRST's colours (the classes of focal.css).
fn tlp_label(tlp: &str) -> Markup {
    let class = match tlp.to_ascii_uppercase() {
        t if t.contains("RED") => "tlp tlp-red",
        t if t.contains("AMBER") => "tlp tlp-amber",
        t if t.contains("GREEN") => "tlp tlp-green",
        _ => "tlp",
    };
    html! { span class=(class) { (tlp) } }
}

/// One event: every field, its run and feed, the incidents it belongs to, and (for staff) the
/// record as the feed sent it.
async fn event(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(seq): Path<i64>,
) -> Response {
    let d = match api::event_detail(&state, &p, seq).await {
        Ok(d) => d,
        Err(e) => return error_page(&p, e),
    };
    let staff = p.can(Need::StaffRead);
    let e = &d.event;
    // Every field as the API names it (IntelMQ's), except the raw record, shown below.
    let mut fields = focal_model::intelmq::to_json(e);
    fields.remove("raw");
    fields.remove("__type");
    let raw = e
        .raw
        .as_ref()
        .map(|r| String::from_utf8_lossy(r).into_owned());
    let feed = e.feed_name.to_string();
    layout(
        &format!("Event {seq}"),
        Some(&p),
        html! {
            dl.facts #event-facts {
                dt { "seq" } dd #event-seq { (seq) }
                dt { "Time" } dd { (fmt_ts(&e.time_source.unwrap_or(e.time_observation))) }
                dt { "Type" } dd { a href=(format!("/events?type={}", enc(e.classification_type.as_str()))) { (e.classification_type.as_str()) } }
                dt { "TLP" } dd { (tlp_label(&e.tlp.to_string())) }
                dt { "Constituent" } dd #event-constituent {
                    @if let Some(c) = &e.constituent { a href=(format!("/constituents/{}", enc(c))) { (c) } }
                    @else { "none matched" }
                }
                dt { "Incidents" } dd #event-incidents {
                    @if d.incidents.is_empty() { "none" }
                    @for (n, i) in d.incidents.iter().enumerate() {
                        @if n > 0 { ", " }
                        a.incident href=(format!("/incidents/{i}")) { "#" (i) }
                    }
                }
                dt { "Feed" } dd #event-feed {
                    @if staff { a href=(format!("/feeds/{}", enc(&feed))) { (feed) } } @else { (feed) }
                    " · " a href=(format!("/events?feed={}", enc(&feed))) { "its events" }
                }
                dt { "Run" } dd #event-run {
                    @if staff {
                        a href=(format!("/feeds#run-{}", d.run.id)) { "run " (d.run.id) }
                        " of " code { (d.run.file_name) } ", started " (short_time(&d.run.started_at))
                        " (" (d.run.status.as_str()) ")"
                    } @else { "run " (d.run.id) }
                }
            }
            h2 { "Fields" }
            table #event-fields {
                thead { tr { th { "Field" } th { "Value" } } }
                tbody { @for (k, v) in &fields { tr {
                    td { code { (k) } }
                    td { @match v { Value::String(t) => (t), other => (other.to_string()) } }
                } } }
            }
            @if staff {
                h2 { "Raw record" }
                @if let Some(r) = &raw { pre.definition #event-raw { code { (r) } } }
                @else { p { "The feed's record was not kept for this event." } }
            }
        },
    )
    .into_response()
}

async fn incidents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<IncidentQuery>,
) -> Response {
    let mut asked = q.clone();
    asked.limit = Some(q.limit.unwrap_or(PAGE).min(api::MAX_LIMIT));
    let now = jiff::Timestamp::now();
    // Admins and analysts change the selected incidents at once (see `bulk`).
    let manage = p.can(Need::Manage);
    let staff = if manage {
        let st = state.clone();
        match blocking(move || api::assignable(st.store.as_ref())).await {
            Ok(names) => names,
            Err(e) => return error_page(&p, e),
        }
    } else {
        Vec::new()
    };
    let r = api::list_incidents(&state, &p, &asked).await.map(|(rows, next)| {
        let base = query(&[
            ("state", q.state.clone()),
            ("severity", q.severity.clone()),
            ("assignee", q.assignee.clone()),
            ("type", q.type_.clone()),
            ("constituent", q.constituent.clone()),
            ("breached", q.breached.map(|b| b.to_string())),
        ]);
        layout(
            "Incidents",
            Some(&p),
            html! {
                form.filters method="get" action="/incidents" {
                    label { "State" select name="state" id="f-state" {
                        option value="" { "any" }
                        @for s in focal_incidents::State::ALL {
                            option value=(s.as_str()) selected[q.state.as_deref() == Some(s.as_str())] { (s.as_str()) }
                        }
                    } }
                    label { "Severity" select name="severity" id="f-severity" {
                        option value="" { "any" }
                        @for sev in focal_incidents::Severity::ALL {
                            option value=(sev.as_str()) selected[q.severity.as_deref().map(str::trim) == Some(sev.as_str())] { (sev.as_str()) }
                        }
                    } }
                    label { "Assignee" input type="text" name="assignee" value=(q.assignee.clone().unwrap_or_default()); }
                    label { "Type" input type="text" name="type" value=(q.type_.clone().unwrap_or_default()); }
                    label { "Constituent" input type="text" name="constituent" value=(q.constituent.clone().unwrap_or_default()); }
                    button type="submit" { "Filter" }
                }
                @if manage {
                    form.bulk #bulk method="post" action="/incidents/bulk" {
                        input type="hidden" name="csrf" value=(p.csrf());
                        fieldset { legend { "With the selected incidents" }
                            label { input type="radio" name="action" value="assign" id="bulk-assign" checked; " assign to " }
                            select name="assignee" id="bulk-assignee" {
                                option value="" { "— nobody —" }
                                @for n in &staff { option value=(n) { (n) } }
                            }
                            label { input type="radio" name="action" value="transition" id="bulk-transition"; " move to " }
                            select name="state" id="bulk-state" {
                                @for st in focal_incidents::State::ALL { option value=(st.as_str()) { (st.as_str()) } }
                            }
                            label { input type="radio" name="action" value="comment" id="bulk-comment"; " add the internal note " }
                            input type="text" name="text" id="bulk-text" maxlength="10000";
                            button type="submit" id="bulk-apply" { "Apply" }
                            small.muted { " At most " (BULK_MAX) " at once; each incident follows the same rules as on its own page." }
                        }
                    }
                }
                table #incidents {
                    thead { tr { @if manage { th { "Select" } } th { "#" } th { "Constituent" } th { "Type" } th { "State" } th { "Severity" } th { "TLP" } th { "Age" } th { "Assignee" } th { "Events" } th { "Due" } } }
                    tbody {
                        @for i in &rows {
                            @let open = focal_incidents::State::parse(&i.state).map(|s| s.is_open()).unwrap_or(true);
                            tr {
                                @if manage { td { input type="checkbox" form="bulk" name="id" value=(i.id) id=(format!("sel-{}", i.id)) aria-label=(format!("select incident {}", i.id)); } }
                                td { a.incident href=(format!("/incidents/{}", i.id)) { (i.id) } }
                                td { (i.constituent) } td { (i.classification_type) }
                                td { span class=(format!("state state-{}", css_token(&i.state))) { (i.state) } }
                                td { span class=(format!("sev sev-{}", css_token(&i.severity))) { (i.severity) } }
                                td { (tlp_label(&i.tlp)) }
                                td.nowrap.age title=(fmt_ts(&i.created_at)) { (age(&i.created_at, &now)) }
                                td { (i.assignee.as_deref().unwrap_or("")) } td.num { (i.event_count) }
                                // A closed incident has nothing due.
                                td.due {
                                    @if open {
                                        @if i.due_at < now { span.overdue { (fmt_ts(&i.due_at)) } } @else { (fmt_ts(&i.due_at)) }
                                    } @else { span.none { "—" } }
                                }
                            }
                        }
                    }
                }
                @if rows.is_empty() { p { "No incidents match." } }
                nav.pager {
                    a href=(format!("/incidents?{base}")) { "First page" }
                    @if let Some(n) = next { " · " a rel="next" href=(format!("/incidents?{base}&after={n}")) { "Next page" } }
                }
            },
        )
    });
    page_result(&p, r)
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One timeline entry as a sentence ("user:alice moved it from new to acknowledged"); internal
/// notes and replies to the constituent are told apart. Kinds it does not know are shown as
/// stored, so nothing is hidden.
fn timeline_entry(t: &Value) -> Markup {
    let d = &t["detail"];
    let actor = s(t, "actor");
    let text = |k: &str| d[k].as_str().unwrap_or_default().to_string();
    let count = |k: &str| {
        let n = d[k].as_u64().unwrap_or(0);
        format!("{n} event{}", if n == 1 { "" } else { "s" })
    };
    html! {
        @match s(t, "kind").as_str() {
            "created" => { strong { (actor) } " opened it with " (count("events")) }
            "events_added" => { (count("events")) " more grouped into it" @if !actor.is_empty() { " by " strong { (actor) } } }
            "transition" => { strong { (actor) } " moved it from " span.state { (text("from")) } " to " span.state { (text("to")) }
                @if !text("reason").is_empty() { ": " q { (text("reason")) } } }
            "notified" => { strong { (actor) } " notified the constituent (" (text("from")) " → notified)" }
            "assigned" => { strong { (actor) } @if text("to").is_empty() { " unassigned it" } @else { " assigned it to " strong { (text("to")) } }
                @if !text("from").is_empty() { " (was " (text("from")) ")" } }
            "severity" => { strong { (actor) } " changed the severity from " (text("from")) " to " (text("to"))
                @if let Some(due) = d["due_at"].as_str() { "; due " (short_time(due)) " UTC" } }
            "comment" => { strong { (actor) } " wrote an internal note " small.muted { "(staff only)" } blockquote.note-internal { (text("text")) } }
            "reply" => { strong { (actor) } " replied to the constituent" blockquote.note-reply { (text("text")) } }
            other => { strong { (actor) } " " (other) " " code { (d.to_string()) } }
        }
    }
}

/// Which page of an incident's events its page shows (1 = the first).
#[derive(serde::Deserialize)]
struct IncidentEventsPage {
    events_page: Option<usize>,
}

async fn incident(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Query(ep): Query<IncidentEventsPage>,
) -> Response {
    let events_page = ep.events_page.unwrap_or(1).max(1);
    let (events, more) =
        match api::incident_events_page(&state, p.scope(), id, events_page - 1, PAGE).await {
            Ok(found) => found,
            Err(e) => return error_page(&p, e),
        };
    // Staff who may assign pick from the accounts incidents may be assigned to.
    let staff = if p.can(Need::Manage) {
        let st = state.clone();
        match blocking(move || api::assignable(st.store.as_ref())).await {
            Ok(names) => names,
            Err(e) => return error_page(&p, e),
        }
    } else {
        Vec::new()
    };
    let r = api::incident_detail(&state, p.scope(), id).await.map(|d| {
        // The page reads the same document the API answers.
        let d = serde_json::json!(d);
        let i = &d["incident"];
        let empty = vec![];
        let allowed = d["allowed_transitions"].as_array().unwrap_or(&empty);
        let timeline = d["timeline"].as_array().unwrap_or(&empty);
        let constituent = p.scope().organisation().is_some();
        layout(
            &format!("Incident {id}"),
            Some(&p),
            html! {
                dl.facts {
                    dt { "State" } dd #state { (s(i, "state")) }
                    dt { "Constituent" } dd { (s(i, "constituent")) }
                    dt { "Type" } dd { (s(i, "classification_type")) }
                    dt { "Severity" } dd #severity { span class=(format!("sev sev-{}", css_token(&s(i, "severity")))) { (s(i, "severity")) } }
                    dt { "TLP" } dd { (s(i, "tlp")) }
                    dt { "Assignee" } dd #assignee { (s(i, "assignee")) }
                    dt { "Events" } dd { (s(i, "event_count")) }
                    dt { "Due" } dd #due { @if i["due_at"].is_null() { "—" } @else { (short_time(&s(i, "due_at"))) " UTC" } }
                }
                // `allowed` is already what this user may do (a constituent: acknowledge, or
                // dispute with a reason).
                @if p.can(Need::Act) && !allowed.is_empty() {
                    section.card { h2 { "Move to" }
                        @for t in allowed {
                            @let t = t.as_str().unwrap_or("");
                            form.inline method="post" action=(format!("/incidents/{id}/transition")) {
                                input type="hidden" name="csrf" value=(p.csrf());
                                input type="hidden" name="state" value=(t);
                                @if constituent && t == "false_positive" {
                                    label { "Why these events are not an incident " input type="text" name="reason" id="reason" required; }
                                    button type="submit" id=(format!("to-{t}")) { "Dispute (false positive)" }
                                } @else {
                                    button type="submit" id=(format!("to-{t}")) { (t) }
                                }
                            }
                        }
                    }
                }
                @if p.can(Need::Manage) {
                    @let assignee = s(i, "assignee");
                    @let sev = s(i, "severity");
                    section.card #manage { h2 { "Manage" }
                        form.inline #assign-form method="post" action=(format!("/incidents/{id}/assign")) {
                            input type="hidden" name="csrf" value=(p.csrf());
                            label { "Assign to " select name="assignee" id="assignee-pick" {
                                option value="" selected[assignee.is_empty()] { "— nobody —" }
                                // A former assignee who is no longer assignable stays visible.
                                @if !assignee.is_empty() && !staff.contains(&assignee) {
                                    option value=(assignee) selected { (assignee) " (not an enabled staff account)" }
                                }
                                @for n in &staff { option value=(n) selected[*n == assignee] { (n) } }
                            } }
                            button type="submit" id="assign" { "Assign" }
                        }
                        form.inline #severity-form method="post" action=(format!("/incidents/{id}/severity")) {
                            input type="hidden" name="csrf" value=(p.csrf());
                            label { "Severity " select name="severity" id="severity-pick" {
                                @for v in focal_incidents::Severity::ALL {
                                    option value=(v.as_str()) selected[v.as_str() == sev] { (v.as_str()) }
                                }
                                option value="" { "the type's default" }
                            } }
                            button type="submit" id="set-severity" { "Set severity" }
                            small.muted { " The SLA due time follows, counted from when the incident opened." }
                        }
                    }
                }
                h2 { "Timeline" }
                ol.timeline #timeline {
                    @for t in timeline {
                        li class=(format!("tl-{}", css_token(&s(t, "kind")))) { time { (short_time(&s(t, "at"))) " UTC" } " " (timeline_entry(t)) }
                    }
                }
                @if p.can(Need::Act) {
                    form method="post" action=(format!("/incidents/{id}/comment")) {
                        input type="hidden" name="csrf" value=(p.csrf());
                        @if constituent {
                            label { "Reply to the CSIRT" textarea name="text" id="comment" rows="3" required {} }
                            button type="submit" id="add-comment" { "Send reply" }
                        } @else {
                            label { "Comment (an internal note unless sent as a reply)" textarea name="text" id="comment" rows="3" required {} }
                            label { input type="checkbox" name="reply" value="1" id="reply"; " Reply: the constituent sees it" }
                            button type="submit" id="add-comment" { "Add comment" }
                        }
                    }
                }
                @let first = (events_page - 1) * PAGE;
                h2 #events-heading { "Events "
                    @if events.is_empty() { "(none on this page)" }
                    @else { (first + 1) "–" (first + events.len()) " of " (s(i, "event_count")) }
                }
                table #incident-events { thead { tr { th { "Time (UTC)" } th { "Source IP" } th { "ASN" } th { "Feed" } } }
                    tbody { @for e in &events { tr { td { (short_time(&s(e, "time.source"))) } td { (s(e, "source.ip")) } td { (s(e, "source.asn")) } td { (s(e, "feed.name")) } } } } }
                nav.pager {
                    @if events_page > 1 {
                        a #events-first href=(format!("/incidents/{id}")) { "First events" } " · "
                        a #events-prev rel="prev" href=(format!("/incidents/{id}?events_page={}", events_page - 1)) { "Earlier events" }
                    }
                    @if more {
                        @if events_page > 1 { " · " }
                        a #events-next rel="next" href=(format!("/incidents/{id}?events_page={}", events_page + 1)) { "Next events" }
                    }
                }
            },
        )
    });
    page_result(&p, r)
}

#[derive(serde::Deserialize)]
struct TransitionForm {
    state: String,
    reason: Option<String>,
}
#[derive(serde::Deserialize)]
struct CommentForm {
    text: String,
    /// Staff: "1" to send the comment as a reply the constituent sees.
    reply: Option<String>,
}
#[derive(serde::Deserialize)]
struct AssignForm {
    assignee: Option<String>,
}

async fn act(state: &AppState, p: &Principal, id: i64, c: Change) -> Response {
    match api::change(state, p, id, c).await {
        Ok(_) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(e) => error_page(p, e),
    }
}

async fn transition(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(f): Form<TransitionForm>,
) -> Response {
    act(&state, &p, id, Change::Transition(f.state, f.reason)).await
}

async fn comment(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(f): Form<CommentForm>,
) -> Response {
    let reply = f.reply.as_deref() == Some("1");
    act(&state, &p, id, Change::Comment(f.text, reply)).await
}

async fn assign(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> Response {
    act(&state, &p, id, Change::Assign(f.assignee)).await
}

/// The most incidents one bulk request changes.
const BULK_MAX: usize = 500;

/// One change to many incidents (the list page's form): each goes through [`api::change`], as
/// on its own page, so the same rules, timeline and audit entries apply. What an incident's
/// rules refuse is refused for it alone, and the page names it.
async fn bulk(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let mut ids: Vec<i64> = Vec::new();
    let (mut action, mut assignee, mut to, mut text) = (None, None, None, None);
    for (k, v) in fields {
        match k.as_str() {
            "id" => match v.trim().parse::<i64>() {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                Err(_) => {
                    return error_page(&p, ApiError::bad(format!("id {v:?}: not an incident id")));
                }
            },
            "action" => action = Some(v),
            "assignee" => assignee = Some(v),
            "state" => to = Some(v),
            "text" => text = Some(v),
            _ => {}
        }
        if ids.len() > BULK_MAX {
            return error_page(
                &p,
                ApiError::bad(format!("at most {BULK_MAX} incidents at once")),
            );
        }
    }
    if ids.is_empty() {
        return error_page(&p, ApiError::bad("no incident was selected"));
    }
    let what = match action.as_deref() {
        Some("assign") => match assignee.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => format!("assigned to {a}"),
            None => "unassigned".to_string(),
        },
        Some("transition") => format!("moved to {}", to.clone().unwrap_or_default()),
        Some("comment") => "given the note".to_string(),
        other => {
            return error_page(
                &p,
                ApiError::bad(format!(
                    "action {:?}: expected assign, transition or comment",
                    other.unwrap_or("")
                )),
            );
        }
    };
    let (mut done, mut refused) = (Vec::new(), Vec::new());
    for id in ids {
        let c = match action.as_deref() {
            Some("assign") => Change::Assign(assignee.clone()),
            Some("transition") => Change::Transition(to.clone().unwrap_or_default(), None),
            _ => Change::Comment(text.clone().unwrap_or_default(), false),
        };
        match api::change(&state, &p, id, c).await {
            Ok(_) => done.push(id),
            Err(e) => refused.push((id, e)),
        }
    }
    let status = refused.first().map(|(_, e)| e.0).unwrap_or(StatusCode::OK);
    let page = layout(
        "Bulk change",
        Some(&p),
        html! {
            @if !done.is_empty() {
                p #bulk-done { (done.len()) @if done.len() == 1 { " incident " } @else { " incidents " } (what) ": "
                    @for (n, id) in done.iter().enumerate() { @if n > 0 { ", " } a.incident href=(format!("/incidents/{id}")) { "#" (id) } }
                }
            }
            @if !refused.is_empty() {
                p.error { "Refused, and left as they were:" }
                ul.errors #bulk-refused {
                    @for (id, e) in &refused { li { a.incident href=(format!("/incidents/{id}")) { "#" (id) } ": " (e.1) } }
                }
            }
            p { a #back href="/incidents" { "Back to the incidents" } }
        },
    );
    (status, page).into_response()
}

#[derive(serde::Deserialize)]
struct SeverityForm {
    /// Empty: back to the severity of the incident's type.
    severity: Option<String>,
}

async fn severity(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    Form(f): Form<SeverityForm>,
) -> Response {
    act(&state, &p, id, Change::Severity(f.severity)).await
}

/// What users must know before they change a constituent.
fn ingest_note() -> Markup {
    html! {
        p.note {
            "Constituents are matched to events when the events are ingested: a change applies to "
            "ingests started after it, and events already stored keep the constituent they were given. "
            "A new abuse address receives the notifications queued after the change; the addresses to also notify receive a copy of every notification sent after it."
        }
    }
}

/// The problems of a refused change, all of them, each naming its line and field.
fn problem_list(problems: &[Problem]) -> Markup {
    html! {
        p.error { "Nothing was saved. Please correct:" }
        ul.errors #problems { @for pr in problems { li { (pr.to_string()) } } }
    }
}

/// The form for one constituent: a new one (with an id field) or an existing one. Shows the
/// values as the user typed them and, beside each field, what was wrong with it.
fn constituent_form(p: &Principal, f: &Fields, problems: &[Problem], new: bool) -> Markup {
    let said = |field: &str| -> Vec<&str> {
        problems
            .iter()
            .filter(|pr| pr.field.as_deref() == Some(field))
            .map(|pr| pr.message.as_str())
            .collect()
    };
    let errors = |field: &str| html! { @for m in said(field) { span.field-error { (m) } } };
    let (action, form_id, button, prefix) = if new {
        (
            "/constituents".to_string(),
            "new-constituent",
            "Add constituent",
            "n",
        )
    } else {
        (
            format!("/constituents/{}/edit", enc(&f.id)),
            "edit-constituent",
            "Save changes",
            "c",
        )
    };
    let id = |name: &str| format!("{prefix}-{name}");
    html! {
        form.constituent method="post" action=(action) id=(form_id) {
            input type="hidden" name="csrf" value=(p.csrf());
            @if new {
                label { "Id (stable; cannot be changed later)"
                    input type="text" name="id" id=(id("id")) value=(f.id) required maxlength="128";
                    (errors("id")) }
            }
            label { "Name" input type="text" name="name" id=(id("name")) value=(f.name) maxlength="256"; (errors("name")) }
            label { "Abuse e-mail" input type="email" name="abuse_email" id=(id("abuse_email")) value=(f.abuse_email); (errors("abuse_email")) }
            label { "Language of notifications (e.g. de, pt-BR; empty for the default)"
                input type="text" name="language" id=(id("language")) value=(f.language) maxlength="35"; (errors("language")) }
            label { "ASNs (one per line or separated by spaces)"
                textarea name="asns" id=(id("asns")) rows="3" { (f.asns) } (errors("asns")) }
            label { "Netblocks (CIDR, one per line or separated by spaces)"
                textarea name="netblocks" id=(id("netblocks")) rows="5" { (f.netblocks) } (errors("netblocks")) }
            label { "Domains (one per line or separated by spaces)"
                textarea name="domains" id=(id("domains")) rows="3" { (f.domains) } (errors("domains")) }
            label { "Also notify (further e-mail addresses for notifications, in copy; one per line, at most 10)"
                textarea name="also_notify" id=(id("also_notify")) rows="3" { (f.also_notify.as_deref().unwrap_or("")) } (errors("also_notify")) }
            button type="submit" id=(if new { "create" } else { "save" }) { (button) }
        }
    }
}

/// What the list page shows besides the list: the outcome of an import, or a refused new
/// constituent with what the user typed.
#[derive(Default)]
struct ListExtras {
    import: Option<Result<ImportResult, Vec<Problem>>>,
    new: Option<(Fields, Vec<Problem>)>,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    p: &Principal,
    after: String,
    status: StatusCode,
    extras: ListExtras,
) -> Response {
    let (st, scope) = (state.clone(), p.scope());
    let manage = p.can(Need::ManageConstituents);
    let r = blocking(move || Ok(st.store.constituents_page(&scope, &after, PAGE + 1)?))
        .await
        .map(|mut rows| {
            let next = (rows.len() > PAGE).then(|| {
                rows.truncate(PAGE);
                rows.last().map(|c| c.id.clone())
            });
            let empty = Fields::default();
            let (new_fields, new_problems) = match &extras.new {
                Some((f, pr)) => (f, pr.as_slice()),
                None => (&empty, &[][..]),
            };
            layout(
                "Constituents",
                Some(p),
                html! {
                    @if let Some(e) = &extras.error { p.error #import-error { (e) } }
                    @match &extras.import {
                        Some(Ok(r)) => p.notice #import-summary {
                            "Imported " (r.rows) " rows: " (r.added) " added, " (r.updated) " updated, "
                            (r.unchanged) " unchanged."
                        },
                        Some(Err(problems)) => section.card #import-problems {
                            h2 { "The import was refused" }
                            (problem_list(problems))
                        },
                        None => {},
                    }
                    @if !new_problems.is_empty() {
                        section.card #new-problems { h2 { "The new constituent was refused" } (problem_list(new_problems)) }
                    }
                    @if manage {
                        // Folded (no script needed) so the list stays in view; opened again
                        // when the form comes back with problems.
                        details.card #import open[extras.error.is_some()] {
                            summary { "Import from CSV" }
                            (ingest_note())
                            p { "Columns " code { "id,name,abuse_email,asns,netblocks,domains" } " and optionally "
                                code { "language" } " and " code { "also_notify" } " (addresses separated by " code { ";" } "), with a header line; lists separated by spaces. Known ids are updated, "
                                "new ones added. If any row is wrong, nothing is imported and every problem is listed. At most 10 MiB." }
                            form.upload method="post" action="/constituents/import" enctype="multipart/form-data" {
                                input type="hidden" name="csrf" value=(p.csrf());
                                label { "CSV file" input type="file" name="file" id="import-file" accept=".csv,text/csv"; }
                                label { "or paste the CSV here" textarea name="csv" id="import-text" rows="4" {} }
                                button type="submit" id="import-submit" { "Import" }
                            }
                        }
                        details.card #new open[!new_problems.is_empty()] {
                            summary { "New constituent" }
                            (ingest_note())
                            (constituent_form(p, new_fields, new_problems, true))
                        }
                    }
                    table #constituents { thead { tr { th { "Id" } th { "Name" } th { "Abuse contact" } th { "ASNs" } th { "Netblocks" } } }
                        tbody { @for c in &rows { tr {
                            td { a href=(format!("/constituents/{}", enc(&c.id))) { (c.id) } } td { (c.name) } td { (c.abuse_email) }
                            td { (c.asns.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")) } td { (c.netblocks.len()) }
                        } } } }
                    @if let Some(Some(n)) = next { nav.pager { a rel="next" href=(format!("/constituents?after={}", enc(&n))) { "Next page" } } }
                },
            )
        });
    match r {
        Ok(h) => (status, h).into_response(),
        Err(e) => error_page(p, e),
    }
}

async fn constituents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<KeyPage>,
) -> Response {
    let after = q.after.clone().unwrap_or_default();
    list_page(&state, &p, after, StatusCode::OK, ListExtras::default()).await
}

async fn create_constituent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Form(f): Form<Fields>,
) -> Response {
    match cons::save(&state, &p, f.clone(), SaveMode::Create).await {
        Ok((c, _)) => {
            Redirect::to(&format!("/constituents/{}?saved=added", enc(&c.id))).into_response()
        }
        Err(ChangeError::Refused(problems)) => {
            let extras = ListExtras {
                new: Some((f, problems)),
                ..ListExtras::default()
            };
            list_page(
                &state,
                &p,
                String::new(),
                StatusCode::UNPROCESSABLE_ENTITY,
                extras,
            )
            .await
        }
        Err(ChangeError::Api(e)) => error_page(&p, e),
    }
}

/// The CSV of the import form: the file if one was chosen, else the pasted text.
async fn import_upload(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(bytes::Bytes, String), String> {
    let (limit, too_large) = crate::access::body_limit("/constituents/import");
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large.to_string())?;
    if !crate::multipart::is_multipart(headers) {
        return Err("the import form must be sent as multipart/form-data".into());
    }
    let parts = crate::multipart::parts(headers, body).await?;
    let file = parts
        .iter()
        .find(|p| p.name == "file" && !p.data.is_empty());
    let pasted = parts
        .iter()
        .find(|p| p.name == "csv" && !p.data.iter().all(u8::is_ascii_whitespace));
    match (file, pasted) {
        (Some(_), Some(_)) => Err("choose a file or paste the CSV, not both".into()),
        (Some(f), None) => {
            let name = f.file_name.clone().unwrap_or_else(|| "the file".into());
            Ok((f.data.clone(), format!("web upload: {name}")))
        }
        (None, Some(t)) => Ok((t.data.clone(), "web upload: pasted text".into())),
        (None, None) => Err("choose a CSV file or paste its text".into()),
    }
}

async fn import_constituents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let (status, extras) = match import_upload(&headers, body).await {
        Err(message) => (
            StatusCode::BAD_REQUEST,
            ListExtras {
                error: Some(message),
                ..ListExtras::default()
            },
        ),
        Ok((csv, source)) => match cons::import(&state, &p, csv, source).await {
            Ok(r) => (
                StatusCode::OK,
                ListExtras {
                    import: Some(Ok(r)),
                    ..ListExtras::default()
                },
            ),
            Err(ChangeError::Refused(problems)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ListExtras {
                    import: Some(Err(problems)),
                    ..ListExtras::default()
                },
            ),
            Err(ChangeError::Api(e)) => (
                e.0,
                ListExtras {
                    error: Some(e.1),
                    ..ListExtras::default()
                },
            ),
        },
    };
    list_page(&state, &p, String::new(), status, extras).await
}

#[derive(serde::Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn constituent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Response {
    detail_page(&state, &p, id, q.saved.as_deref(), None).await
}

async fn constituent_called_import(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<SavedQuery>,
) -> Response {
    detail_page(&state, &p, "import".into(), q.saved.as_deref(), None).await
}

async fn edit_constituent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    // The id is the URL's: a form cannot rename a constituent.
    let f = Fields {
        id: id.clone(),
        ..f
    };
    match cons::save(&state, &p, f.clone(), SaveMode::Update).await {
        Ok((c, _)) => {
            Redirect::to(&format!("/constituents/{}?saved=updated", enc(&c.id))).into_response()
        }
        Err(ChangeError::Refused(problems)) => {
            detail_page(&state, &p, id, None, Some((f, problems))).await
        }
        Err(ChangeError::Api(e)) => error_page(&p, e),
    }
}

/// A constituent's page; for staff who may change it, with the edit form (holding what they
/// typed and what was wrong, after a refused change).
async fn detail_page(
    state: &AppState,
    p: &Principal,
    id: String,
    saved: Option<&str>,
    refused: Option<(Fields, Vec<Problem>)>,
) -> Response {
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let notice = match saved {
        Some("added") => Some("Constituent added."),
        Some("updated") => Some("Changes saved."),
        _ => None,
    };
    let r = api::constituent_detail(state, p.scope(), id).await.map(|(row, d)| {
        let d = serde_json::json!(d);
        let c = &d["constituent"];
        let empty = vec![];
        let list = |k: &str| -> Vec<String> {
            c[k].as_array().unwrap_or(&empty).iter().map(|v| match v { Value::String(s) => s.clone(), o => o.to_string() }).collect()
        };
        let (form_fields, problems) = match &refused {
            Some((f, pr)) => (f.clone(), pr.as_slice()),
            None => (Fields::of(&row), &[][..]),
        };
        layout(
            &format!("Constituent {}", s(c, "id")),
            Some(p),
            html! {
                @if let Some(n) = notice { p.notice #saved { (n) } }
                @if !problems.is_empty() { section.card #edit-problems { (problem_list(problems)) } }
                dl.facts {
                    dt { "Name" } dd #name { (s(c, "name")) }
                    dt { "Abuse contact" } dd #abuse-email { (s(c, "abuse_email")) }
                    dt { "Language" } dd { (s(c, "language")) }
                    dt { "Also notify" } dd #also-notify { (list("also_notify").join(", ")) }
                    dt { "ASNs" } dd { (list("asns").join(", ")) }
                    dt { "Domains" } dd { (list("domains").join(", ")) }
                }
                h2 { "Netblocks" }
                ul.netblocks { @for n in list("netblocks") { li { code { (n) } } } }
                @if p.can(Need::ManageConstituents) {
                    section.card #edit {
                        h2 { "Edit" }
                        (ingest_note())
                        (constituent_form(p, &form_fields, problems, false))
                    }
                }
                h2 { "Incidents" }
                table { thead { tr { th { "#" } th { "Type" } th { "State" } th { "Events" } } }
                    tbody { @for i in d["incidents"].as_array().unwrap_or(&empty) {
                        tr { td { a href=(format!("/incidents/{}", s(i, "id"))) { (s(i, "id")) } } td { (s(i, "classification_type")) } td { (s(i, "state")) } td.num { (s(i, "event_count")) } }
                    } } }
                p { a href=(format!("/events?constituent={}", enc(&s(c, "id")))) { "This constituent's events" } }
                h2 { "Notifications (last 50 deliveries)" }
                table #notifications { thead { tr { th { "At" } th { "Message" } th { "Outcome" } th { "Detail" } } }
                    tbody { @for n in d["notifications"].as_array().unwrap_or(&empty) {
                        tr { td { (s(n, "at")) } td.num { (s(n, "outbox_id")) } td { (s(n, "outcome")) } td { (s(n, "detail")) } }
                    } } }
            },
        )
    });
    match r {
        Ok(h) => (status, h).into_response(),
        Err(e) => error_page(p, e),
    }
}

/// One line of the dashboard's feed health: the feed's last pull where it has one (that is
/// what tells whether the feed still arrives), else its last run.
struct Health {
    feed: String,
    /// A pull result (`ok`, `unchanged`, `failed`) or a run status.
    status: String,
    error: Option<String>,
    stored: Option<u64>,
    quarantined: Option<u64>,
    at: String,
}

fn feed_health(st: &AppState) -> Result<Vec<Health>, ApiError> {
    let pulls = focal_store::Store::latest_pulls(st.store.as_ref())?;
    let runs = st.store.latest_runs()?;
    let mut out: Vec<Health> = pulls
        .iter()
        .map(|p| {
            let run = runs.iter().find(|r| Some(r.id) == p.run_id);
            Health {
                feed: p.feed.clone(),
                status: p.result.as_str().to_string(),
                error: p.error.clone(),
                stored: p.run.map(|r| r.events_stored),
                quarantined: p.run.map(|r| r.quarantined),
                at: run
                    .and_then(|r| r.finished_at.clone())
                    .unwrap_or_else(|| p.finished_at.clone()),
            }
        })
        .collect();
    for r in &runs {
        if !out.iter().any(|h| h.feed == r.feed) {
            out.push(Health {
                feed: r.feed.clone(),
                status: r.status.as_str().to_string(),
                error: None,
                stored: Some(r.progress.events_stored),
                quarantined: Some(r.progress.quarantined),
                at: r.started_at.clone(),
            });
        }
    }
    // Failures first, then by name.
    out.sort_by(|a, b| (a.status != "failed", &a.feed).cmp(&(b.status != "failed", &b.feed)));
    Ok(out)
}

fn status_class(status: &str) -> &'static str {
    match status {
        "failed" | "interrupted" => "status bad",
        "ok" | "completed" => "status good",
        _ => "status",
    }
}

/// A stored RFC 3339 time to the second, for tables (the stored value keeps nanoseconds).
fn short_time(text: &str) -> String {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| text.to_string())
}

fn duration(secs: u64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

fn schedule(f: &FeedInfo) -> String {
    match &f.pull {
        None => "not pulled (focal ingest)".into(),
        Some(p) => match p.every_secs {
            Some(s) => format!("every {}", duration(s)),
            None => "on request".into(),
        },
    }
}

fn pull_cell(p: &FeedPull) -> Markup {
    html! {
        span class=(status_class(&p.result)) { (p.result) }
        @if let Some(s) = p.http_status { " (HTTP " (s) ")" }
        " " time datetime=(p.finished_at) { (short_time(&p.finished_at)) }
        @if let Some(e) = &p.error { br; span.error-detail { (e) } }
    }
}

fn run_counts(p: Option<&api::FeedRun>) -> Markup {
    html! {
        @if let Some(r) = p {
            (r.events_stored) " stored, " (r.duplicates) " duplicates, " (r.quarantined) " quarantined"
            " (run " (r.run_id) ", " (r.status) ")"
        }
    }
}

async fn feeds(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<BeforePage>,
) -> Response {
    let st = state.clone();
    let before = q.before.unwrap_or(0).max(0);
    let feed = q.feed.clone();
    let registered = api::feed_list(&state).await;
    let r = blocking(move || {
        Ok((
            st.store.runs_page(0, 20)?,
            st.store.quarantine_page(feed.as_deref(), before, PAGE)?,
        ))
    })
    .await
    .and_then(|x| registered.map(|reg| (reg, x)))
    .map(|(reg, (runs, records))| {
        let next = (records.len() == PAGE).then(|| records.last().map(|r| r.id)).flatten();
        layout(
            "Feeds",
            Some(&p),
            html! {
                h2 { "Registered feeds" }
                @if !reg.scheduled { p.notice { "Scheduled pulls are off in this server (--no-workers, or workers.feeds_every = 0); `focal feeds pull` pulls on request." } }
                @for problem in &reg.problems { p.error { "Not usable: " (problem) } }
                @if reg.feeds.is_empty() {
                    p { "No feed is registered. Add definitions with " code { "focal feeds add FILE" } "." }
                } @else {
                    table #registered { thead { tr { th { "Feed" } th { "Provider" } th { "Format" } th { "TLP" } th { "Source" } th { "Schedule" } th { "Last pull" } th { "Next pull due" } th { "Last run" } } }
                        tbody { @for f in &reg.feeds { tr {
                            td { a href=(format!("/feeds/{}", enc(&f.name))) { (f.name) } }
                            td { (f.provider.as_deref().unwrap_or("")) }
                            td { (f.format) }
                            td { (f.tlp) }
                            td { code { (f.pull.as_ref().map(|p| p.url.as_str()).or(f.url.as_deref()).unwrap_or("")) } }
                            td { (schedule(f)) }
                            td { @if let Some(l) = &f.last_pull { (pull_cell(l)) } @else { "never" } }
                            td { (f.next_pull_due.as_deref().map(short_time).unwrap_or_default()) }
                            td { (run_counts(f.last_run.as_ref())) }
                        } } } }
                }
                h2 { "Last runs" }
                table #runs { thead { tr { th { "Run" } th { "Feed" } th { "File" } th { "Status" } th { "Rows" } th { "Stored" } th { "Duplicates" } th { "Quarantined" } th { "Started" } } }
                    tbody { @for r in &runs { tr id=(format!("run-{}", r.id)) {
                        td.num { (r.id) } td { (r.feed) } td { (r.file_name) } td { (r.status.as_str()) } td.num { (r.progress.rows_read) }
                        td.num { (r.progress.events_stored) } td.num { (r.progress.duplicates) } td.num { (r.progress.quarantined) } td { (r.started_at) }
                    } } } }
                h2 { "Quarantine" }
                table #quarantine { thead { tr { th { "Feed" } th { "File" } th { "Line" } th { "Kind" } th { "Field" } th { "Reason" } th { "Record" } } }
                    tbody { @for r in &records { tr {
                        td { (r.feed) } td { (r.file_name) } td.num { (r.line) } td { (r.kind) } td { (r.field.as_deref().unwrap_or("")) }
                        td { (r.reason) } td { code { (r.raw.chars().take(200).collect::<String>()) } }
                    } } } }
                @if let Some(n) = next { nav.pager { a rel="next" href=(format!("/feeds?{}", query(&[("before", Some(n.to_string())), ("feed", q.feed.clone())]))) { "Older records" } } }
            },
        )
    });
    page_result(&p, r)
}

#[derive(serde::Deserialize)]
struct FeedPageQuery {
    before: Option<i64>,
    /// Set after a pull was handed to the scheduler.
    requested: Option<String>,
}

async fn feed(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<FeedPageQuery>,
) -> Response {
    let page = PullPage {
        before: q.before,
        limit: Some(PAGE),
    };
    let scheduled = state.feeds.as_ref().is_some_and(|f| f.pull_now.is_some());
    let r = api::feed_detail(&state, name.clone(), page.before.unwrap_or(0), PAGE)
        .await
        .map(|d| {
            let f = &d.feed;
            layout(
                &format!("Feed {}", f.name),
                Some(&p),
                html! {
                    @if q.requested.is_some() { p.notice #requested { "The pull was handed to the scheduler; reload to see its result below." } }
                    dl.facts {
                        dt { "Provider" } dd { (f.provider.as_deref().unwrap_or("")) }
                        dt { "Format" } dd { (f.format) }
                        dt { "TLP" } dd { (f.tlp) }
                        dt { "Home" } dd { (f.url.as_deref().unwrap_or("")) }
                        dt { "Schedule" } dd #schedule { (schedule(f)) }
                        @if let Some(pl) = &f.pull {
                            dt { "Pulled from" } dd { code { (pl.url) } }
                            dt { "Largest download" } dd { (pl.max_bytes) " bytes" }
                            dt { "Time limit" } dd { (duration(pl.timeout_secs)) }
                            dt { "Downloads kept" } dd { (pl.keep) }
                            @if !pl.headers.is_empty() { dt { "Headers sent" } dd { (pl.headers.join(", ")) } }
                        }
                        dt { "Next pull due" } dd { (f.next_pull_due.as_deref().map(short_time).unwrap_or_else(|| (if scheduled { "" } else { "scheduled pulls are off in this server" }).to_string())) }
                        dt { "Last run" } dd { (run_counts(f.last_run.as_ref())) }
                    }
                    @if f.pull.is_some() && p.can(Need::Operate) && scheduled {
                        form.inline method="post" action=(format!("/feeds/{}/pull", enc(&f.name))) {
                            input type="hidden" name="csrf" value=(p.csrf());
                            button type="submit" id="pull-now" { "Pull now" }
                        }
                    }
                    h2 { "Pulls" }
                    @if d.pulls.is_empty() { p { "Not pulled yet." } } @else {
                        table #pulls { thead { tr { th { "#" } th { "Requested by" } th { "Started" } th { "Finished" } th { "Result" } th { "HTTP" } th { "Bytes" } th { "Run" } th { "Error" } } }
                            tbody { @for pl in &d.pulls { tr {
                                td.num { (pl.id) } td { (pl.requested_by) } td { (short_time(&pl.started_at)) } td { (short_time(&pl.finished_at)) }
                                td { span class=(status_class(&pl.result)) { (pl.result) } }
                                td { (pl.http_status.map(|s| s.to_string()).unwrap_or_default()) }
                                td.num { (pl.bytes.map(|b| b.to_string()).unwrap_or_default()) }
                                td { (run_counts(pl.run.as_ref())) }
                                td { (pl.error.as_deref().unwrap_or("")) }
                            } } } }
                    }
                    @if let Some(n) = d.next_before { nav.pager { a rel="next" href=(format!("/feeds/{}?before={n}", enc(&f.name))) { "Older pulls" } } }
                    h2 { "Definition" }
                    p { "As written, except for secrets: header values and the pull URL's user, password and query are shown as [redacted]." }
                    pre.definition { code { (d.definition) } }
                },
            )
        });
    page_result(&p, r)
}

/// Hands the feed to the scheduler, which pulls it next (one pull at a time, in its loop), and
/// records who asked in the audit log. A place in the scheduler's queue is taken before the entry
/// is written and used only after it is: the log says "requested" only of a request that was
/// handed on, and nothing is handed on unrecorded.
async fn pull_now(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Response {
    let detail = match api::feed_detail(&state, name.clone(), 0, 1).await {
        Ok(d) => d,
        Err(e) => return error_page(&p, e),
    };
    if detail.feed.pull.is_none() {
        return error_page(
            &p,
            ApiError::bad(format!(
                "feed {name} has no [pull] table: it is not downloaded by Focal"
            )),
        );
    }
    let Some(tx) = state.feeds.as_ref().and_then(|f| f.pull_now.clone()) else {
        return error_page(
            &p,
            ApiError(
                axum::http::StatusCode::CONFLICT,
                "scheduled pulls are off in this server; run `focal feeds pull NAME`".into(),
            ),
        );
    };
    let place = match tx.try_reserve_owned() {
        Ok(place) => place,
        Err(full_or_closed) => {
            let why = match full_or_closed {
                tokio::sync::mpsc::error::TrySendError::Full(_) => {
                    "the scheduler has as many pulls waiting as it takes; try again when they are done"
                }
                tokio::sync::mpsc::error::TrySendError::Closed(_) => {
                    "the scheduler has stopped (the server is shutting down)"
                }
            };
            return error_page(
                &p,
                ApiError(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    format!("feed {name} was not pulled: {why}"),
                ),
            );
        }
    };
    let (st, actor, feed) = (state.clone(), p.actor(), name.clone());
    let audited = blocking(move || {
        st.store.audit_append(
            &actor,
            "feed.pull",
            &format!("feed:{feed}"),
            None,
            Some(&serde_json::json!({"requested": "now"})),
        )?;
        Ok(())
    })
    .await;
    if let Err(e) = audited {
        // The place is given back unused: nothing is pulled that the log does not show.
        return error_page(&p, e);
    }
    place.send(crate::PullNow {
        feed: name.clone(),
        requested_by: format!("web:{}", p.user.name),
    });
    Redirect::to(&format!("/feeds/{}?requested=1", enc(&name))).into_response()
}

#[derive(serde::Deserialize, Default)]
struct AuditPage {
    /// Older entries than this id (the next page, newest first).
    before: Option<i64>,
    /// Newer entries than this id (oldest first, `order=oldest`).
    after: Option<i64>,
    actor: Option<String>,
    subject: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    order: Option<String>,
}

fn filled(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A JSON value as a person reads it: text as text (its line breaks kept), lists of plain
/// values joined, anything else indented.
fn readable(v: &Value) -> Markup {
    match v {
        Value::Null => html! { span.none { "—" } },
        Value::String(t) => html! { span.text { (t) } },
        Value::Bool(_) | Value::Number(_) => html! { (v.to_string()) },
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(t) => t.clone(),
                    other => other.to_string(),
                })
                .collect();
            if parts.is_empty() {
                html! { span.none { "(none)" } }
            } else {
                html! { span.text { (parts.join(", ")) } }
            }
        }
        other => html! {
            pre.json { (serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string())) }
        },
    }
}

/// What an audit entry changed: field by field where both sides are objects (changed fields
/// marked), else the value before and after.
fn change(before: Option<&Value>, after: Option<&Value>) -> Markup {
    let empty = serde_json::Map::new();
    match (before, after) {
        (b, a) if b.is_none_or(Value::is_object) && a.is_none_or(Value::is_object) => {
            let b = b.and_then(Value::as_object).unwrap_or(&empty);
            let a = a.and_then(Value::as_object).unwrap_or(&empty);
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            let both = before.is_some() && after.is_some();
            // With both sides, the changed fields; the unchanged ones folded away.
            let (changed, same): (Vec<&String>, Vec<&String>) = keys
                .into_iter()
                .partition(|k| !both || b.get(k.as_str()) != a.get(k.as_str()));
            let row = |k: &String, class: &str| {
                let (vb, va) = (b.get(k.as_str()), a.get(k.as_str()));
                html! {
                    tr class=(class) {
                        th { (k) }
                        @if before.is_some() { td { @if let Some(v) = vb { (readable(v)) } @else { span.none { "—" } } } }
                        @if after.is_some() { td { @if let Some(v) = va { (readable(v)) } @else { span.none { "—" } } } }
                    }
                }
            };
            html! {
                @if changed.is_empty() && same.is_empty() { span.none { "—" } }
                @if !changed.is_empty() {
                    table.change {
                        @if both { thead { tr { th { "Field" } th { "Before" } th { "After" } } } }
                        tbody { @for k in &changed { (row(k, if both { "changed" } else { "" })) } }
                    }
                }
                @if !same.is_empty() {
                    details.unchanged {
                        summary { (same.len()) " unchanged field" @if same.len() != 1 { "s" } }
                        table.change { tbody { @for k in &same { (row(k, "")) } } }
                    }
                }
            }
        }
        (b, a) => html! {
            div.change {
                @if let Some(b) = b { div { span.label { "Before: " } (readable(b)) } }
                @if let Some(a) = a { div { span.label { "After: " } (readable(a)) } }
            }
        },
    }
}

async fn audit(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<AuditPage>,
) -> Response {
    let newest = match q.order.as_deref().map(str::trim) {
        None | Some("") | Some("newest") => true,
        Some("oldest") => false,
        Some(other) => {
            return error_page(
                &p,
                ApiError::bad(format!("order {other:?}: expected newest or oldest")),
            );
        }
    };
    let time = |name: &str, v: &Option<String>| -> Result<Option<jiff::Timestamp>, ApiError> {
        filled(v).map(|t| api::parse_time(name, &t)).transpose()
    };
    let (since, until) = match (time("since", &q.since), time("until", &q.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return error_page(&p, e),
    };
    let filter = AuditFilter {
        actor: filled(&q.actor),
        subject: filled(&q.subject),
        action: filled(&q.action),
        since,
        until,
        after_id: if newest { None } else { q.after },
        before_id: if newest { q.before } else { None },
        newest_first: newest,
        limit: Some(PAGE),
    };
    let st = state.clone();
    let rows = match blocking(move || Ok(st.store.audit_entries(&filter)?)).await {
        Ok(rows) => rows,
        Err(e) => return error_page(&p, e),
    };
    let next = (rows.len() == PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let base = query(&[
        ("actor", filled(&q.actor)),
        ("subject", filled(&q.subject)),
        ("action", filled(&q.action)),
        ("since", filled(&q.since)),
        ("until", filled(&q.until)),
        ("order", (!newest).then(|| "oldest".to_string())),
    ]);
    let field = |name: &'static str, label: &str, v: &Option<String>, hint: &str| {
        html! {
            label { (label) input type="text" name=(name) id=(format!("a-{name}")) value=(v.clone().unwrap_or_default()) placeholder=(hint); }
        }
    };
    layout(
        "Audit log",
        Some(&p),
        html! {
            form.filters method="get" action="/audit" {
                (field("actor", "Actor", &q.actor, "user:alice"))
                (field("subject", "Subject", &q.subject, "incident:12"))
                (field("action", "Action", &q.action, "incident.transition"))
                (field("since", "Since", &q.since, "2026-11-01"))
                (field("until", "Until", &q.until, "2026-12-01T12:00:00Z"))
                label { "Order" select name="order" id="a-order" {
                    option value="newest" selected[newest] { "newest first" }
                    option value="oldest" selected[!newest] { "oldest first" }
                } }
                button type="submit" id="audit-filter" { "Filter" }
            }
            @if rows.is_empty() { p #audit-empty { "No entries match." } }
            table #audit { thead { tr { th { "#" } th { "At" } th { "Actor" } th { "Action" } th { "Subject" } th { "Change" } th { "Hash" } } }
                tbody { @for e in &rows { tr {
                    td.num { (e.id) }
                    td.nowrap { time datetime=(e.at) { (short_time(&e.at)) } }
                    td { a href=(format!("/audit?actor={}", enc(&e.actor))) { (e.actor) } }
                    td { a href=(format!("/audit?action={}", enc(&e.action))) { (e.action) } }
                    td { a href=(format!("/audit?subject={}", enc(&e.subject))) { (e.subject) } }
                    td { (change(e.before.as_ref(), e.after.as_ref())) }
                    td.nowrap { code title=(e.hash) { (e.hash.get(..12).unwrap_or(&e.hash)) } }
                } } } }
            nav.pager {
                a href=(format!("/audit?{base}")) { "First page" }
                @if let Some(n) = next {
                    " · "
                    a rel="next" id="next" href=(format!("/audit?{base}&{}={n}", if newest { "before" } else { "after" })) { "Next page" }
                }
            }
        },
    )
    .into_response()
}
