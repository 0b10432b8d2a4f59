//! Storage for incident handling: incidents and their timelines ([`IncidentStore`]), the
//! hash-chained audit log ([`AuditLog`]) and the notification outbox ([`Outbox`]).
//!
//! These are separate traits from [`crate::Store`] so that backends can grow them independently;
//! the rules (which transitions are legal, how events are grouped, what a message says) live in
//! the `focal-incidents` crate. The store only guarantees atomicity:
//!
//! - a grouping batch, the incidents it creates or extends, their audit entries and the grouping
//!   cursor are committed together, so grouping is exactly-once and resumable;
//! - every change to an incident is a compare-and-set on its state, committed together with its
//!   timeline entry and its audit entry;
//! - claiming events into outbox messages moves each constituent's notification cursor in the
//!   same transaction, so an event is claimed into exactly one message.

use crate::Result;
use jiff::Timestamp;
use serde_json::Value;

/// The states in which an incident is open: new events with its key join it.
pub const OPEN_STATES: [&str; 4] = ["new", "acknowledged", "notified", "in_progress"];

/// What grouping needs to know about one stored event.
#[derive(Debug, Clone)]
pub struct GroupingEvent {
    pub seq: i64,
    pub constituent: Option<String>,
    pub classification_type: String,
    /// `time.source`, else `time.observation`, in Unix microseconds.
    pub time_event: i64,
    pub tlp: String,
    pub malware_name: Option<String>,
    pub source_asn: Option<u32>,
}

/// One event's place in an incident, decided by the grouping rules.
#[derive(Debug, Clone)]
pub struct GroupAssignment {
    pub seq: i64,
    pub key: String,
    pub constituent: String,
    pub classification_type: String,
    pub time_event: i64,
    pub tlp: String,
    /// For a new incident: its severity and how long after creation it is due.
    pub severity: String,
    pub sla_micros: i64,
}

