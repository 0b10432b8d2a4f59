//! The storage this domain needs, as traits with typed errors. `focal-store` implements them for
//! SQLite and PostgreSQL; each write is one transaction with its audit entry.

use crate::advisory::Advisory;
use crate::assessment::{
    Answer, Assessment, AssessmentHeader, EvidenceFile, NewAssessment, Status, SubjectKind,
};
use crate::framework::Framework;
use crate::matching::{
    Finding, FindingChange, FindingDraft, FindingStatus, MatchScope, StoredRecord, SyncOutcome,
};
use crate::risk::{Asset, EntryKind, Installed, RegisterEntry, Risk, RiskDraft};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: String },
    /// The change conflicts with the stored state (a completed assessment, a duplicate).
    #[error("{0}")]
    Conflict(String),
    /// A value the store cannot keep.
    #[error("{0}")]
    Invalid(String),
    /// The database failed; the message says what was being done.
    #[error("{0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub fn not_found(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}

/// A framework added by a user (the shipped ones are compiled in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFramework {
    pub framework: Framework,
    pub digest: String,
    /// The file as given.
    pub source_text: String,
    pub added_at: Timestamp,
    pub added_by: String,
}

#[derive(Debug, Clone, Default)]
pub struct AssessmentFilter {
    pub subject_kind: Option<SubjectKind>,
    pub subject: Option<String>,
    pub framework: Option<String>,
    pub status: Option<Status>,
    /// Only assessments whose subject is this constituent (what a constituent's user may see).
    pub constituent: Option<String>,
    pub limit: Option<usize>,
}

pub trait AssessmentStore: Send + Sync {
    /// Adds a framework; a framework with the same id and version and the same content is
    /// already there (returns false); with other content it is a conflict.
    fn add_framework(&self, framework: &Framework, source_text: &str, actor: &str) -> Result<bool>;
    fn stored_frameworks(&self) -> Result<Vec<StoredFramework>>;
    fn create_assessment(&self, new: &NewAssessment, actor: &str) -> Result<AssessmentHeader>;
    fn assessment(&self, id: i64) -> Result<Assessment>;
    fn assessments(&self, filter: &AssessmentFilter) -> Result<Vec<AssessmentHeader>>;
    /// Replaces one item's answer; a completed assessment is a conflict.
    fn save_answer(&self, id: i64, answer: &Answer, actor: &str) -> Result<()>;
    fn add_evidence_file(
        &self,
        id: i64,
        item: &str,
        name: &str,
        content: &[u8],
        actor: &str,
    ) -> Result<EvidenceFile>;
    fn evidence_file(&self, file_id: i64) -> Result<(EvidenceFile, Vec<u8>)>;
    /// Queues the reminder of an assessment's due date unless one is already there (then
    /// returns false and changes nothing), with its audit entry.
    fn queue_reminder(
        &self,
        assessment: i64,
        due: Date,
        recipient: &str,
        message_id: &str,
        actor: &str,
    ) -> Result<bool>;
    /// Reminders in a state (`pending`, `sent`, `failed`), or all, oldest first.
    fn reminders(&self, state: Option<&str>) -> Result<Vec<crate::assessment::Reminder>>;
    /// Records a sending attempt: `Ok(answer)` sent; `Err((error, give_up))` failed, for good
    /// when `give_up`, else left pending for the next round.
    fn mark_reminder(
        &self,
        id: i64,
        outcome: std::result::Result<&str, (&str, bool)>,
        actor: &str,
    ) -> Result<()>;
    /// Completes a draft (a conflict if it is not one), recording its scores as they were.
    fn complete_assessment(
        &self,
        id: i64,
        due: Date,
        scores: &serde_json::Value,
        actor: &str,
    ) -> Result<AssessmentHeader>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveCounts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    pub organisation: Option<String>,
    pub constituent: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct RiskFilter {
    pub asset: Option<String>,
    /// Only risks whose review date is on or before this day.
    pub review_due_by: Option<Date>,
    pub limit: Option<usize>,
}

pub trait RiskStore: Send + Sync {
    /// Inserts or replaces assets by id (with their software), one audit entry per change.
    fn save_assets(&self, assets: &[Asset], actor: &str) -> Result<SaveCounts>;
    fn asset(&self, id: &str) -> Result<Asset>;
    fn assets(&self, filter: &AssetFilter) -> Result<Vec<Asset>>;
    fn remove_asset(&self, id: &str, actor: &str) -> Result<()>;
    /// What is installed under any of these package keys (an index lookup).
    fn installed_for_keys(&self, keys: &[String]) -> Result<Vec<Installed>>;
    /// Everything installed, streamed.
    fn all_installed(&self, visit: &mut dyn FnMut(Installed) -> Result<()>) -> Result<()>;
    fn add_entry(&self, entry: &RegisterEntry, actor: &str) -> Result<RegisterEntry>;
    fn entries(&self, kind: Option<EntryKind>) -> Result<Vec<RegisterEntry>>;
    fn create_risk(&self, draft: &RiskDraft, actor: &str) -> Result<Risk>;
    fn update_risk(&self, id: i64, draft: &RiskDraft, actor: &str) -> Result<Risk>;
    fn risk(&self, id: i64) -> Result<Risk>;
    fn risks(&self, filter: &RiskFilter) -> Result<Vec<Risk>>;
}

/// What importing an advisory did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportOutcome {
    Added,
    /// Another revision with the same id was there; its records were replaced.
    Replaced,
    /// The same document was already there.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvisorySummary {
    pub id: i64,
    pub format: crate::advisory::Format,
    pub advisory_ref: String,
    pub revision: String,
    pub title: String,
    pub severity: crate::advisory::Severity,
    pub records: u64,
    pub unmatchable: u64,
    pub imported_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub status: Vec<FindingStatus>,
    pub asset: Option<String>,
    pub organisation: Option<String>,
    pub advisory: Option<i64>,
    pub min_rating: Option<crate::advisory::Rating>,
    pub limit: Option<usize>,
    /// Findings to skip first (in the listing's order: worst first, then oldest), for paging.
    pub offset: usize,
}

pub trait VulnStore: Send + Sync {
    fn import_advisory(&self, advisory: &Advisory, actor: &str) -> Result<(i64, ImportOutcome)>;
    fn advisories(&self, limit: usize) -> Result<Vec<AdvisorySummary>>;
    fn advisory(&self, id: i64) -> Result<Advisory>;
    /// Affected records under any of these package keys (an index lookup).
    fn records_for_keys(&self, keys: &[String]) -> Result<Vec<StoredRecord>>;
    /// Every affected record, streamed.
    fn all_records(&self, visit: &mut dyn FnMut(StoredRecord) -> Result<()>) -> Result<()>;
    /// Stores a matching run's results for its scope (see [`crate::matching`]), audited.
    fn sync_findings(
        &self,
        scope: &MatchScope,
        found: &[FindingDraft],
        actor: &str,
    ) -> Result<SyncOutcome>;
    fn findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>>;
    fn finding(&self, id: i64) -> Result<Finding>;
    /// Applies a person's change; a status change must be allowed from the stored status
    /// (checked again in the transaction: a conflict otherwise).
    fn update_finding(&self, id: i64, change: &FindingChange, actor: &str) -> Result<Finding>;
}

/// Everything this domain stores.
pub trait Storage: AssessmentStore + RiskStore + VulnStore {}
impl<T: AssessmentStore + RiskStore + VulnStore> Storage for T {}
