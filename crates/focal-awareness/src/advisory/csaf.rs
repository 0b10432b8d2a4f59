//! An advisory as a CSAF 2.0 document (OASIS, csaf_json_schema.json).
//!
//! - **Profile.** An advisory with products is `csaf_security_advisory` (product tree, one
//!   vulnerability per CVE, or one without a CVE when none is known, every product
//!   `known_affected`); one without products is `csaf_informational_advisory` (no
//!   vulnerabilities, as that profile requires).
//! - **Versions.** Integer versioning: a published revision n is `final` version `n` with
//!   revisions 1..n in `revision_history`; a working copy never published is `draft` version
//!   `0`, and the next revision of a published one is `draft` version `n + 1`.
//! - **TLP.** CSAF 2.0 knows TLP 1.0 labels only: CLEAR is written WHITE; AMBER+STRICT has no 1.0
//!   label and is written RED (never widened to AMBER), with the 2.0 label in the distribution
//!   text.
//! - **CVSS.** The base score and severity are computed from the vector (`cvss_score`), so the
//!   document passes the schema and mandatory test 6.1.9 by construction.

use super::{Advisory, AdvisoryContent, Product, Revision, cvss_score};
use crate::AwarenessConfig;
use focal_model::Tlp;
use jiff::Timestamp;
use serde_json::{Value, json};

/// Which text of an advisory to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edition {
    /// The latest published revision (what readers see).
    Published,
    /// The working copy, as the next revision would be: for reviewers, marked `draft`.
    WorkingCopy,
}

/// The TLP 1.0 label CSAF 2.0 allows for a TLP 2.0 label; never wider than the original.
pub fn csaf_tlp_label(tlp: Tlp) -> &'static str {
    tlp.intelmq_label()
}

/// Where the public HTML page of an advisory lives.
pub fn page_url(base_url: &str, id: &str) -> String {
    format!("{}/advisories/{id}", base_url.trim_end_matches('/'))
}

fn time(t: Timestamp) -> String {
    // RFC 3339 with a `Z`, whole seconds: the schema's date-time format.
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The CSAF product id of the i-th product (stable for a revision's product list).
pub fn product_id(i: usize) -> String {
    format!("CSAFPID-{:04}", i + 1)
}

/// Words CSAF's test 6.1.31 reads as a version range: such a version is written as a
/// `product_version_range` branch.
fn is_range(version: &str) -> bool {
    let lower = version.to_ascii_lowercase();
    lower.contains('<')
        || lower.contains('>')
        || lower.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
            matches!(
                w,
                "after" | "all" | "before" | "earlier" | "later" | "prior" | "versions"
            )
        })
}

fn product_leaf(i: usize, p: &Product) -> Value {
    let mut product = json!({"product_id": product_id(i), "name": p.full_name()});
    let mut helper = serde_json::Map::new();
    if let Some(cpe) = &p.cpe {
        helper.insert("cpe".into(), cpe.clone().into());
    }
    if let Some(purl) = &p.purl {
        helper.insert("purl".into(), purl.clone().into());
    }
    if !helper.is_empty() {
        product["product_identification_helper"] = Value::Object(helper);
    }
    product
}

/// A product name's leaves: (name, leaf branches).
type NameBranches = (String, Vec<Value>);

/// vendor → product name → version branches, each path ending in one product.
fn product_tree(products: &[Product]) -> Value {
    let mut vendors: Vec<(String, Vec<NameBranches>)> = Vec::new();
    for (i, p) in products.iter().enumerate() {
        let vendor = match vendors.iter_mut().position(|v| v.0 == p.vendor) {
            Some(at) => &mut vendors[at],
            None => {
                vendors.push((p.vendor.clone(), Vec::new()));
                vendors.last_mut().unwrap_or_else(|| unreachable!())
            }
        };
        let name = match vendor.1.iter_mut().position(|n| n.0 == p.name) {
            Some(at) => &mut vendor.1[at],
            None => {
                vendor.1.push((p.name.clone(), Vec::new()));
                vendor.1.last_mut().unwrap_or_else(|| unreachable!())
            }
        };
        name.1.push(match &p.version {
            Some(v) => json!({
                "category": if is_range(v) { "product_version_range" } else { "product_version" },
                "name": v,
                "product": product_leaf(i, p),
            }),
            None => json!({"product": product_leaf(i, p)}),
        });
    }
    let branches: Vec<Value> = vendors
        .into_iter()
        .map(|(vendor, names)| {
            let names: Vec<Value> = names
                .into_iter()
                .flat_map(|(name, leaves)| {
                    // A product without a version is the product_name branch itself; versions
                    // hang below it. Both forms for one name make two branches of that name.
                    let (unversioned, versioned): (Vec<Value>, Vec<Value>) =
                        leaves.into_iter().partition(|l| l.get("category").is_none());
                    let mut out = Vec::new();
                    for leaf in unversioned {
                        out.push(json!({"category": "product_name", "name": name, "product": leaf["product"]}));
                    }
                    if !versioned.is_empty() {
                        out.push(json!({"category": "product_name", "name": name, "branches": versioned}));
                    }
                    out
                })
                .collect();
            json!({"category": "vendor", "name": vendor, "branches": names})
        })
        .collect();
    json!({ "branches": branches })
}

