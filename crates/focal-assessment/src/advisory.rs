//! Advisories, whatever their format, as Focal matches them: one [`AffectedRecord`] per
//! vulnerability × affected package, keyed by package key, with the version rule that says which
//! versions are affected and the severity (CVSS where the advisory gives it).
//!
//! Documents are read by [`crate::osv`] and [`crate::csaf`]; [`parse`] detects which. What a
//! document names but Focal cannot match (a GIT-only range, a product without CPE or purl, a
//! free-text version range) is kept in [`Advisory::unmatchable`] with the reason, never dropped
//! silently.

use crate::software::Software;
use crate::version::{Event, Scheme, Vers, in_osv_range};
use serde::{Deserialize, Serialize};

/// Largest advisory document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csaf,
    Osv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csaf => "csaf",
            Format::Osv => "osv",
        }
    }
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csaf" => Some(Format::Csaf),
            "osv" => Some(Format::Osv),
            _ => None,
        }
    }
}

/// Qualitative severity, ordered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    #[default]
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Unknown => "unknown",
            Rating::None => "none",
            Rating::Low => "low",
            Rating::Medium => "medium",
            Rating::High => "high",
            Rating::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Rating> {
        match s.to_ascii_lowercase().as_str() {
            "unknown" => Some(Rating::Unknown),
            "none" => Some(Rating::None),
            "low" | "negligible" | "unimportant" => Some(Rating::Low),
            "medium" | "moderate" => Some(Rating::Medium),
            "high" | "important" => Some(Rating::High),
            "critical" => Some(Rating::Critical),
            _ => None,
        }
    }
    /// The CVSS v3/v4 qualitative scale.
    pub fn from_score(score: f64) -> Rating {
        match score {
            s if s >= 9.0 => Rating::Critical,
            s if s >= 7.0 => Rating::High,
            s if s >= 4.0 => Rating::Medium,
            s if s > 0.0 => Rating::Low,
            _ => Rating::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Severity {
    pub rating: Rating,
    /// The CVSS base score, where the advisory gives a score or a vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss_vector: Option<String>,
}

impl Severity {
    /// From a CVSS vector (v2, v3.x or v4.0), computing the base score.
    pub fn from_vector(vector: &str) -> Option<Severity> {
        let cvss: cvss::Cvss = vector.trim().parse().ok()?;
        let score = cvss.score();
        Some(Severity {
            rating: Rating::from_score(score),
            cvss_score: Some(score),
            cvss_vector: Some(vector.trim().to_string()),
        })
    }

    /// The more severe of two (a known score beats an unknown one).
    pub fn max(self, other: Severity) -> Severity {
        let key = |s: &Severity| (s.rating, s.cvss_score.map(|x| (x * 10.0) as i64));
        if key(&other) > key(&self) {
            other
        } else {
            self
        }
    }
}

/// Which versions of a package are affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Rule {
    pub scheme: Option<Scheme>,
    /// Every version is affected.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_versions: bool,
    /// Exactly these versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// OSV `SEMVER` / `ECOSYSTEM` ranges, each a list of events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub osv_ranges: Vec<Vec<Event>>,
    /// `vers:` ranges (CSAF `product_version_range`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vers: Vec<Vers>,
}

/// How an installed version relates to a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Affected,
    NotAffected,
    /// The asset's software has no version, and the rule does not cover every version: possibly
    /// affected, to be checked.
    VersionUnknown,
}

impl Rule {
    pub fn affects(&self, version: Option<&str>, fallback: Scheme) -> Verdict {
        if self.all_versions {
            return Verdict::Affected;
        }
        let Some(v) = version else {
            return Verdict::VersionUnknown;
        };
        let scheme = self.scheme.unwrap_or(fallback);
        let hit = self.versions.iter().any(|x| scheme.equal(v, x))
            || self
                .osv_ranges
                .iter()
                .any(|events| in_osv_range(scheme, events, v))
            || self.vers.iter().any(|r| r.contains(v));
        if hit {
            Verdict::Affected
        } else {
            Verdict::NotAffected
        }
    }

