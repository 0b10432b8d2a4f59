//! Matching advisories to assets: a hash join on package keys. The side held in memory is an
//! index from package key to what is installed (or to what is affected); the other side is
//! streamed past it, so the work grows with the number of records plus the number of candidate
//! pairs sharing a key, never with assets × records.
//!
//! Findings and their life: a finding is open until remediated (resolved), accepted as a risk,
//! or shown to be a false positive. The matcher opens new findings, reopens resolved ones the
//! inventory still shows as affected, and resolves open ones that no longer match (the asset's
//! software changed, or a new revision of the advisory narrowed its range). Accepted and
//! false-positive findings are a person's decision and are left alone.

use crate::advisory::{AffectedRecord, Severity, Verdict, verdict};
use crate::risk::Installed;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What is installed, by package key.
#[derive(Default)]
pub struct SoftwareIndex {
    by_key: HashMap<String, Vec<Installed>>,
    entries: usize,
}

impl SoftwareIndex {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, installed: Installed) {
        self.entries += 1;
        self.by_key
            .entry(installed.software.key.clone())
            .or_default()
            .push(installed);
    }
    pub fn len(&self) -> usize {
        self.entries
    }
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
    pub fn get(&self, key: &str) -> &[Installed] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// An affected record as stored: which advisory it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The store's id of the advisory.
    pub advisory: i64,
    /// The advisory's own id (CSAF tracking id, OSV id).
    pub advisory_ref: String,
    pub record: AffectedRecord,
}

/// A match the matcher found, before it is stored as a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingDraft {
    pub advisory: i64,
    pub advisory_ref: String,
    pub vuln_id: String,
    pub asset: String,
    pub organisation: String,
    /// The asset's software identifier that matched.
    pub software: String,
    /// Its package key: a finding is one vulnerability in one package on one asset, whatever
    /// version the asset moves to.
    pub package_key: String,
    pub version: Option<String>,
    pub product: String,
    pub severity: Severity,
    /// `affected`, or `version_unknown` when the asset's software has no version.
    pub confidence: Verdict,
    pub remediation: Option<String>,
}

impl FindingDraft {
    /// What identifies a finding across matching runs.
    pub fn identity(&self) -> (i64, &str, &str, &str) {
        (
            self.advisory,
            self.vuln_id.as_str(),
            self.asset.as_str(),
            self.package_key.as_str(),
        )
    }
}

/// Checks one record against everything installed under its key.
pub fn match_record(index: &SoftwareIndex, stored: &StoredRecord, out: &mut Vec<FindingDraft>) {
    for installed in index.get(&stored.record.key) {
        let v = verdict(&stored.record, &installed.software);
        if v == Verdict::NotAffected {
            continue;
        }
        out.push(FindingDraft {
            advisory: stored.advisory,
            advisory_ref: stored.advisory_ref.clone(),
            vuln_id: stored.record.vuln_id.clone(),
            asset: installed.asset.clone(),
            organisation: installed.organisation.clone(),
            software: installed.software.spec.clone(),
            package_key: installed.software.key.clone(),
            version: installed.software.version.clone(),
            product: stored.record.product.clone(),
            severity: stored.record.severity.clone(),
            confidence: v,
            remediation: stored.record.remediation.clone(),
        });
    }
}

/// Matches every record against the index; one draft per (advisory, vulnerability, asset,
/// package), keeping the most severe when several records of one advisory agree.
pub fn match_all<'a>(
    index: &SoftwareIndex,
    records: impl IntoIterator<Item = &'a StoredRecord>,
) -> Vec<FindingDraft> {
    let mut out = Vec::new();
    for r in records {
        match_record(index, r, &mut out);
    }
    dedup(out)
}

pub fn dedup(drafts: Vec<FindingDraft>) -> Vec<FindingDraft> {
    let mut best: HashMap<(i64, String, String, String), FindingDraft> = HashMap::new();
    for d in drafts {
        let key = (
            d.advisory,
            d.vuln_id.clone(),
            d.asset.clone(),
            d.package_key.clone(),
        );
        match best.get_mut(&key) {
            Some(old) => {
                let sev = old.severity.clone().max(d.severity.clone());
                if d.confidence == Verdict::Affected {
                    old.confidence = Verdict::Affected;
                }
                old.severity = sev;
            }
            None => {
                best.insert(key, d);
            }
        }
    }
    let mut out: Vec<FindingDraft> = best.into_values().collect();
    out.sort_by(|a, b| a.identity().cmp(&b.identity()));
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    InProgress,
    Resolved,
    Accepted,
    FalsePositive,
}

impl FindingStatus {
    pub const ALL: [FindingStatus; 5] = [
        FindingStatus::Open,
        FindingStatus::InProgress,
        FindingStatus::Resolved,
        FindingStatus::Accepted,
        FindingStatus::FalsePositive,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::InProgress => "in_progress",
            FindingStatus::Resolved => "resolved",
            FindingStatus::Accepted => "accepted",
            FindingStatus::FalsePositive => "false_positive",
        }
    }
    pub fn parse(s: &str) -> Option<FindingStatus> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Whether the finding still needs work.
    pub fn is_open(self) -> bool {
        matches!(self, FindingStatus::Open | FindingStatus::InProgress)
    }
    /// The states a person may move a finding to from this one.
    pub fn next(self) -> &'static [FindingStatus] {
        use FindingStatus::*;
        match self {
            Open => &[InProgress, Resolved, Accepted, FalsePositive],
            InProgress => &[Open, Resolved, Accepted, FalsePositive],
            Resolved | Accepted | FalsePositive => &[Open],
        }
    }
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: i64,
    #[serde(flatten)]
    pub draft: FindingDraft,
    pub status: FindingStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Date>,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risks: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<i64>,
}

/// Which findings a matching run speaks for: a run over one advisory cannot close findings of
/// another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchScope {
    Advisory(i64),
    Asset(String),
    All,
}

/// What storing a matching run changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOutcome {
    pub opened: u64,
    pub reopened: u64,
    pub still_open: u64,
    /// Open findings resolved because they no longer match.
    pub resolved: u64,
    /// Ids of the findings opened or reopened.
    pub new_ids: Vec<i64>,
}

/// What a person changes on a finding.
#[derive(Debug, Clone, Default)]
pub struct FindingChange {
    pub status: Option<FindingStatus>,
    /// Why (the remediation done, the reason for accepting).
    pub resolution: Option<String>,
    pub due: Option<Option<Date>>,
    pub add_risk: Option<i64>,
    pub add_incident: Option<i64>,
}