fn vulnerabilities(content: &AdvisoryContent) -> Vec<Value> {
    let ids: Vec<String> = (0..content.products.len()).map(product_id).collect();
    let one = |cve: Option<&String>| {
        let mut v = json!({
            "notes": [{"category": "description", "title": "Summary", "text": content.summary}],
            "product_status": {"known_affected": ids},
        });
        if let Some(cve) = cve {
            v["cve"] = cve.clone().into();
        }
        if let Some(r) = &content.remediation {
            v["remediations"] =
                json!([{"category": "vendor_fix", "details": r, "product_ids": ids}]);
        }
        if let Some(vector) = &content.cvss
            && let Ok(s) = cvss_score(vector)
        {
            v["scores"] = json!([{
                "products": ids,
                "cvss_v3": {
                    "version": s.version,
                    "vectorString": vector,
                    "baseScore": s.score,
                    "baseSeverity": s.severity,
                }
            }]);
        }
        v
    };
    if content.cves.is_empty() {
        vec![one(None)]
    } else {
        content.cves.iter().map(|c| one(Some(c))).collect()
    }
}

/// The CSAF 2.0 document of an advisory, or `None` for [`Edition::Published`] when nothing was
/// published yet. `now` dates a working copy.
pub fn to_csaf(
    advisory: &Advisory,
    edition: Edition,
    config: &AwarenessConfig,
    now: Timestamp,
) -> Option<Value> {
    let (content, status, version, history): (&AdvisoryContent, &str, u32, Vec<Value>) = {
        let published = |r: &Revision| json!({"number": r.number.to_string(), "date": time(r.date), "summary": r.summary});
        let mut history: Vec<Value> = advisory.revisions.iter().map(published).collect();
        match edition {
            Edition::Published => {
                let last = advisory.published()?;
                (&last.content, "final", last.number, history)
            }
            Edition::WorkingCopy => {
                let number = if advisory.revisions.is_empty() {
                    0
                } else {
                    advisory.revisions.len() as u32 + 1
                };
                let date = advisory.published().map_or(now, |r| r.date.max(now));
                history.push(json!({
                    "number": number.to_string(),
                    "date": time(date),
                    "summary": advisory.change_summary.clone().unwrap_or_else(|| "Draft".into()),
                }));
                (&advisory.draft, "draft", number, history)
            }
        }
    };
    let initial = advisory
        .revisions
        .first()
        .map_or(advisory.created_at, |r| r.date);
    let current = history
        .last()
        .and_then(|h| h["date"].as_str().map(String::from))
        .unwrap_or_else(|| time(initial));
    let mut references = vec![json!({
        "category": "self",
        "summary": "This advisory",
        "url": page_url(&config.base_url, &advisory.id),
    })];
    references.extend(content.references.iter().map(|r| {
        json!({
            "category": "external",
            "summary": if r.summary.trim().is_empty() { r.url.clone() } else { r.summary.clone() },
            "url": r.url,
        })
    }));
    let has_products = !content.products.is_empty();
    let mut document = json!({
        "category": if has_products { "csaf_security_advisory" } else { "csaf_informational_advisory" },
        "csaf_version": "2.0",
        "distribution": {
            "text": format!("{}: see https://www.first.org/tlp/ for who may receive it.", content.tlp.label()),
            "tlp": {"label": csaf_tlp_label(content.tlp), "url": "https://www.first.org/tlp/"},
        },
        "lang": "en",
        "notes": [{"category": "summary", "title": "Summary", "text": content.summary}],
        "publisher": {"category": "coordinator", "name": config.publisher, "namespace": config.namespace},
        "references": references,
        "title": content.title,
        "tracking": {
            "id": advisory.id,
            "status": status,
            "version": version.to_string(),
            "initial_release_date": time(initial),
            "current_release_date": current,
            "revision_history": history,
            "generator": {
                "engine": {"name": "Focal", "version": env!("CARGO_PKG_VERSION")},
            },
        },
    });
    if let Some(r) = &content.remediation
        && !has_products
    {
        // Without products there is no vulnerability to hang a remediation on: it is a note.
        if let Some(notes) = document["notes"].as_array_mut() {
            notes.push(json!({"category": "general", "title": "Remediation", "text": r}));
        }
    }
    let mut doc = json!({ "document": document });
    if has_products {
        doc["product_tree"] = product_tree(&content.products);
        doc["vulnerabilities"] = Value::Array(vulnerabilities(content));
    }
    Some(doc)
}

/// The file name CSAF's directory distribution gives a document: the tracking id in lower
/// case, every character other than `+`, `-`, `a-z` and `0-9` replaced by `_`, then `.json`.
pub fn file_name(id: &str) -> String {
    let stem: String = id
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '+' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::tests::content;

    #[test]
    fn the_published_revision_is_final_with_its_history_and_computed_score() {
        let now: Timestamp = "2026-11-01T10:00:00Z".parse().unwrap();
        let mut a =
            Advisory::create("FOCAL-2026-0001", content(Tlp::AmberStrict), "alice", now).unwrap();
        let cfg = AwarenessConfig::default();
        assert!(to_csaf(&a, Edition::Published, &cfg, now).is_none());
        let draft = to_csaf(&a, Edition::WorkingCopy, &cfg, now).unwrap();
        assert_eq!(draft["document"]["tracking"]["status"], "draft");
        assert_eq!(draft["document"]["tracking"]["version"], "0");
        a.submit("alice", now).unwrap();
        a.publish("bob", now).unwrap();
        let doc = to_csaf(&a, Edition::Published, &cfg, now).unwrap();
        let d = &doc["document"];
        assert_eq!(d["tracking"]["status"], "final");
        assert_eq!(d["tracking"]["version"], "1");
        assert_eq!(
            d["distribution"]["tlp"]["label"], "RED",
            "AMBER+STRICT is never widened"
        );
        assert_eq!(
            doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"],
            9.8
        );
        assert_eq!(
            doc["vulnerabilities"][0]["product_status"]["known_affected"][0],
            "CSAFPID-0001"
        );
        assert_eq!(file_name("FOCAL-2026-0001"), "focal-2026-0001.json");
    }
}