    /// Whether the rule can say anything at all.
    pub fn is_empty(&self) -> bool {
        !self.all_versions
            && self.versions.is_empty()
            && self.osv_ranges.is_empty()
            && self.vers.is_empty()
    }

    /// The versions that fix it, for remediation text.
    pub fn fixed_versions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .osv_ranges
            .iter()
            .flatten()
            .filter_map(|e| match e {
                Event::Fixed(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }
}

/// One vulnerability in one package, as matching needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedRecord {
    /// The vulnerability's id: a CVE where there is one, else the advisory's own.
    pub vuln_id: String,
    /// A label for people: the purl, CPE or ecosystem and name.
    pub product: String,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<String>,
    pub rule: Rule,
    pub severity: Severity,
    /// Vendor remediation text, where the advisory gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// Something the advisory names that cannot be matched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmatchable {
    /// Where in the document: `affected[2]`, `product_tree ... CSAFPID-0001`.
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub format: Format,
    /// The CSAF tracking id or the OSV id.
    pub id: String,
    /// The CSAF tracking version or the OSV `modified` time: a newer revision replaces the old.
    pub revision: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// CVE ids and other aliases.
    pub aliases: Vec<String>,
    /// The most severe of its records.
    pub severity: Severity,
    pub records: Vec<AffectedRecord>,
    pub unmatchable: Vec<Unmatchable>,
    /// SHA-256 of the document as read.
    pub sha256: String,
}

/// A document that is not a usable advisory: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{file}{}: {path}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct AdvisoryError {
    pub file: String,
    pub line: Option<usize>,
    pub path: String,
    pub message: String,
}

/// Reads a CSAF 2.0 or OSV document, telling which from its content: a CSAF document has a
/// `document` object with `csaf_version`, an OSV one an `id` and `modified` at the top. A JSON
/// array of OSV documents (as the OSV API and bulk exports give) yields one advisory each.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Vec<Advisory>, AdvisoryError> {
    let fail = |path: &str, message: String| AdvisoryError {
        file: file.to_string(),
        line: None,
        path: path.to_string(),
        message,
    };
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(fail(
            ".",
            format!(
                "the document has {} bytes; at most {MAX_DOCUMENT_BYTES} are accepted",
                bytes.len()
            ),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| AdvisoryError {
        file: file.to_string(),
        line: Some(e.line()),
        path: ".".into(),
        message: format!("not JSON: {e}"),
    })?;
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    };
    match &value {
        serde_json::Value::Object(map) if map.get("document").is_some_and(|d| d.get("csaf_version").is_some()) => {
            crate::csaf::parse(file, value, sha).map(|a| vec![a])
        }
        serde_json::Value::Object(map) if map.contains_key("id") && map.contains_key("modified") => {
            crate::osv::parse(file, "", value, sha).map(|a| vec![a])
        }
        serde_json::Value::Object(map) if map.get("vulns").is_some_and(|v| v.is_array()) => {
            let list = map["vulns"].as_array().cloned().unwrap_or_default();
            list.into_iter()
                .enumerate()
                .map(|(n, v)| crate::osv::parse(file, &format!("vulns[{n}]"), v, sha.clone()))
                .collect()
        }
        serde_json::Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(n, v)| crate::osv::parse(file, &format!("[{n}]"), v.clone(), sha.clone()))
            .collect(),
        _ => Err(fail(
            ".",
            "neither a CSAF 2.0 document (no document.csaf_version) nor an OSV record (no id and modified)".into(),
        )),
    }
}

/// A product an asset runs, checked against one record.
pub fn verdict(record: &AffectedRecord, software: &Software) -> Verdict {
    let distro_ok = match (&record.distro, &software.distro) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    if record.key != software.key || !distro_ok {
        return Verdict::NotAffected;
    }
    record
        .rule
        .affects(software.version.as_deref(), software.scheme)
}
