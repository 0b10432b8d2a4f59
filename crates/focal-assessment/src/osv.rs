//! OSV records (the Open Source Vulnerability schema, <https://ossf.github.io/osv-schema/>) as
//! [`Advisory`] values: one [`AffectedRecord`] per `affected[]` entry whose ecosystem has a
//! Package URL type (or which gives a `purl`), with its `SEMVER`/`ECOSYSTEM` ranges and explicit
//! `versions`. `GIT` ranges name commits, which assets do not record: such an entry matches
//! through its `versions` list only, and says so in [`Advisory::unmatchable`].

use crate::advisory::*;
use crate::software::{Software, osv_package};
use crate::version::{Event, Scheme};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Doc {
    id: String,
    modified: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    severity: Vec<SeverityEntry>,
    #[serde(default)]
    affected: Vec<Affected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct SeverityEntry {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct Affected {
    #[serde(default)]
    package: Option<Package>,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    severity: Vec<SeverityEntry>,
    #[serde(default)]
    ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Package {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// The severity of the CVSS vectors given, else a database's own word for it.
fn severity_of(entries: &[SeverityEntry], words: &[Option<&serde_json::Value>]) -> Severity {
    let mut best = Severity::default();
    for e in entries {
        if e.kind.starts_with("CVSS")
            && let Some(s) = Severity::from_vector(&e.score)
        {
            best = best.max(s);
        }
    }
    if best.rating == Rating::Unknown {
        for w in words.iter().flatten() {
            if let Some(r) = w
                .get("severity")
                .and_then(|s| s.as_str())
                .and_then(Rating::parse)
            {
                best = best.max(Severity {
                    rating: r,
                    ..Severity::default()
                });
            }
        }
    }
    best
}

fn event(path: &str, map: &BTreeMap<String, String>) -> Result<Event, String> {
    let mut it = map.iter();
    match (it.next(), it.next()) {
        (Some((k, v)), None) => match k.as_str() {
            "introduced" => Ok(Event::Introduced(v.clone())),
            "fixed" => Ok(Event::Fixed(v.clone())),
            "last_affected" => Ok(Event::LastAffected(v.clone())),
            "limit" => Ok(Event::Limit(v.clone())),
            other => Err(format!(
                "{path}: unknown event {other:?} (introduced, fixed, last_affected or limit)"
            )),
        },
        _ => Err(format!(
            "{path}: an event has exactly one of introduced, fixed, last_affected, limit"
        )),
    }
}

pub(crate) fn parse(
    file: &str,
    prefix: &str,
    value: serde_json::Value,
    sha256: String,
) -> Result<Advisory, AdvisoryError> {
    let at = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else if p == "." {
            prefix.to_string()
        } else {
            format!("{prefix}.{p}")
        }
    };
    let doc: Doc = serde_path_to_error::deserialize(value).map_err(|e| AdvisoryError {
        file: file.to_string(),
        line: None,
        path: at(&if e.path().to_string().is_empty() {
            ".".to_string()
        } else {
            e.path().to_string()
        }),
        message: e.inner().to_string(),
    })?;
    if doc.id.trim().is_empty() {
        return Err(AdvisoryError {
            file: file.to_string(),
            line: None,
            path: at("id"),
            message: "is empty".into(),
        });
    }
    let mut aliases: Vec<String> = Vec::new();
    for a in std::iter::once(&doc.id).chain(&doc.aliases) {
        if !aliases.contains(a) {
            aliases.push(a.clone());
        }
    }
    let vuln_id = aliases
        .iter()
        .find(|a| a.starts_with("CVE-"))
        .cloned()
        .unwrap_or_else(|| doc.id.clone());
    let top = severity_of(&doc.severity, &[doc.database_specific.as_ref()]);
    let mut records = Vec::new();
    let mut unmatchable = Vec::new();
    if let Some(when) = &doc.withdrawn {
        unmatchable.push(Unmatchable {
            path: at("withdrawn"),
            reason: format!("the record was withdrawn on {when}: nothing is matched"),
        });
    }
    for (n, affected) in doc.affected.iter().enumerate() {
        if doc.withdrawn.is_some() {
            break;
        }
        let path = at(&format!("affected[{n}]"));
        let package = affected.package.as_ref();
        let from_ecosystem =
            package.and_then(|p| osv_package(&p.ecosystem, &p.name).map(|k| (k, p)));
        let (key, scheme, distro, product) = match from_ecosystem {
            Some(((key, scheme, distro), p)) => {
                (key, scheme, distro, format!("{}/{}", p.ecosystem, p.name))
            }
            None => match package.and_then(|p| p.purl.as_deref()).map(Software::parse) {
                Some(Ok(s)) => (s.key.clone(), s.scheme, s.distro.clone(), s.spec.clone()),
                Some(Err(e)) => {
                    unmatchable.push(Unmatchable {
                        path: format!("{path}.package.purl"),
                        reason: e.to_string(),
                    });
                    continue;
                }
                None => {
                    unmatchable.push(Unmatchable {
                        path: format!("{path}.package"),
                        reason: format!(
                            "ecosystem {:?} has no Package URL type and no purl is given",
                            package.map(|p| p.ecosystem.as_str()).unwrap_or("")
                        ),
                    });
                    continue;
                }
            },
        };
        let mut rule = Rule {
            scheme: Some(scheme),
            versions: affected.versions.clone(),
            ..Rule::default()
        };
        let mut git_only = false;
        for (r, range) in affected.ranges.iter().enumerate() {
            let rpath = format!("{path}.ranges[{r}]");
            match range.kind.as_str() {
                "SEMVER" | "ECOSYSTEM" => {
                    let events = range
                        .events
                        .iter()
                        .enumerate()
                        .map(|(k, e)| event(&format!("{rpath}.events[{k}]"), e))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|message| AdvisoryError {
                            file: file.to_string(),
                            line: None,
                            path: rpath.clone(),
                            message,
                        })?;
                    if !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
                        return Err(AdvisoryError {
                            file: file.to_string(),
                            line: None,
                            path: format!("{rpath}.events"),
                            message: "a range needs at least one \"introduced\" event".into(),
                        });
                    }
                    if range.kind == "SEMVER" {
                        rule.scheme = Some(Scheme::Semver);
                    }
                    rule.osv_ranges.push(events);
                }
                "GIT" => git_only = true,
                other => unmatchable.push(Unmatchable {
                    path: format!("{rpath}.type"),
                    reason: format!("range type {other:?} is not SEMVER, ECOSYSTEM or GIT"),
                }),
            }
        }
        if git_only && rule.osv_ranges.is_empty() {
            unmatchable.push(Unmatchable {
                path: path.clone(),
                reason: if rule.versions.is_empty() {
                    "only a GIT (commit) range and no versions list: assets record versions, not commits".into()
                } else {
                    "a GIT (commit) range: matched through its versions list only".into()
                },
            });
        }
        if rule.is_empty() {
            if affected.ranges.is_empty() {
                unmatchable.push(Unmatchable {
                    path: path.clone(),
                    reason: "no ranges and no versions: nothing says which versions are affected"
                        .into(),
                });
            }
            continue;
        }
        let severity = severity_of(
            &affected.severity,
            &[
                affected.ecosystem_specific.as_ref(),
                affected.database_specific.as_ref(),
            ],
        )
        .max(top.clone());
        let fixed = rule.fixed_versions();
        records.push(AffectedRecord {
            vuln_id: vuln_id.clone(),
            product,
            key,
            distro,
            remediation: (!fixed.is_empty()).then(|| format!("Fixed in {}", fixed.join(", "))),
            rule,
            severity,
        });
    }
    let severity = records
        .iter()
        .map(|r| r.severity.clone())
        .fold(top, Severity::max);
    let title = doc
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            doc.details
                .as_deref()
                .and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
                .map(|l| l.trim().chars().take(200).collect())
        })
        .unwrap_or_else(|| doc.id.clone());
    Ok(Advisory {
        format: Format::Osv,
        id: doc.id,
        revision: doc.modified.clone(),
        title,
        published: doc.published,
        modified: Some(doc.modified),
        aliases,
        severity,
        records,
        unmatchable,
        sha256,
    })
}
