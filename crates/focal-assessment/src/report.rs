//! Standalone reports: one HTML file with its styles and charts inline (SVG), and nothing fetched
//! from anywhere, so it can be mailed or archived as is. Every value is escaped by `maud`.

use crate::assessment::{Assessment, AssessmentHeader};
use crate::framework::{Framework, TextKind};
use crate::matching::Finding;
use crate::risk::{IMPACT, LIKELIHOOD, RISK_SCALE, Risk, heat_map};
use crate::score::{Comparison, Scorecard};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24;line-height:1.45}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccd}table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #ccd;padding:.3rem .45rem;text-align:left;vertical-align:top}th{background:#f1f3f7}.label{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;background:#fff3cd;border:1px solid #e0c36a;font-size:.85rem}.muted{color:#5b6470;font-size:.85rem}.summary{font-style:italic}blockquote{margin:.2rem 0;padding-left:.6rem;border-left:3px solid #99a}.big{font-size:2rem;font-weight:700}.up{color:#146c2e}.down{color:#a4161a}svg text{font-family:system-ui,sans-serif}";

fn fmt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "n/a".into())
}

/// A horizontal bar chart of scores (0-100).
pub fn bar_chart(title: &str, bars: &[(String, Option<f64>)]) -> Markup {
    let row = 26.0;
    let label_w = 260.0;
    let chart_w = 420.0;
    let height = row * bars.len() as f64 + 30.0;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(label_w + chart_w + 60.0) height=(height) role="img" aria-label=(title) {
            title { (title) }
            @for x in [0.0, 25.0, 50.0, 75.0, 100.0] {
                line x1=(label_w + chart_w * x / 100.0) x2=(label_w + chart_w * x / 100.0) y1="0" y2=(height - 20.0) stroke="#dde" {}
                text x=(label_w + chart_w * x / 100.0) y=(height - 6.0) font-size="11" text-anchor="middle" fill="#5b6470" { (x) }
            }
            @for (n, (label, value)) in bars.iter().enumerate() {
                @let y = n as f64 * row + 4.0;
                text x=(label_w - 6.0) y=(y + 15.0) font-size="12" text-anchor="end" { (label.chars().take(40).collect::<String>()) }
                @if let Some(v) = value {
                    rect x=(label_w) y=(y) width=(chart_w * v.clamp(0.0, 100.0) / 100.0) height=(row - 8.0) fill="#3b6fb6" {}
                    text x=(label_w + chart_w * v.clamp(0.0, 100.0) / 100.0 + 4.0) y=(y + 14.0) font-size="11" { (format!("{v:.1}")) }
                } @else {
                    text x=(label_w + 4.0) y=(y + 14.0) font-size="11" fill="#5b6470" { "n/a" }
                }
            }
        }
    }
}

/// The overall score across assessments, oldest first.
pub fn trend_chart(points: &[(String, Option<f64>)]) -> Markup {
    let (w, h, pad) = (640.0, 220.0, 36.0);
    let n = points.len().max(1);
    let x = |k: usize| {
        if n == 1 {
            w / 2.0
        } else {
            // A wider left margin keeps the first point's label off the axis labels.
            2.0 * pad + (w - 3.0 * pad) * k as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| h - pad - (h - 2.0 * pad) * v.clamp(0.0, 100.0) / 100.0;
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .filter_map(|(k, (_, v))| v.map(|v| format!("{:.1},{:.1}", x(k), y(v))))
        .collect();
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) role="img" aria-label="Overall score across assessments" {
            title { "Overall score across assessments" }
            @for v in [0.0, 50.0, 100.0] {
                line x1=(pad) x2=(w - pad) y1=(y(v)) y2=(y(v)) stroke="#dde" {}
                text x=(pad - 6.0) y=(y(v) + 4.0) font-size="11" text-anchor="end" fill="#5b6470" { (v) }
            }
            polyline points=(path.join(" ")) fill="none" stroke="#3b6fb6" stroke-width="2" {}
            @for (k, (label, v)) in points.iter().enumerate() {
                @if let Some(v) = v {
                    circle cx=(x(k)) cy=(y(*v)) r="4" fill="#3b6fb6" {}
                    text x=(x(k)) y=(y(*v) - 8.0) font-size="11" text-anchor="middle" { (format!("{v:.1}")) }
                }
                text x=(x(k)) y=(h - 10.0) font-size="11" text-anchor="middle" fill="#5b6470" { (label) }
            }
        }
    }
}

fn level_label(f: &Framework, level: Option<&str>) -> String {
    match level {
        None => "unanswered".into(),
        Some(crate::framework::NOT_APPLICABLE) => "n/a".into(),
        Some(l) => f
            .level(l)
            .map(|x| x.label.clone())
            .unwrap_or_else(|| l.to_string()),
    }
}

