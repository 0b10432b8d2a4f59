//! Assessments: a subject (an organisation or a country) answering one version of a framework.
//!
//! An assessment is a draft until it is completed; a completed assessment never changes again
//! (the store refuses, with a conflict), and the next one starts from a copy of its answers.
//! Every answer is checked against the framework here, before it reaches a store.

use crate::framework::{Framework, NOT_APPLICABLE};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// Longest free text of one answer (evidence narrative), in bytes.
pub const MAX_EVIDENCE_BYTES: usize = 64 * 1024;
/// Most links one answer may hold.
pub const MAX_LINKS: usize = 50;
/// Largest evidence file, in bytes.
pub const MAX_FILE_BYTES: usize = 10 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Organisation,
    Country,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Organisation => "organisation",
            SubjectKind::Country => "country",
        }
    }
    pub fn parse(s: &str) -> Option<SubjectKind> {
        match s {
            "organisation" | "organization" => Some(SubjectKind::Organisation),
            "country" => Some(SubjectKind::Country),
            _ => None,
        }
    }
}

/// Who is assessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub name: String,
    /// The constituent this subject is, when it is one (so its own users may see it later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constituent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Completed => "completed",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "completed" => Some(Status::Completed),
            _ => None,
        }
    }
}

/// One item's answer and what supports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Answer {
    pub item: String,
    /// A level id of the framework's scale, [`NOT_APPLICABLE`], or none yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The level aimed for, instead of the framework's default target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_date: Option<Date>,
}

/// A file attached as evidence to one item (its content is fetched separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceFile {
    pub id: i64,
    pub item: String,
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub added_at: Timestamp,
    pub added_by: String,
}

/// An assessment's header: everything but its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentHeader {
    pub id: i64,
    pub framework_id: String,
    pub framework_version: String,
    pub subject: Subject,
    pub status: Status,
    /// The completed assessment this one started as a copy of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub based_on: Option<i64>,
    pub created_at: Timestamp,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_by: Option<String>,
    /// When the next assessment is due (set at completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    #[serde(flatten)]
    pub header: AssessmentHeader,
    /// Only items with something recorded, in no particular order.
    pub answers: Vec<Answer>,
    pub files: Vec<EvidenceFile>,
}

impl Assessment {
    pub fn answer(&self, item: &str) -> Option<&Answer> {
        self.answers.iter().find(|a| a.item == item)
    }
}

/// What a new assessment starts with.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub framework_id: String,
    pub framework_version: String,
    pub subject: Subject,
    pub based_on: Option<i64>,
    /// Answers copied from `based_on` (evidence files are not copied: they stay with the old one).
    pub answers: Vec<Answer>,
}

/// A change to one answer; fields left `None` keep their value.
#[derive(Debug, Clone, Default)]
pub struct AnswerChange {
    /// `Some(None)` clears the answer.
    pub level: Option<Option<String>>,
    pub evidence: Option<String>,
    pub add_links: Vec<String>,
    pub clear_links: bool,
    pub owner: Option<Option<String>>,
    pub target: Option<Option<String>>,
    pub target_date: Option<Option<Date>>,
}

/// A refused change, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct AnswerError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> AnswerError {
    AnswerError {
        field,
        message: message.into(),
    }
}