/// A batch of grouping work: events with `from_cursor < seq <= to_cursor`. Events in that range
/// without an assignment (no constituent) are passed over.
#[derive(Debug, Clone)]
pub struct GroupingBatch {
    pub from_cursor: i64,
    pub to_cursor: i64,
    pub assignments: Vec<GroupAssignment>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GroupingOutcome {
    /// Events read (with or without a constituent).
    pub events_read: u64,
    /// Events put into an incident.
    pub events_grouped: u64,
    pub incidents_created: u64,
    /// Existing open incidents that received events.
    pub incidents_extended: u64,
    /// The grouping cursor afterwards (the last event seq grouped).
    pub cursor: i64,
}

impl std::ops::AddAssign for GroupingOutcome {
    fn add_assign(&mut self, o: Self) {
        self.events_read += o.events_read;
        self.events_grouped += o.events_grouped;
        self.incidents_created += o.incidents_created;
        self.incidents_extended += o.incidents_extended;
        self.cursor = self.cursor.max(o.cursor);
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Incident {
    pub id: i64,
    pub key: String,
    pub constituent: String,
    pub classification_type: String,
    pub state: String,
    pub severity: String,
    /// Set by hand rather than derived from the taxonomy.
    pub severity_override: bool,
    pub tlp: String,
    pub assignee: Option<String>,
    pub event_count: u64,
    pub first_event: Timestamp,
    pub last_event: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub due_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimelineEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub kind: String,
    pub detail: Value,
}

/// Which incidents to list. Every condition present must hold.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub constituent: Option<String>,
    pub states: Vec<String>,
    pub severity: Option<String>,
    pub assignee: Option<String>,
    pub classification_type: Option<String>,
    /// Only incidents open and past their due time at this instant.
    pub breached_at: Option<Timestamp>,
    pub limit: Option<usize>,
}

/// A change to one incident. Transitions are compare-and-set: they fail if the incident is no
/// longer in `from` (the caller checked legality against `from`).
#[derive(Debug, Clone)]
pub enum IncidentChange {
    Transition {
        from: String,
        to: String,
        /// Why (a constituent disputing its incident must say); kept in the timeline.
        reason: Option<String>,
    },
    Assign {
        assignee: Option<String>,
    },
    Severity {
        severity: String,
        due_at: Timestamp,
        overridden: bool,
    },
    /// An internal note: staff only, never shown to the constituent.
    Comment {
        text: String,
    },
    /// A message between the CSIRT and the constituent, which both see.
    Reply {
        text: String,
    },
}

/// Incidents, their events and timelines.
pub trait IncidentStore {
    /// The seq of the last event grouped (0 before any).
    fn grouping_cursor(&self) -> Result<i64>;
    /// Up to `limit` events with `seq > after`, in seq order.
    fn events_for_grouping(&self, after: i64, limit: usize) -> Result<Vec<GroupingEvent>>;
    /// Applies a batch atomically, with its audit entries and the cursor. Fails without change
    /// if the cursor is no longer `batch.from_cursor` (another grouping got there first).
    fn apply_grouping(&self, batch: &GroupingBatch, actor: &str) -> Result<GroupingOutcome>;

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    fn incident(&self, id: i64) -> Result<Option<Incident>>;
    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>>;
    /// The incident's events in seq order, at most `limit`.
    fn incident_events(
        &self,
        id: i64,
        limit: Option<usize>,
        visit: &mut dyn FnMut(focal_model::Event) -> Result<()>,
    ) -> Result<()>;
    /// Applies a change with its timeline and audit entries; returns the incident afterwards.
    fn change_incident(&self, id: i64, change: &IncidentChange, actor: &str) -> Result<Incident>;
}

/// One audit log entry. `hash` is the entry's MAC over its fields and `prev_hash` (see
/// `crate::audit_chain`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub action: Option<String>,
    /// Entries by this actor (`user:alice`, `cli`, ...).
    pub actor: Option<String>,
    /// Entries at or after this time.
    pub since: Option<jiff::Timestamp>,
    /// Entries before this time.
    pub until: Option<jiff::Timestamp>,
    pub after_id: Option<i64>,
    /// Entries with a smaller id (paging newest first).
    pub before_id: Option<i64>,
    /// Newest first rather than in the chain's order.
    pub newest_first: bool,
    pub limit: Option<usize>,
}

impl AuditFilter {
    /// A time bound as compared with the stored `at` (RFC 3339 in UTC, `...Z`, with a
    /// fraction of a second or not): the second without zone or fraction, which sorts before
    /// every stored time within that second and after every earlier one.
    pub fn bound(t: &jiff::Timestamp) -> String {
        t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// The result of recomputing the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditVerification {
    pub entries: u64,
    pub ok: bool,
    /// The MAC of the last entry: record it elsewhere (`focal audit anchor`) to detect removal
    /// of entries at the end.
    pub head: Option<String>,
    /// The id of the last entry.
    pub head_id: Option<i64>,
    /// The first entry sealed with the audit key (older ones are plain SHA-256), if keyed.
    pub keyed_from: Option<i64>,
    /// The audit key's fingerprint, if keyed.
    pub key: Option<String>,
    /// The first entry that does not verify, and why.
    pub first_bad_id: Option<i64>,
    pub problem: Option<String>,
}

/// The append-only, hash-chained audit log.
pub trait AuditLog {
    fn audit_append(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<AuditEntry>;
    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
    /// The latest entry with this action and subject, if any.
    fn audit_latest(&self, action: &str, subject: &str) -> Result<Option<AuditEntry>>;
    /// Recomputes the chain; given an anchor, also checks that its entry is still there with
    /// the MAC recorded (so entries removed from the end since show).
    fn audit_verify_anchored(
        &self,
        anchor: Option<&crate::audit_chain::Anchor>,
    ) -> Result<AuditVerification>;
    fn audit_verify(&self) -> Result<AuditVerification> {
        self.audit_verify_anchored(None)
    }
    /// The id and MAC of the newest entry.
    fn audit_head(&self) -> Result<Option<(i64, String)>>;
    /// Seals new entries with this key from now on (and verifies with it). Stores start
    /// [`crate::audit_chain::Keying::Unkeyed`].
    fn set_audit_keying(&self, keying: crate::audit_chain::Keying);
    fn audit_keying(&self) -> crate::audit_chain::Keying;
}

/// How to claim new events into outbox messages.
#[derive(Debug, Clone)]
pub struct ClaimOptions {
    /// A constituent with more new events gets several messages.
    pub max_events_per_message: usize,
    /// The domain part of generated Message-IDs.
    pub message_id_domain: String,
    pub now: Timestamp,
    /// False for a preview: the claim is computed and rolled back.
    pub commit: bool,
}

/// A message to send: the constituent's events with `after_seq < seq <= last_seq`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxMessage {
    /// `None` in a preview (nothing was written).
    pub id: Option<i64>,
    pub constituent: String,
    pub recipient: String,
    pub after_seq: i64,
    pub last_seq: i64,
    pub range_events: u64,
    pub message_id: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClaimSummary {
    pub messages: Vec<OutboxMessage>,
    /// Constituents with new events but no abuse address: (id, events waiting). Their events stay
    /// unclaimed until an address is imported.
    pub no_address: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub outbox_id: i64,
    pub constituent: String,
    pub at: Timestamp,
    /// `sent`, `retry` or `failed`.
    pub outcome: String,
    pub detail: String,
}

/// The transactional notification outbox.
pub trait Outbox {
    /// Moves every constituent's events since its cursor into new outbox messages, in one
    /// transaction with the cursors.
    fn claim_notifications(&self, options: &ClaimOptions) -> Result<ClaimSummary>;
    /// Messages to work on now: `pending` ones due by `now`, and `sending` ones (a sender was
    /// stopped between starting and recording a send), oldest first.
    fn outbox_due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxMessage>>;
    fn outbox_list(&self, state: Option<&str>, limit: Option<usize>) -> Result<Vec<OutboxMessage>>;
    fn outbox_mark_sending(&self, id: i64) -> Result<()>;
    /// Records the delivery; incidents of the message's events that were `new` or `acknowledged`
    /// become `notified` (with timeline and audit entries) in the same transaction. Returns the
    /// number of incidents moved.
    fn outbox_mark_sent(&self, id: i64, detail: &str, actor: &str) -> Result<u64>;
    /// Records a failed attempt: `retry_at` puts the message back to `pending` for then, `None`
    /// gives up (`failed`).
    fn outbox_mark_failed(&self, id: i64, detail: &str, retry_at: Option<Timestamp>) -> Result<()>;
    /// Messages sent to this constituent since `since` (for the rate limit).
    fn sent_since(&self, constituent: &str, since: Timestamp) -> Result<u64>;
    fn deliveries(&self, limit: Option<usize>) -> Result<Vec<Delivery>>;
    /// Calls `visit(i, event)` for every event of `messages[i]`, message by message, each in seq
    /// order, over one database connection (so rendering many messages keeps its page cache).
    fn outbox_events(
        &self,
        messages: &[OutboxMessage],
        visit: &mut dyn FnMut(usize, focal_model::Event) -> Result<()>,
    ) -> Result<()>;
}
