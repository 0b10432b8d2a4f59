//! Security advisories: the content a focal point writes, and the review and publication
//! workflow that turns it into numbered, immutable revisions.
//!
//! ```text
//!   new ──▶ draft ──submit──▶ in_review ──publish──▶ published (revision n)
//!             ▲  ◀──reject──────┘                        │
//!             └────────────── edit (what changed) ───────┘   publish again: revision n + 1
//! ```
//!
//! Only drafts are edited. Editing a published advisory starts the next revision as a draft
//! (the published revision stays what readers see) and needs a summary of what changed, which
//! becomes the revision history entry CSAF requires. Publishing needs a second person: the
//! publisher must be neither the one who submitted nor the last editor (four eyes).
//! Everything readers see (CSAF, HTML, the feed, e-mail) is rendered from a published
//! revision, never from the working copy.

pub mod atom;
pub mod csaf;
pub mod distribution;
pub mod html;
pub mod workflow;

use crate::FieldProblem;
use focal_model::Tlp;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Bounds on what one advisory may hold, so a hostile or mistaken input stays small.
pub const MAX_TITLE: usize = 300;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_LIST: usize = 500;

/// One product the advisory is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    pub vendor: String,
    pub name: String,
    /// The affected version or range as the vendor writes it; none means every version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A CPE 2.3 name, when known (the asset inventory matches on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpe: Option<String>,
    /// A package URL, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

impl Product {
    /// Parses `vendor/name[/version]` (the version may itself contain `/`).
    pub fn parse(text: &str) -> Result<Product, String> {
        let mut parts = text.splitn(3, '/').map(str::trim);
        let vendor = parts.next().unwrap_or_default();
        let name = parts.next().unwrap_or_default();
        if vendor.is_empty() || name.is_empty() {
            return Err(format!(
                "{text:?} is not vendor/product[/version], e.g. Acme/Router/2.1"
            ));
        }
        Ok(Product {
            vendor: vendor.into(),
            name: name.into(),
            version: parts.next().filter(|v| !v.is_empty()).map(Into::into),
            cpe: None,
            purl: None,
        })
    }

    /// `Vendor Name Version`, as a human reads it.
    pub fn full_name(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {} {v}", self.vendor, self.name),
            None => format!("{} {}", self.vendor, self.name),
        }
    }
}

/// A link to more information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub url: String,
    #[serde(default)]
    pub summary: String,
}

/// What an advisory says: the editable content of one revision.
/// Whether a reader cleared up to `clearance` may read what is labelled `tlp`: at or below the
/// clearance, and never AMBER+STRICT or RED (see [`Advisory::readable_at`]).
pub fn readable(tlp: Tlp, clearance: Tlp) -> bool {
    tlp <= clearance && tlp < Tlp::AmberStrict
}