/// Applies a change to an item's current answer, checking every value against the framework.
pub fn apply_change(
    framework: &Framework,
    item: &str,
    current: Option<&Answer>,
    change: &AnswerChange,
) -> Result<Answer, AnswerError> {
    let Some(leaf) = framework.leaf(item) else {
        let has_subitems = framework
            .sections
            .iter()
            .flat_map(|s| &s.items)
            .any(|i| i.id == item && !i.subitems.is_empty());
        return Err(refuse(
            "item",
            if has_subitems {
                format!("{item:?} is answered through its sub-items, not by itself")
            } else {
                format!(
                    "{item:?} is not an item of {} {}",
                    framework.id, framework.version
                )
            },
        ));
    };
    let mut answer = current.cloned().unwrap_or_else(|| Answer {
        item: leaf.item.id.clone(),
        ..Answer::default()
    });
    let level_ok = |l: &str| l == NOT_APPLICABLE || framework.level(l).is_some();
    let levels = || {
        framework
            .scale
            .levels
            .iter()
            .map(|l| l.id.as_str())
            .chain([NOT_APPLICABLE])
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(level) = &change.level {
        if let Some(l) = level
            && !level_ok(l)
        {
            return Err(refuse(
                "answer",
                format!("{l:?} is not on the scale; use one of: {}", levels()),
            ));
        }
        answer.level = level.clone();
    }
    if let Some(target) = &change.target {
        if let Some(t) = target
            && framework.level(t).is_none()
        {
            return Err(refuse(
                "target",
                format!(
                    "{t:?} is not a level of the scale; use one of: {}",
                    framework
                        .scale
                        .levels
                        .iter()
                        .map(|l| l.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        answer.target = target.clone();
    }
    if let Some(evidence) = &change.evidence {
        if evidence.len() > MAX_EVIDENCE_BYTES {
            return Err(refuse(
                "evidence",
                format!("has {} bytes; at most {MAX_EVIDENCE_BYTES}", evidence.len()),
            ));
        }
        answer.evidence = evidence.clone();
    }
    if change.clear_links {
        answer.links.clear();
    }
    for link in &change.add_links {
        check_link(link)?;
        if !answer.links.contains(link) {
            answer.links.push(link.clone());
        }
    }
    if answer.links.len() > MAX_LINKS {
        return Err(refuse(
            "link",
            format!("at most {MAX_LINKS} links per item"),
        ));
    }
    if let Some(owner) = &change.owner {
        if let Some(o) = owner
            && (o.trim().is_empty() || o.len() > 256)
        {
            return Err(refuse("owner", "must be 1 to 256 bytes"));
        }
        answer.owner = owner.clone();
    }
    if let Some(date) = change.target_date {
        answer.target_date = date;
    }
    Ok(answer)
}

/// An evidence link must be an absolute http(s) URL: it is shown as a link in reports.
pub fn check_link(link: &str) -> Result<(), AnswerError> {
    let lower = link.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(refuse(
            "link",
            format!("{link:?} is not an http:// or https:// URL"),
        ));
    }
    if link.len() > 2048 || link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse(
            "link",
            format!("{link:?} is longer than 2048 bytes or holds spaces"),
        ));
    }
    Ok(())
}

/// The answers of `previous` that still fit `framework` (items that still exist, levels still
/// on the scale), for a new assessment starting from a copy; and the items left behind.
pub fn carry_over(framework: &Framework, previous: &Assessment) -> (Vec<Answer>, Vec<String>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for a in &previous.answers {
        let fits = framework.leaf(&a.item).is_some()
            && a.level
                .as_deref()
                .is_none_or(|l| l == NOT_APPLICABLE || framework.level(l).is_some())
            && a.target
                .as_deref()
                .is_none_or(|t| framework.level(t).is_some());
        if fits {
            kept.push(a.clone());
        } else {
            dropped.push(a.item.clone());
        }
    }
    (kept, dropped)
}

/// The date the next assessment is due: `months` after the completion day (UTC).
pub fn due_after(completed: Timestamp, months: u32) -> Date {
    let day = completed.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    day.checked_add(jiff::Span::new().months(i64::from(months)))
        .unwrap_or(Date::MAX)
}

/// Whether a reassessment is due, and how late it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    pub assessment: AssessmentHeader,
    pub due: Date,
    /// Days past the due date (negative: days left).
    pub days_overdue: i64,
    pub overdue: bool,
}

/// The latest completed assessment of each subject and framework whose reassessment is due on or
/// before `horizon`, most overdue first. `today` decides what counts as overdue.
pub fn due_reassessments(headers: &[AssessmentHeader], today: Date, horizon: Date) -> Vec<Due> {
    let mut latest: std::collections::HashMap<(SubjectKind, &str, &str), &AssessmentHeader> =
        std::collections::HashMap::new();
    for h in headers.iter().filter(|h| h.status == Status::Completed) {
        let key = (
            h.subject.kind,
            h.subject.name.as_str(),
            h.framework_id.as_str(),
        );
        let newer = latest
            .get(&key)
            .is_none_or(|old| (h.completed_at, h.id) > (old.completed_at, old.id));
        if newer {
            latest.insert(key, h);
        }
    }
    let mut out: Vec<Due> = latest
        .into_values()
        .filter_map(|h| {
            let due = h.due?;
            (due <= horizon).then(|| {
                // Days between two civil dates: `until` balances to days by default.
                let days = due
                    .until(today)
                    .map(|s| i64::from(s.get_days()))
                    .unwrap_or(0);
                Due {
                    assessment: h.clone(),
                    due,
                    days_overdue: days,
                    overdue: due < today,
                }
            })
        })
        .collect();
    out.sort_by(|a, b| {
        a.due
            .cmp(&b.due)
            .then(a.assessment.id.cmp(&b.assessment.id))
    });
    out
}

/// A reassessment reminder: one per assessment and due date, whatever how often it is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub id: i64,
    pub assessment: i64,
    pub due: Date,
    pub recipient: String,
    /// Depends only on the assessment and due date, so a resent message carries the same id.
    pub message_id: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The Message-ID of the reminder for an assessment's due date.
pub fn reminder_message_id(assessment: i64, due: Date, domain: &str) -> String {
    format!("<focal.reassess.{assessment}.{due}@{domain}>")
}