/// The assessment report.
pub fn assessment_html(
    framework: &Framework,
    assessment: &Assessment,
    card: &Scorecard,
    comparison: Option<&Comparison>,
    trend: &[(AssessmentHeader, Option<f64>)],
) -> String {
    let h = &assessment.header;
    let bars: Vec<(String, Option<f64>)> = if framework.sections.len() == 1 {
        card.items
            .iter()
            .map(|i| {
                let leaf = framework.leaf(&i.item);
                let name = leaf
                    .and_then(|l| l.item.title.clone())
                    .unwrap_or_else(|| i.item.clone());
                (name, i.score.map(|s| s * 100.0))
            })
            .collect()
    } else {
        card.sections
            .iter()
            .map(|s| (format!("{} {}", s.section, s.title), s.score))
            .collect()
    };
    let points: Vec<(String, Option<f64>)> = trend
        .iter()
        .map(|(t, v)| {
            let label = match t.completed_at {
                Some(c) => c.to_string()[..10].to_string(),
                None => format!("#{} (draft)", t.id),
            };
            (label, *v)
        })
        .collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Self-assessment " (h.id) ": " (h.subject.name) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                p { span.label { "Self-assessment. Not an ITU GCI score or a GCSCC CMM review: scores use Focal's own method, stated below." } }
                h1 { "Self-assessment #" (h.id) ": " (h.subject.name) " (" (h.subject.kind.as_str()) ")" }
                p {
                    "Framework: " strong { (framework.title) } " (" (framework.id) ", version " (framework.version) "). "
                    "Status: " (h.status.as_str()) ". Created " (h.created_at.to_string()) " by " (h.created_by) "."
                    @if let Some(c) = h.completed_at { " Completed " (c.to_string()) "." }
                    @if let Some(d) = h.due { " Reassessment due " strong { (d.to_string()) } "." }
                }
                p.muted { "Source: " (framework.source.citation)
                    @if let Some(u) = &framework.source.url { " — " a href=(u) { (u) } }
                    @if let Some(n) = &framework.source.note { br; (n) } }
                h2 { "Score" }
                p { span.big { (fmt(card.overall)) } " / 100"
                    @if let Some(b) = &card.band { " — band: " strong { (b) } } }
                p.muted { (card.answered) " answered, " (card.not_applicable) " not applicable, " (card.unanswered) " unanswered of " (card.items_total) " items. " (card.method) }
                (bar_chart(if framework.sections.len() == 1 { "Score per item" } else { "Score per section" }, &bars))
                @if points.len() > 1 {
                    h2 { "Trend" }
                    (trend_chart(&points))
                }
                @if let Some(c) = comparison {
                    h2 { "Compared with assessment #" (c.from) }
                    p { "Overall " (fmt(c.overall_before)) " → " (fmt(c.overall_after))
                        @if let Some(d) = c.overall_delta { " (" span class=(if d >= 0.0 {"up"} else {"down"}) { (format!("{d:+.1}")) } ")" } }
                    table {
                        tr { th { "Item" } th { "Before" } th { "After" } th { "Change" } }
                        @for (kind, list) in [("improved", &c.improved), ("regressed", &c.regressed), ("changed", &c.other_changes)] {
                            @for ch in list.iter() {
                                tr { td { (ch.item) } td { (level_label(framework, ch.before.as_deref())) } td { (level_label(framework, ch.after.as_deref())) }
                                     td class=(match kind { "improved" => "up", "regressed" => "down", _ => "" }) { (kind) } }
                            }
                        }
                    }
                }
                h2 { "Gaps, largest first" }
                @if card.gaps.is_empty() { p { "No gaps: every applicable item is at its target." } } @else {
                    table {
                        tr { th { "#" } th { "Item" } th { "Answer" } th { "Target" } th { "Points to gain" } th { "Owner" } th { "By" } }
                        @for g in &card.gaps {
                            tr { td { (g.rank) } td { (g.item) " " (g.title.chars().take(90).collect::<String>()) }
                                 td { (level_label(framework, g.answer.as_deref())) } td { (level_label(framework, Some(&g.target))) }
                                 td { (format!("{:.1}", g.points)) } td { (g.owner.clone().unwrap_or_default()) }
                                 td { (g.target_date.map(|d| d.to_string()).unwrap_or_default()) } }
                        }
                    }
                }
                h2 { "Answers and evidence" }
                @for section in &framework.sections {
                    h3 { (section.id) " " (section.title) }
                    table {
                        tr { th { "Item" } th { "Text" } th { "Answer" } th { "Evidence" } }
                        @for leaf in framework.leaves().iter().filter(|l| l.section.id == section.id) {
                            @let a = assessment.answer(&leaf.item.id);
                            tr {
                                td { (leaf.item.id) @if let Some(t) = &leaf.item.title { br; strong { (t) } } }
                                td {
                                    @if framework.text_kind_of(leaf.item) == TextKind::Verbatim {
                                        blockquote { (leaf.item.text) }
                                    } @else {
                                        span.summary { "Summary of the source: " (leaf.item.text) }
                                    }
                                }
                                td { (level_label(framework, a.and_then(|a| a.level.as_deref())))
                                     @if let Some(o) = a.and_then(|a| a.owner.as_ref()) { br; span.muted { "owner " (o) } } }
                                td {
                                    @if let Some(a) = a {
                                        (a.evidence)
                                        @for l in &a.links { br; a href=(l) { (l) } }
                                    }
                                    @for f in assessment.files.iter().filter(|f| f.item == leaf.item.id) {
                                        br; span.muted { "file " (f.name) " (" (f.size) " bytes, SHA-256 " (f.sha256[..12].to_string()) "…)" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

/// The risk report: the heat map, the risks, and the open findings.
pub fn risk_html(risks: &[Risk], findings: &[Finding]) -> String {
    let grid = heat_map(risks);
    let colour = |l: usize, i: usize| match crate::risk::band((l * i) as u8) {
        "low" => "#d8f0d8",
        "medium" => "#fff3b0",
        "high" => "#ffcc99",
        _ => "#f4a3a3",
    };
    let cell = 70.0;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Risk register" } style { (PreEscaped(STYLE)) } }
            body {
                h1 { "Risk register" }
                p.muted { "Scale: " (RISK_SCALE) }
                h2 { "Heat map" }
                svg xmlns="http://www.w3.org/2000/svg" width=(cell * 5.0 + 150.0) height=(cell * 5.0 + 60.0) role="img" aria-label="Risk heat map" {
                    title { "Risks by likelihood and impact" }
                    @for row in 0..5usize {
                        @let l = 5 - row;
                        text x="140" y=(row as f64 * cell + cell / 2.0 + 4.0) font-size="11" text-anchor="end" { (l) " " (LIKELIHOOD[l - 1]) }
                        @for col in 0..5usize {
                            rect x=(150.0 + col as f64 * cell) y=(row as f64 * cell) width=(cell - 2.0) height=(cell - 2.0) fill=(colour(l, col + 1)) {}
                            text x=(150.0 + col as f64 * cell + cell / 2.0) y=(row as f64 * cell + cell / 2.0 + 6.0) font-size="18" text-anchor="middle" {
                                @if grid[row][col] > 0 { (grid[row][col]) }
                            }
                        }
                    }
                    @for col in 0..5usize {
                        text x=(150.0 + col as f64 * cell + cell / 2.0) y=(cell * 5.0 + 16.0) font-size="11" text-anchor="middle" { (col + 1) " " (IMPACT[col]) }
                    }
                    text x=(150.0 + cell * 2.5) y=(cell * 5.0 + 40.0) font-size="12" text-anchor="middle" { "impact →" }
                }
                h2 { "Risks" }
                table {
                    tr { th { "#" } th { "Risk" } th { "Asset" } th { "L×I" } th { "Band" } th { "Acceptable" } th { "Treatment" } th { "Controls" } th { "Review" } }
                    @for r in risks {
                        @let rating = r.draft.rating();
                        tr { td { (r.id) } td { (r.draft.title) } td { (r.draft.asset.clone().unwrap_or_default()) }
                             td { (r.draft.likelihood) "×" (r.draft.impact) " = " (rating.level) }
                             td { (rating.band) @if rating.exceeds_appetite { br; strong.down { "above appetite" } } }
                             td { (rating.acceptable) } td { (r.draft.treatment.as_str()) }
                             td { @for c in &r.draft.controls { (c.framework) " " (c.item) br; } }
                             td { (r.draft.review_due.map(|d| d.to_string()).unwrap_or_default()) } }
                    }
                }
                h2 { "Open findings" }
                table {
                    tr { th { "#" } th { "Vulnerability" } th { "Asset" } th { "Software" } th { "Severity" } th { "Status" } th { "Remediation" } }
                    @for f in findings.iter().filter(|f| f.status.is_open()) {
                        tr { td { (f.id) } td { (f.draft.vuln_id) br; span.muted { (f.draft.advisory_ref) } }
                             td { (f.draft.asset) br; span.muted { (f.draft.organisation) } } td { (f.draft.software) }
                             td { (f.draft.severity.rating.as_str()) @if let Some(s) = f.draft.severity.cvss_score { " (CVSS " (s) ")" } }
                             td { (f.status.as_str()) } td { (f.draft.remediation.clone().unwrap_or_default()) } }
                    }
                }
            }
        }
    };
    page.into_string()
}