impl Reference {
    /// A reference as one line of text: the URL, then optionally a space and its summary.
    pub fn parse_line(line: &str) -> Reference {
        match line.trim().split_once(' ') {
            Some((url, summary)) => Reference {
                url: url.into(),
                summary: summary.trim().into(),
            },
            None => Reference {
                url: line.trim().into(),
                summary: String::new(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvisoryContent {
    pub title: String,
    pub summary: String,
    #[serde(default)]
    pub products: Vec<Product>,
    #[serde(default)]
    pub cves: Vec<String>,
    /// A CVSS v3.0 or v3.1 vector (`CVSS:3.1/AV:N/...`); the score is computed from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    pub tlp: Tlp,
    #[serde(default)]
    pub references: Vec<Reference>,
}

/// A CVSS v3 base score computed from its vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CvssScore {
    pub score: f64,
    pub severity: &'static str,
    /// `3.0` or `3.1`.
    pub version: &'static str,
}

/// Parses a CVSS v3 vector and computes its base score with the `cvss` crate.
pub fn cvss_score(vector: &str) -> Result<CvssScore, String> {
    let base: cvss::v3::Vector = vector
        .parse()
        .map_err(|e| format!("{vector:?} is not a CVSS v3 vector: {e}"))?;
    let complete = base.av.is_some()
        && base.ac.is_some()
        && base.pr.is_some()
        && base.ui.is_some()
        && base.s.is_some()
        && base.c.is_some()
        && base.i.is_some()
        && base.a.is_some();
    if !complete {
        return Err(format!(
            "{vector:?} lacks base metrics: all of AV, AC, PR, UI, S, C, I and A are needed"
        ));
    }
    let version = match vector.get(..9) {
        Some("CVSS:3.0/") => "3.0",
        Some("CVSS:3.1/") => "3.1",
        _ => return Err(format!("{vector:?} must start with CVSS:3.0/ or CVSS:3.1/")),
    };
    let score = base.score();
    let severity = match score.severity() {
        cvss::Severity::None => "NONE",
        cvss::Severity::Low => "LOW",
        cvss::Severity::Medium => "MEDIUM",
        cvss::Severity::High => "HIGH",
        cvss::Severity::Critical => "CRITICAL",
    };
    Ok(CvssScore {
        score: score.value(),
        severity,
        version,
    })
}

fn is_cve(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && number.len() >= 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && number.bytes().all(|b| b.is_ascii_digit())
}

fn is_web_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && text.len() > "https://".len()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl AdvisoryContent {
    /// Every problem with the content, each named by its field; empty when it may be saved.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        let mut text = |path: String, value: &str, max: usize, required: bool| {
            if required && value.trim().is_empty() {
                out.push(FieldProblem::new(path, "must not be empty"));
            } else if value.chars().count() > max {
                out.push(FieldProblem::new(
                    path,
                    format!("is longer than {max} characters"),
                ));
            } else if value
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
            {
                out.push(FieldProblem::new(path, "contains control characters"));
            }
        };
        text("title".into(), &self.title, MAX_TITLE, true);
        text("summary".into(), &self.summary, MAX_TEXT, true);
        if let Some(r) = &self.remediation {
            text("remediation".into(), r, MAX_TEXT, true);
        }
        for (i, p) in self.products.iter().enumerate() {
            text(format!("products[{i}].vendor"), &p.vendor, MAX_TITLE, true);
            text(format!("products[{i}].name"), &p.name, MAX_TITLE, true);
            if let Some(v) = &p.version {
                text(format!("products[{i}].version"), v, MAX_TITLE, true);
            }
            if let Some(cpe) = &p.cpe {
                text(format!("products[{i}].cpe"), cpe, MAX_TITLE, true);
            }
            if let Some(purl) = &p.purl {
                text(format!("products[{i}].purl"), purl, MAX_TITLE, true);
            }
        }
        for (i, r) in self.references.iter().enumerate() {
            text(
                format!("references[{i}].summary"),
                &r.summary,
                MAX_TITLE,
                false,
            );
        }
        for (path, len) in [
            ("products", self.products.len()),
            ("cves", self.cves.len()),
            ("references", self.references.len()),
        ] {
            if len > MAX_LIST {
                out.push(FieldProblem::new(
                    path,
                    format!("has {len} entries; at most {MAX_LIST}"),
                ));
            }
        }
        for (i, p) in self.products.iter().enumerate() {
            if let Some(cpe) = &p.cpe
                && !cpe.starts_with("cpe:2.3:")
                && !cpe.starts_with("cpe:/")
            {
                out.push(FieldProblem::new(
                    format!("products[{i}].cpe"),
                    format!("{cpe:?} is not a CPE name (cpe:2.3:... or cpe:/...)"),
                ));
            }
            if let Some(purl) = &p.purl
                && !purl.starts_with("pkg:")
            {
                out.push(FieldProblem::new(
                    format!("products[{i}].purl"),
                    format!("{purl:?} is not a package URL (pkg:...)"),
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.products.iter().enumerate() {
            if !seen.insert((&p.vendor, &p.name, &p.version)) {
                out.push(FieldProblem::new(
                    format!("products[{i}]"),
                    format!("{} is listed twice", p.full_name()),
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, cve) in self.cves.iter().enumerate() {
            if !is_cve(cve) {
                out.push(FieldProblem::new(
                    format!("cves[{i}]"),
                    format!("{cve:?} is not a CVE id (CVE-YYYY-NNNN)"),
                ));
            } else if !seen.insert(cve) {
                out.push(FieldProblem::new(
                    format!("cves[{i}]"),
                    format!("{cve} is listed twice"),
                ));
            }
        }
        if let Some(vector) = &self.cvss
            && let Err(e) = cvss_score(vector)
        {
            out.push(FieldProblem::new("cvss", e));
        }
        if self.products.is_empty() && self.references.is_empty() {
            // CSAF's informational advisory profile (an advisory without products) requires
            // an external reference (mandatory test 6.1.27.2).
            out.push(FieldProblem::new(
                "references",
                "an advisory without products needs at least one reference",
            ));
        }
        if self.cvss.is_some() && self.products.is_empty() {
            out.push(FieldProblem::new(
                "cvss",
                "a score needs the products it applies to (add products)",
            ));
        }
        for (i, r) in self.references.iter().enumerate() {
            if !is_web_url(&r.url) || r.url.len() > 2000 {
                out.push(FieldProblem::new(
                    format!("references[{i}].url"),
                    format!("{:?} is not an http(s) URL", r.url),
                ));
            }
        }
        out
    }

    pub fn check(&self) -> Result<(), AdvisoryError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AdvisoryError::Invalid(problems))
        }
    }
}

/// Where an advisory is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisoryState {
    Draft,
    InReview,
    Published,
}

impl AdvisoryState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdvisoryState::Draft => "draft",
            AdvisoryState::InReview => "in_review",
            AdvisoryState::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Result<AdvisoryState, String> {
        match text {
            "draft" => Ok(AdvisoryState::Draft),
            "in_review" | "in-review" => Ok(AdvisoryState::InReview),
            "published" => Ok(AdvisoryState::Published),
            _ => Err(format!(
                "{text:?} is not a state (draft, in_review, published)"
            )),
        }
    }
}

/// One published revision: immutable once stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// 1, 2, 3, ... (CSAF integer versioning).
    pub number: u32,
    pub date: Timestamp,
    /// What changed (`Initial version` for the first).
    pub summary: String,
    pub published_by: String,
    pub content: AdvisoryContent,
}

/// An advisory with its working copy and its published revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advisory {
    /// The tracking id, e.g. `FOCAL-2026-0001`.
    pub id: String,
    pub state: AdvisoryState,
    /// The working copy: what the next revision will say.
    pub draft: AdvisoryContent,
    /// Published revisions, oldest first.
    pub revisions: Vec<Revision>,
    /// What the next revision changes (required once a revision is published).
    pub change_summary: Option<String>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
    pub submitted_by: Option<String>,
    /// Bumped by every stored change: a save that expects another value lost a race.
    pub row_version: u64,
}

/// Why a workflow step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvisoryError {
    #[error("the advisory is not valid:\n{}", crate::describe_problems(.0))]
    Invalid(Vec<FieldProblem>),
    #[error("advisory {id} is {state}; {what}")]
    WrongState {
        id: String,
        state: &'static str,
        what: String,
    },
    #[error(
        "{actor} cannot publish advisory {id}: the publisher must be someone other than the author of the changes under review ({author})"
    )]
    FourEyes {
        id: String,
        actor: String,
        author: String,
    },
    #[error("{0}")]
    Other(String),
}

