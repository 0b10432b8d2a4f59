//! An advisory as a standalone HTML page (inline style, no scripts, no external resources), for
//! `focal advisories export --format html` and, later, the public pages. maud escapes every
//! value, so an advisory's text cannot inject markup.

use super::csaf::{Edition, csaf_tlp_label, page_url};
use super::{Advisory, AdvisoryContent, cvss_score};
use crate::AwarenessConfig;
use focal_model::Tlp;
use maud::{DOCTYPE, Markup, html};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}\
h1{font-size:1.6rem;margin-bottom:.2rem}.meta{color:#555}.tlp{display:inline-block;padding:.1rem .5rem;border-radius:.25rem;background:#000;font-weight:bold;font-family:monospace}\
.tlp-CLEAR{color:#fff}.tlp-GREEN{color:#33ff00}.tlp-AMBER,.tlp-AMBER\\+STRICT{color:#ffc000}.tlp-RED{color:#ff2b2b}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}.draft{background:#fff3cd;padding:.5rem;border:1px solid #e0c060}";

fn tlp_badge(tlp: Tlp) -> Markup {
    html! { span class={"tlp tlp-" (tlp.as_str())} { (tlp.label()) } }
}

fn body(content: &AdvisoryContent) -> Markup {
    html! {
        h2 { "Summary" }
        @for para in content.summary.split("\n\n") { p { (para) } }
        @if !content.products.is_empty() {
            h2 { "Affected products" }
            table {
                tr { th { "Vendor" } th { "Product" } th { "Version" } }
                @for p in &content.products {
                    tr { td { (p.vendor) } td { (p.name) } td { (p.version.as_deref().unwrap_or("all versions")) } }
                }
            }
        }
        @if !content.cves.is_empty() {
            h2 { "Vulnerabilities" }
            ul { @for cve in &content.cves { li { a href={"https://www.cve.org/CVERecord?id=" (cve)} { (cve) } } } }
        }
        @if let Some(vector) = &content.cvss {
            @if let Ok(score) = cvss_score(vector) {
                p { "CVSS v" (score.version) " base score " strong { (score.score) " (" (score.severity) ")" } ": " code { (vector) } }
            }
        }
        @if let Some(r) = &content.remediation {
            h2 { "Remediation" }
            @for para in r.split("\n\n") { p { (para) } }
        }
        @if !content.references.is_empty() {
            h2 { "References" }
            ul { @for r in &content.references {
                li { a href=(r.url) { (if r.summary.trim().is_empty() { &r.url } else { &r.summary }) } }
            } }
        }
    }
}

/// The page of an advisory, or `None` for [`Edition::Published`] before its first publication.
pub fn render_html(
    advisory: &Advisory,
    edition: Edition,
    config: &AwarenessConfig,
) -> Option<String> {
    let (content, number) = match edition {
        Edition::Published => {
            let r = advisory.published()?;
            (&r.content, r.number)
        }
        Edition::WorkingCopy => (&advisory.draft, advisory.revisions.len() as u32 + 1),
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (advisory.id) ": " (content.title) }
                link rel="canonical" href=(page_url(&config.base_url, &advisory.id));
                style { (STYLE) }
            }
            body {
                @if edition == Edition::WorkingCopy {
                    p class="draft" { "Working copy of revision " (number) " (" (advisory.state.as_str()) "): not published." }
                }
                p class="meta" { (tlp_badge(content.tlp)) " " (config.publisher) " security advisory " strong { (advisory.id) } }
                h1 { (content.title) }
                p class="meta" {
                    "Revision " (number)
                    @if let Some(first) = advisory.revisions.first() { ", first published " (first.date.strftime("%Y-%m-%d")) }
                    @if let Some(last) = advisory.published() { ", last updated " (last.date.strftime("%Y-%m-%d")) }
                    ". CSAF 2.0 TLP label: " (csaf_tlp_label(content.tlp)) "."
                }
                (body(content))
                @if !advisory.revisions.is_empty() {
                    h2 { "Revision history" }
                    table {
                        tr { th { "Revision" } th { "Date" } th { "Change" } }
                        @for r in &advisory.revisions {
                            tr { td { (r.number) } td { (r.date.strftime("%Y-%m-%d %H:%M UTC")) } td { (r.summary) } }
                        }
                    }
                }
            }
        }
    };
    Some(page.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::tests::content;

    #[test]
    fn text_is_escaped_and_the_tlp_is_shown() {
        let now = "2026-11-01T10:00:00Z".parse().unwrap();
        let mut c = content(Tlp::Green);
        c.title = "<script>alert(1)</script> in Acme".into();
        let mut a = Advisory::create("FOCAL-2026-0002", c, "alice", now).unwrap();
        a.submit("alice", now).unwrap();
        a.publish("bob", now).unwrap();
        let page = render_html(&a, Edition::Published, &AwarenessConfig::default()).unwrap();
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; in Acme"));
        assert!(page.contains("TLP:GREEN"));
        assert!(page.contains("CVE-2026-12345"));
    }
}
