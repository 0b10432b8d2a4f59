//! Incident handling: from stored events to owners who act.
//!
//! - [`grouping`] puts new events into incidents by configurable rules (default: one incident per
//!   constituent × `classification.type` × UTC day of the event); events join the open incident
//!   with their key instead of opening another. It works in batches after a stored cursor, each
//!   batch committed with the cursor, so it is exactly-once and resumable.
//! - [`state`] is the incident state machine; only legal transitions are accepted.
//! - [`severity`] derives severity from the RSIT taxonomy (overridable) and SLA due times.
//! - [`notify`] turns each constituent's new events into digests (plain-text body from a
//!   template in the constituent's language, CSV and IntelMQ JSON attachments) and sends them over
//!   SMTP through the store's transactional outbox.
//!
//! The crate holds the rules; `focal-store` holds the data and makes every step atomic. Nothing
//! here knows HTTP or the command line.

pub mod config;
pub mod grouping;
pub mod notify;
pub mod severity;
pub mod state;

pub use config::{IncidentsConfig, NotifyConfig};
pub use grouping::group_pending;
pub use severity::Severity;
pub use state::State;

use focal_store::StoreError;
use focal_store::incidents::{IncidentChange, IncidentStore};

/// Why an incident operation failed. Messages name the incident, the state and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("there is no incident {0}")]
    NoSuchIncident(i64),
    #[error(
        "incident {id} cannot go from {from} to {to}: from {from} the allowed transitions are {allowed}"
    )]
    IllegalTransition {
        id: i64,
        from: State,
        to: State,
        allowed: String,
    },
    #[error("unknown incident state {0:?} (expected one of {states})", states = State::names())]
    UnknownState(String),
    #[error("unknown severity {0:?} (expected critical, high, medium or low)")]
    UnknownSeverity(String),
    #[error("{0}")]
    Invalid(String),
    /// Allowed to others, not to this caller (a constituent moving its incident on).
    #[error("{0}")]
    NotYours(String),
    /// Writing output (a preview) failed; the source is kept so callers can tell a closed pipe.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Moves an incident to `to` if the state machine allows it from its current state.
pub fn transition<S: IncidentStore + ?Sized>(
    store: &S,
    id: i64,
    to: State,
    actor: &str,
) -> Result<focal_store::incidents::Incident> {
    transition_because(store, id, to, actor, None)
}

/// The most bytes of a transition's reason.
pub const MAX_REASON_BYTES: usize = 2000;

/// What a constituent may do with its own incident: acknowledge it, or dispute it (move it to
/// `false_positive`, saying why). Every other state is the CSIRT's to set.
pub fn constituent_may(to: State) -> bool {
    matches!(to, State::Acknowledged | State::FalsePositive)
}

/// A constituent's transition: only what [`constituent_may`] allows, and a dispute only with a
/// reason (1 to [`MAX_REASON_BYTES`] bytes, no control characters but line breaks).
pub fn constituent_transition<S: IncidentStore + ?Sized>(
    store: &S,
    id: i64,
    to: State,
    actor: &str,
    reason: Option<&str>,
) -> Result<focal_store::incidents::Incident> {
    if !constituent_may(to) {
        return Err(Error::NotYours(format!(
            "a constituent may acknowledge its incident or dispute it (false_positive, with a reason); moving it to {to} is the CSIRT's"
        )));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if to == State::FalsePositive && reason.is_none() {
        return Err(Error::Invalid(
            "a dispute (false_positive) needs a reason: say why these events are not an incident"
                .into(),
        ));
    }
    transition_because(store, id, to, actor, reason)
}

/// [`transition`] with a reason, kept in the timeline and the audit log.
pub fn transition_because<S: IncidentStore + ?Sized>(
    store: &S,
    id: i64,
    to: State,
    actor: &str,
    reason: Option<&str>,
) -> Result<focal_store::incidents::Incident> {
    if let Some(r) = reason
        && (r.len() > MAX_REASON_BYTES
            || r.chars().any(|c| c.is_control() && c != '\n' && c != '\r'))
    {
        return Err(Error::Invalid(format!(
            "a reason is at most {MAX_REASON_BYTES} bytes of text without control characters"
        )));
    }
    let incident = store.incident(id)?.ok_or(Error::NoSuchIncident(id))?;
    let from = State::parse(&incident.state)?;
    from.check(to).map_err(|allowed| Error::IllegalTransition {
        id,
        from,
        to,
        allowed,
    })?;
    Ok(store.change_incident(
        id,
        &IncidentChange::Transition {
            from: from.as_str().into(),
            to: to.as_str().into(),
            reason: reason.map(str::to_string),
        },
        actor,
    )?)
}

/// Sets (or with `None`, resets to the taxonomy's) severity; the SLA due time follows it,
/// counted from the incident's creation.
pub fn set_severity<S: IncidentStore + ?Sized>(
    store: &S,
    rules: &IncidentsConfig,
    id: i64,
    severity: Option<Severity>,
    actor: &str,
) -> Result<focal_store::incidents::Incident> {
    let incident = store.incident(id)?.ok_or(Error::NoSuchIncident(id))?;
    let overridden = severity.is_some();
    let severity = match severity {
        Some(s) => s,
        None => rules.severity_for(&incident.classification_type),
    };
    let due_at = incident
        .created_at
        .checked_add(jiff::SignedDuration::from_hours(
            rules.sla_hours.for_severity(severity) as i64,
        ))
        .map_err(|e| Error::Invalid(format!("SLA due time out of range: {e}")))?;
    Ok(store.change_incident(
        id,
        &IncidentChange::Severity {
            severity: severity.as_str().into(),
            due_at,
            overridden,
        },
        actor,
    )?)
}