/// Checks an advisory id: `PREFIX-YYYY-NNNN`-like, letters, digits and dashes, at most 60.
pub fn check_id(id: &str) -> Result<(), AdvisoryError> {
    let ok = !id.is_empty()
        && id.len() <= 60
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(AdvisoryError::Invalid(vec![FieldProblem::new(
            "id",
            format!("{id:?} must be 1 to 60 letters, digits, dashes, dots or underscores"),
        )]))
    }
}

/// The id after the highest of `existing` for `prefix` and `year`: `PREFIX-YEAR-0001`, ...
pub fn next_id<'a>(prefix: &str, year: i16, existing: impl Iterator<Item = &'a str>) -> String {
    let start = format!("{prefix}-{year}-");
    let highest = existing
        .filter_map(|id| id.strip_prefix(&start)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    format!("{start}{:04}", highest + 1)
}

impl Advisory {
    /// A new draft.
    pub fn create(
        id: &str,
        content: AdvisoryContent,
        actor: &str,
        now: Timestamp,
    ) -> Result<Advisory, AdvisoryError> {
        check_id(id)?;
        content.check()?;
        Ok(Advisory {
            id: id.to_string(),
            state: AdvisoryState::Draft,
            draft: content,
            revisions: Vec::new(),
            change_summary: None,
            created_at: now,
            created_by: actor.to_string(),
            updated_at: now,
            updated_by: actor.to_string(),
            submitted_by: None,
            row_version: 0,
        })
    }

    /// The revision readers see, if any was published.
    pub fn published(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    /// The latest published revision, if a reader cleared up to `clearance` (a constituent's
    /// sharing policy) may read it: at or below the clearance, and never AMBER+STRICT or RED,
    /// which are not for constituents at large (AMBER+STRICT stays in the issuing
    /// organisation, RED with the people it names).
    pub fn readable_at(&self, clearance: Tlp) -> Option<&Revision> {
        self.published()
            .filter(|r| readable(r.content.tlp, clearance))
    }

    fn refuse(&self, what: impl Into<String>) -> AdvisoryError {
        AdvisoryError::WrongState {
            id: self.id.clone(),
            state: self.state.as_str(),
            what: what.into(),
        }
    }

    /// Replaces the working copy. A draft is edited in place; a published advisory starts its
    /// next revision as a draft, which needs `change_summary`. An advisory in review is not
    /// edited (reject it back to draft first), so a reviewer approves exactly what they read.
    pub fn edit(
        &mut self,
        content: AdvisoryContent,
        change_summary: Option<String>,
        actor: &str,
        now: Timestamp,
    ) -> Result<(), AdvisoryError> {
        content.check()?;
        if self.state == AdvisoryState::InReview {
            return Err(self.refuse("it cannot be edited until it is rejected back to draft"));
        }
        let summary = change_summary
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(s) = &summary
            && (s.chars().count() > MAX_TITLE || s.chars().any(char::is_control))
        {
            return Err(AdvisoryError::Invalid(vec![FieldProblem::new(
                "change_summary",
                format!("must be one line of at most {MAX_TITLE} characters"),
            )]));
        }
        if !self.revisions.is_empty() && summary.is_none() && self.change_summary.is_none() {
            return Err(AdvisoryError::Invalid(vec![FieldProblem::new(
                "change_summary",
                "a published advisory's next revision needs a summary of what changed",
            )]));
        }
        if summary.is_some() {
            self.change_summary = summary;
        }
        self.draft = content;
        self.state = AdvisoryState::Draft;
        self.submitted_by = None;
        self.updated_at = now;
        self.updated_by = actor.to_string();
        Ok(())
    }

    /// Draft → in review.
    pub fn submit(&mut self, actor: &str, now: Timestamp) -> Result<(), AdvisoryError> {
        if self.state != AdvisoryState::Draft {
            return Err(self.refuse("only a draft can be submitted for review"));
        }
        if self.published().is_some_and(|r| r.content == self.draft) {
            return Err(self
                .refuse("its working copy is the published revision; edit it before submitting"));
        }
        self.state = AdvisoryState::InReview;
        self.submitted_by = Some(actor.to_string());
        self.updated_at = now;
        Ok(())
    }

    /// In review → draft, with the reviewer's reason kept in the audit log by the caller.
    pub fn reject(&mut self, now: Timestamp) -> Result<(), AdvisoryError> {
        if self.state != AdvisoryState::InReview {
            return Err(self.refuse("only an advisory in review can be rejected"));
        }
        self.state = AdvisoryState::Draft;
        self.submitted_by = None;
        self.updated_at = now;
        Ok(())
    }

    /// In review → published: the working copy becomes revision n + 1.
    pub fn publish(&mut self, actor: &str, now: Timestamp) -> Result<&Revision, AdvisoryError> {
        if self.state != AdvisoryState::InReview {
            return Err(self.refuse("only an advisory in review can be published"));
        }
        for author in [self.submitted_by.as_deref(), Some(self.updated_by.as_str())]
            .into_iter()
            .flatten()
        {
            if author == actor {
                return Err(AdvisoryError::FourEyes {
                    id: self.id.clone(),
                    actor: actor.to_string(),
                    author: author.to_string(),
                });
            }
        }
        self.draft.check()?;
        // Revision dates must not go backwards (CSAF sorts the history by them).
        let date = match self.published() {
            Some(last) if last.date > now => last.date,
            _ => now,
        };
        let number = self.revisions.len() as u32 + 1;
        let summary = match (number, self.change_summary.take()) {
            (1, s) => s.unwrap_or_else(|| "Initial version".into()),
            (_, Some(s)) => s,
            (_, None) => {
                return Err(AdvisoryError::Invalid(vec![FieldProblem::new(
                    "change_summary",
                    "a published advisory's next revision needs a summary of what changed",
                )]));
            }
        };
        self.revisions.push(Revision {
            number,
            date,
            summary,
            published_by: actor.to_string(),
            content: self.draft.clone(),
        });
        self.state = AdvisoryState::Published;
        self.updated_at = now;
        Ok(self.revisions.last().unwrap_or_else(|| unreachable!()))
    }

    /// What the audit log records of an advisory: its state and the content being changed.
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "state": self.state,
            "revision": self.revisions.len(),
            "tlp": self.draft.tlp,
            "title": self.draft.title,
            "draft": self.draft,
            "change_summary": self.change_summary,
        })
    }
}

