//! CSAF 2.0 documents (OASIS Common Security Advisory Framework) as [`Advisory`] values.
//!
//! The product tree is flattened first: each product id gets its identification (the purl or
//! CPE of its `product_identification_helper`) and its version, from the `product_version` or
//! `product_version_range` branch above it; a relationship's product (a component installed on
//! a platform) is the component. Then every product a vulnerability lists as `known_affected`,
//! `first_affected` or `last_affected` becomes a record, with the score given for that product.
//! A product without a purl or CPE, or with a free-text version range, is kept in
//! [`Advisory::unmatchable`] with the reason.

use crate::advisory::*;
use crate::software::Software;
use crate::version::Vers;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Doc {
    document: Document,
    #[serde(default)]
    product_tree: Option<ProductTree>,
    #[serde(default)]
    vulnerabilities: Vec<Vulnerability>,
}

#[derive(Deserialize)]
struct Document {
    csaf_version: String,
    title: String,
    tracking: Tracking,
    #[serde(default)]
    aggregate_severity: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
struct Tracking {
    id: String,
    version: String,
    #[serde(default)]
    current_release_date: Option<String>,
    #[serde(default)]
    initial_release_date: Option<String>,
}

#[derive(Deserialize, Default)]
struct ProductTree {
    #[serde(default)]
    branches: Vec<Branch>,
    #[serde(default)]
    full_product_names: Vec<Product>,
    #[serde(default)]
    relationships: Vec<Relationship>,
}

#[derive(Deserialize)]
struct Branch {
    category: String,
    name: String,
    #[serde(default)]
    branches: Vec<Branch>,
    #[serde(default)]
    product: Option<Product>,
}

#[derive(Deserialize, Clone)]
struct Product {
    product_id: String,
    name: String,
    #[serde(default)]
    product_identification_helper: Option<Helper>,
}

#[derive(Deserialize, Clone, Default)]
struct Helper {
    #[serde(default)]
    cpe: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct Relationship {
    product_reference: String,
    full_product_name: Product,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(default)]
    cve: Option<String>,
    #[serde(default)]
    ids: Vec<Id>,
    #[serde(default)]
    product_status: Option<ProductStatus>,
    #[serde(default)]
    scores: Vec<Score>,
    #[serde(default)]
    remediations: Vec<Remediation>,
}

#[derive(Deserialize)]
struct Id {
    text: String,
}

#[derive(Deserialize, Default)]
struct ProductStatus {
    #[serde(default)]
    known_affected: Vec<String>,
    #[serde(default)]
    first_affected: Vec<String>,
    #[serde(default)]
    last_affected: Vec<String>,
}

#[derive(Deserialize)]
struct Score {
    #[serde(default)]
    products: Vec<String>,
    #[serde(default)]
    cvss_v3: Option<CvssJson>,
    #[serde(default)]
    cvss_v2: Option<CvssJson>,
}

#[derive(Deserialize)]
struct CvssJson {
    #[serde(default, rename = "baseScore")]
    base_score: Option<f64>,
    #[serde(default, rename = "vectorString")]
    vector_string: Option<String>,
}

#[derive(Deserialize)]
struct Remediation {
    category: String,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    product_ids: Vec<String>,
}

/// What the product tree says about one product id.
#[derive(Clone)]
struct ProductInfo {
    name: String,
    helper: Helper,
    version: Option<String>,
    range: Option<String>,
    path: String,
}

fn walk(
    branches: &[Branch],
    path: &str,
    version: Option<&str>,
    range: Option<&str>,
    out: &mut HashMap<String, ProductInfo>,
) {
    for (n, b) in branches.iter().enumerate() {
        let here = format!("{path}.branches[{n}]");
        let (version, range) = match b.category.as_str() {
            "product_version" => (Some(b.name.as_str()), None),
            "product_version_range" => (None, Some(b.name.as_str())),
            _ => (version, range),
        };
        if let Some(p) = &b.product {
            out.insert(
                p.product_id.clone(),
                ProductInfo {
                    name: p.name.clone(),
                    helper: p.product_identification_helper.clone().unwrap_or_default(),
                    version: version.map(str::to_string),
                    range: range.map(str::to_string),
                    path: format!("{here}.product"),
                },
            );
        }
        walk(&b.branches, &here, version, range, out);
    }
}

fn cvss_severity(c: &CvssJson) -> Option<Severity> {
    c.vector_string
        .as_deref()
        .and_then(Severity::from_vector)
        .or_else(|| {
            c.base_score.map(|s| Severity {
                rating: Rating::from_score(s),
                cvss_score: Some(s),
                cvss_vector: c.vector_string.clone(),
            })
        })
}

pub(crate) fn parse(
    file: &str,
    value: serde_json::Value,
    sha256: String,
) -> Result<Advisory, AdvisoryError> {
    let doc: Doc = serde_path_to_error::deserialize(value).map_err(|e| AdvisoryError {
        file: file.to_string(),
        line: None,
        path: if e.path().to_string().is_empty() {
            ".".into()
        } else {
            e.path().to_string()
        },
        message: e.inner().to_string(),
    })?;
    if doc.document.csaf_version != "2.0" {
        return Err(AdvisoryError {
            file: file.to_string(),
            line: None,
            path: "document.csaf_version".into(),
            message: format!(
                "is {:?}; this reader takes CSAF 2.0",
                doc.document.csaf_version
            ),
        });
    }
    let tree = doc.product_tree.unwrap_or_default();
    let mut products = HashMap::new();
    walk(&tree.branches, "product_tree", None, None, &mut products);
    for (n, p) in tree.full_product_names.iter().enumerate() {
        products.insert(
            p.product_id.clone(),
            ProductInfo {
                name: p.name.clone(),
                helper: p.product_identification_helper.clone().unwrap_or_default(),
                version: None,
                range: None,
                path: format!("product_tree.full_product_names[{n}]"),
            },
        );
    }
    let mut unmatchable = Vec::new();
    for (n, r) in tree.relationships.iter().enumerate() {
        let path = format!("product_tree.relationships[{n}]");
        match products.get(&r.product_reference).cloned() {
            // The component is what is vulnerable; its own helper identifies it, unless the
            // relationship's product has one of its own.
            Some(component) => {
                let own = r
                    .full_product_name
                    .product_identification_helper
                    .clone()
                    .filter(|h| h.cpe.is_some() || h.purl.is_some());
                products.insert(
                    r.full_product_name.product_id.clone(),
                    ProductInfo {
                        name: r.full_product_name.name.clone(),
                        helper: own.unwrap_or(component.helper),
                        path,
                        ..component
                    },
                );
            }
            None => unmatchable.push(Unmatchable {
                path: format!("{path}.product_reference"),
                reason: format!("{:?} is not a product of the tree", r.product_reference),
            }),
        }
    }

    let aggregate = doc
        .document
        .aggregate_severity
        .as_ref()
        .and_then(|a| Rating::parse(&a.text))
        .map(|rating| Severity {
            rating,
            ..Severity::default()
        })
        .unwrap_or_default();
    let mut records = Vec::new();
    let mut aliases = vec![doc.document.tracking.id.clone()];
    for (v, vuln) in doc.vulnerabilities.iter().enumerate() {
        let vuln_id = vuln
            .cve
            .clone()
            .or_else(|| vuln.ids.first().map(|i| i.text.clone()))
            .unwrap_or_else(|| format!("{}#{v}", doc.document.tracking.id));
        if !aliases.contains(&vuln_id) {
            aliases.push(vuln_id.clone());
        }
        let mut score_of: HashMap<&str, Severity> = HashMap::new();
        for s in &vuln.scores {
            let sev = s
                .cvss_v3
                .as_ref()
                .and_then(cvss_severity)
                .or_else(|| s.cvss_v2.as_ref().and_then(cvss_severity));
            if let Some(sev) = sev {
                for p in &s.products {
                    let entry = score_of.entry(p.as_str()).or_default();
                    *entry = entry.clone().max(sev.clone());
                }
            }
        }
        let status = vuln.product_status.as_ref();
        let affected: Vec<&String> = status
            .map(|s| {
                s.known_affected
                    .iter()
                    .chain(&s.first_affected)
                    .chain(&s.last_affected)
                    .collect()
            })
            .unwrap_or_default();
        for id in affected {
            let path = format!("vulnerabilities[{v}].product_status ({id})");
            let Some(info) = products.get(id) else {
                unmatchable.push(Unmatchable {
                    path,
                    reason: format!("product {id:?} is not in the product tree"),
                });
                continue;
            };
            let spec = info.helper.purl.as_deref().or(info.helper.cpe.as_deref());
            let Some(spec) = spec else {
                unmatchable.push(Unmatchable {
                    path: info.path.clone(),
                    reason: format!(
                        "product {id:?} ({}) has no purl or CPE in its product_identification_helper",
                        info.name
                    ),
                });
                continue;
            };
            let software = match Software::parse(spec) {
                Ok(s) => s,
                Err(e) => {
                    unmatchable.push(Unmatchable {
                        path: info.path.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let mut rule = Rule {
                scheme: Some(software.scheme),
                ..Rule::default()
            };
            if let Some(v) = &info.version {
                rule.versions.push(v.clone());
            } else if let Some(r) = &info.range {
                if r.trim_start().starts_with("vers:") {
                    match Vers::parse(r) {
                        Ok(vers) => {
                            rule.scheme = Some(vers.scheme);
                            rule.vers.push(vers);
                        }
                        Err(e) => {
                            unmatchable.push(Unmatchable {
                                path: info.path.clone(),
                                reason: format!("product {id:?}: {e}"),
                            });
                            continue;
                        }
                    }
                } else {
                    unmatchable.push(Unmatchable {
                        path: info.path.clone(),
                        reason: format!(
                            "product {id:?}: the version range {r:?} is free text, not a vers: range"
                        ),
                    });
                    continue;
                }
            } else if let Some(v) = &software.version {
                rule.versions.push(v.clone());
            } else {
                rule.all_versions = true;
            }
            let remediation = vuln
                .remediations
                .iter()
                .filter(|r| r.product_ids.iter().any(|p| p == id))
                .max_by_key(|r| r.category == "vendor_fix")
                .and_then(|r| r.details.clone());
            records.push(AffectedRecord {
                vuln_id: vuln_id.clone(),
                product: format!("{} ({})", info.name, software.spec),
                key: software.key.clone(),
                distro: software.distro.clone(),
                rule,
                severity: score_of
                    .get(id.as_str())
                    .cloned()
                    .unwrap_or_else(|| aggregate.clone()),
                remediation,
            });
        }
    }
    let severity = records
        .iter()
        .map(|r| r.severity.clone())
        .fold(aggregate, Severity::max);
    Ok(Advisory {
        format: Format::Csaf,
        id: doc.document.tracking.id.clone(),
        revision: doc.document.tracking.version.clone(),
        title: doc.document.title.clone(),
        published: doc.document.tracking.initial_release_date.clone(),
        modified: doc.document.tracking.current_release_date.clone(),
        aliases,
        severity,
        records,
        unmatchable,
        sha256,
    })
}
