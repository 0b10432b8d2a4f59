//! The changes to an advisory that every front end makes (`focal advisories`, the REST API and
//! the web pages): read it, apply one rule of [`Advisory`], and save it compare-and-set with
//! its audit entry in the same transaction. Declared once here so the CLI and the server cannot
//! drift apart in what they check or what they audit.

use super::{Advisory, AdvisoryContent, AdvisoryError, next_id};
use crate::AwarenessConfig;
use crate::store::{AdvisoryStore, AuditRecord, StorageError};
use jiff::Timestamp;

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The rules of [`Advisory`] refused it (invalid content, wrong state, four eyes).
    #[error(transparent)]
    Refused(#[from] AdvisoryError),
    /// The store refused or failed (not found, someone else changed it first, ...).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One step of the workflow after creation.
#[derive(Debug, Clone)]
pub enum Step {
    /// Change the working copy; on a published advisory this starts the next revision and
    /// needs `change_summary` (the revision history entry).
    Edit {
        content: AdvisoryContent,
        change_summary: Option<String>,
    },
    /// Draft → in review.
    Submit,
    /// In review → draft, with the reason for the audit log.
    Reject { reason: String },
    /// In review → published revision n + 1, by someone other than its author.
    Publish,
}

impl Step {
    /// The audit action of this step.
    pub fn action(&self) -> &'static str {
        match self {
            Step::Edit { .. } => "advisory.edit",
            Step::Submit => "advisory.submit",
            Step::Reject { .. } => "advisory.reject",
            Step::Publish => "advisory.publish",
        }
    }
}

/// The audit entry of a change to an advisory: its view before and after, and any detail.
pub fn audit_record(
    actor: &str,
    action: &str,
    before: Option<&Advisory>,
    after: &Advisory,
    detail: Option<serde_json::Value>,
) -> AuditRecord {
    let mut after_view = after.audit_view();
    if let Some(detail) = detail {
        after_view["detail"] = detail;
    }
    AuditRecord {
        actor: actor.into(),
        action: action.into(),
        subject: format!("advisory:{}", after.id),
        before: before.map(Advisory::audit_view),
        after: Some(after_view),
    }
}

/// Writes a new draft with `id`, or the next `<id_prefix>-<year>-NNNN`, audited as
/// `advisory.create`.
pub fn create(
    store: &dyn AdvisoryStore,
    config: &AwarenessConfig,
    id: Option<String>,
    content: AdvisoryContent,
    actor: &str,
    now: Timestamp,
) -> Result<Advisory, WorkflowError> {
    let id = match id {
        Some(id) => id,
        None => {
            let ids = store.advisory_ids()?;
            next_id(
                &config.id_prefix,
                now.to_zoned_datetime(jiff::tz::TimeZone::UTC).year(),
                ids.iter().map(String::as_str),
            )
        }
    };
    let a = Advisory::create(&id, content, actor, now)?;
    store.insert_advisory(&a, &audit_record(actor, "advisory.create", None, &a, None))?;
    Ok(a)
}

/// Applies one step to the stored advisory `id` and saves it if nobody changed it meanwhile:
/// since it was read here, and, with `expected`, since the caller read it at that row version
/// (a form or an edit that started from an earlier read).
pub fn apply(
    store: &dyn AdvisoryStore,
    id: &str,
    expected: Option<u64>,
    step: Step,
    actor: &str,
    now: Timestamp,
) -> Result<Advisory, WorkflowError> {
    let before = store.advisory(id)?;
    if let Some(v) = expected
        && v != before.row_version
    {
        return Err(StorageError::Conflict(format!(
            "advisory {id} was changed by someone else since it was read (version {v}, now {}); reload it and try again",
            before.row_version
        ))
        .into());
    }
    let mut a = before.clone();
    let action = step.action();
    let detail = match step {
        Step::Edit {
            content,
            change_summary,
        } => {
            a.edit(content, change_summary, actor, now)?;
            None
        }
        Step::Submit => {
            a.submit(actor, now)?;
            None
        }
        Step::Reject { reason } => {
            a.reject(now)?;
            Some(serde_json::json!({ "reason": reason }))
        }
        Step::Publish => {
            a.publish(actor, now)?;
            None
        }
    };
    store.update_advisory(
        &a,
        before.row_version,
        &audit_record(actor, action, Some(&before), &a, detail),
    )?;
    Ok(a)
}