/// A short line per advisory, for lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdvisorySummary {
    pub id: String,
    pub state: AdvisoryState,
    pub title: String,
    pub tlp: Tlp,
    /// The latest published revision's number, 0 if never published.
    pub revision: u32,
    pub published_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl From<&Advisory> for AdvisorySummary {
    fn from(a: &Advisory) -> Self {
        AdvisorySummary {
            id: a.id.clone(),
            state: a.state,
            title: a.draft.title.clone(),
            tlp: a.draft.tlp,
            revision: a.revisions.len() as u32,
            published_at: a.published().map(|r| r.date),
            updated_at: a.updated_at,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn content(tlp: Tlp) -> AdvisoryContent {
        AdvisoryContent {
            title: "Remote code execution in Acme Router".into(),
            summary: "An unauthenticated attacker can run code on the router's web interface."
                .into(),
            products: vec![Product::parse("Acme/Router/2.1").unwrap()],
            cves: vec!["CVE-2026-12345".into()],
            cvss: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
            remediation: Some("Update to firmware 2.2.".into()),
            tlp,
            references: vec![Reference {
                url: "https://acme.example/security/2026-01".into(),
                summary: "Vendor bulletin".into(),
            }],
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_workflow_publishes_numbered_revisions_with_four_eyes() {
        let mut a = Advisory::create(
            "FOCAL-2026-0001",
            content(Tlp::Clear),
            "alice",
            t("2026-11-01T10:00:00Z"),
        )
        .unwrap();
        assert!(matches!(
            a.publish("bob", t("2026-11-01T11:00:00Z")),
            Err(AdvisoryError::WrongState { .. })
        ));
        a.submit("alice", t("2026-11-01T11:00:00Z")).unwrap();
        assert!(matches!(
            a.edit(
                content(Tlp::Clear),
                None,
                "alice",
                t("2026-11-01T11:30:00Z")
            ),
            Err(AdvisoryError::WrongState { .. })
        ));
        assert!(matches!(
            a.publish("alice", t("2026-11-01T12:00:00Z")),
            Err(AdvisoryError::FourEyes { .. })
        ));
        a.publish("bob", t("2026-11-01T12:00:00Z")).unwrap();
        assert_eq!(a.state, AdvisoryState::Published);
        assert_eq!(a.revisions[0].number, 1);
        assert_eq!(a.revisions[0].summary, "Initial version");

        // The next revision needs a summary of what changed.
        let mut changed = content(Tlp::Clear);
        changed.remediation = Some("Update to firmware 2.3.".into());
        assert!(matches!(
            a.edit(changed.clone(), None, "carol", t("2026-11-02T10:00:00Z")),
            Err(AdvisoryError::Invalid(_))
        ));
        a.edit(
            changed,
            Some("Fixed firmware version".into()),
            "carol",
            t("2026-11-02T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(a.state, AdvisoryState::Draft);
        assert_eq!(
            a.published().unwrap().number,
            1,
            "readers still see revision 1"
        );
        a.submit("carol", t("2026-11-02T11:00:00Z")).unwrap();
        a.publish("alice", t("2026-11-02T12:00:00Z")).unwrap();
        assert_eq!(a.revisions.len(), 2);
        assert_eq!(a.revisions[1].summary, "Fixed firmware version");
        assert_eq!(
            a.revisions[1].content.remediation.as_deref(),
            Some("Update to firmware 2.3.")
        );
    }

    #[test]
    fn bad_content_is_refused_with_every_field_named() {
        let mut c = content(Tlp::Clear);
        c.title = " ".into();
        c.cves = vec!["CVE-26-1".into()];
        c.cvss = Some("CVSS:3.1/AV:X".into());
        c.references[0].url = "javascript:alert(1)".into();
        let paths: Vec<String> = c.problems().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["title", "cves[0]", "cvss", "references[0].url"]);
    }

    #[test]
    fn cvss_scores_come_from_the_vector() {
        let s = cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!((s.score, s.severity, s.version), (9.8, "CRITICAL", "3.1"));
        let s = cvss_score("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N").unwrap();
        assert_eq!((s.score, s.severity), (1.8, "LOW"));
    }

    #[test]
    fn ids_count_up_per_prefix_and_year() {
        let ids = ["FOCAL-2026-0007", "FOCAL-2025-0100", "OTHER-2026-0500"];
        assert_eq!(next_id("FOCAL", 2026, ids.into_iter()), "FOCAL-2026-0008");
        assert_eq!(next_id("FOCAL", 2027, ids.into_iter()), "FOCAL-2027-0001");
    }

    #[test]
    fn readers_see_the_published_revision_up_to_their_clearance_never_amber_strict_or_red() {
        let now = "2026-11-01T10:00:00Z".parse().unwrap();
        let mut a = Advisory::create("FOCAL-2026-0009", content(Tlp::Green), "alice", now).unwrap();
        assert!(
            a.readable_at(Tlp::Red).is_none(),
            "a draft is read by nobody"
        );
        a.submit("alice", now).unwrap();
        a.publish("bob", now).unwrap();
        assert!(a.readable_at(Tlp::Clear).is_none());
        assert_eq!(a.readable_at(Tlp::Green).map(|r| r.number), Some(1));
        assert!(a.readable_at(Tlp::Amber).is_some());
        for tlp in [Tlp::AmberStrict, Tlp::Red] {
            let mut b = Advisory::create("FOCAL-2026-0010", content(tlp), "alice", now).unwrap();
            b.submit("alice", now).unwrap();
            b.publish("bob", now).unwrap();
            assert!(b.readable_at(Tlp::Red).is_none(), "{tlp:?}");
        }
    }
}
