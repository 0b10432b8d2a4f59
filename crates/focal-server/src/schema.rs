//! The shapes of the REST API's answers, as the OpenAPI document describes them.
//!
//! These are the API's own types rather than the store's: `/api/v1` is a contract with scripts
//! and other tools, so a change to how the store keeps a row must not silently change what the
//! API answers. Each type is serialised as it is documented (the document is generated from
//! these very types by `utoipa`), and schemathesis checks live answers against the document
//! (`crates/focal/tests/web_schemathesis.rs`).

pub use crate::constituents::ConstituentOut;
use focal_store::incidents::{AuditEntry, Delivery, Incident, TimelineEntry};
use focal_store::{QuarantineRecord, RunRecord};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};

/// An event with IntelMQ's harmonised field names (`source.ip`, `classification.type`, ...),
/// Focal's additions under `extra.` (`extra.tlp`, `extra.constituent`, `extra.focal_event_id`,
/// and any other `extra.*` the feed carried), and its storage `seq` where it has one. The raw
/// record is never part of an API answer.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct EventJson(pub Map<String, Value>);

impl utoipa::PartialSchema for EventJson {
    fn schema() -> RefOr<Schema> {
        use focal_model::Field;
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let mut object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "An event in IntelMQ's format. Fields an event does not have are absent.",
            ))
            .property("__type", text().enum_values(Some(["Event"])))
            .property(
                "seq",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .description(Some("Storage order; pass as `after` to page.")),
            )
            .property(
                "tlp",
                text().description(Some("TLP in IntelMQ's label (`AMBER`, `RED`, ...).")),
            )
            .property(
                "extra.tlp",
                text().description(Some("TLP 2.0 label (`TLP:AMBER+STRICT`, ...).")),
            )
            .property(
                "extra.constituent",
                text().description(Some("The constituent the event was matched to.")),
            )
            .property(
                "extra.focal_event_id",
                text().description(Some("The event's id (a UUID, the same on every node).")),
            )
            .required("__type")
            .required("classification.type")
            .required("extra.tlp")
            .additional_properties(Some(AdditionalProperties::FreeForm(true)));
        for field in focal_model::intelmq::FIELDS {
            // The same numeric fields `intelmq::to_json` writes as numbers; a value the feed
            // gave that is not a number stays text, so both are allowed there.
            let property = match field {
                Field::SourcePort | Field::DestinationPort | Field::SourceAsn => {
                    ObjectBuilder::new()
                        .schema_type(SchemaType::from_iter([Type::Integer, Type::String]))
                }
                _ => text(),
            };
            object = object.property(field.name().into_owned(), property);
        }
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for EventJson {
    fn name() -> std::borrow::Cow<'static, str> {
        "Event".into()
    }
}

/// An incident: events of one constituent grouped under one key, handled as one case.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Incident)]
pub struct IncidentJson {
    pub id: i64,
    /// The grouping key (by default constituent, classification type and UTC day).
    pub key: String,
    /// The constituent id.
    pub constituent: String,
    pub classification_type: String,
    /// new, acknowledged, notified, in_progress, resolved, false_positive or closed.
    pub state: String,
    /// low, medium, high or critical.
    pub severity: String,
    /// Set by hand rather than derived from the taxonomy.
    pub severity_override: bool,
    /// The most restrictive TLP of its events.
    pub tlp: String,
    pub assignee: Option<String>,
    pub event_count: u64,
    #[schema(value_type = String, format = DateTime)]
    pub first_event: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_event: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
    /// When the SLA of its severity runs out.
    #[schema(value_type = String, format = DateTime)]
    pub due_at: jiff::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<jiff::Timestamp>,
}

impl From<Incident> for IncidentJson {
    fn from(i: Incident) -> Self {
        IncidentJson {
            id: i.id,
            key: i.key,
            constituent: i.constituent,
            classification_type: i.classification_type,
            state: i.state,
            severity: i.severity,
            severity_override: i.severity_override,
            tlp: i.tlp,
            assignee: i.assignee,
            event_count: i.event_count,
            first_event: i.first_event,
            last_event: i.last_event,
            created_at: i.created_at,
            updated_at: i.updated_at,
            due_at: i.due_at,
            closed_at: i.closed_at,
        }
    }
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = TimelineEntry)]
pub struct TimelineJson {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    /// Who: `user:NAME`, `system`, or the command's actor.
    pub actor: String,
    /// created, events_added, transition (with a `reason` when one was given), assign, comment
    /// (an internal note, never shown to a constituent), reply (seen by the constituent),
    /// severity, notified, ...
    pub kind: String,
    /// What changed, by kind.
    pub detail: Value,
}

impl From<TimelineEntry> for TimelineJson {
    fn from(t: TimelineEntry) -> Self {
        TimelineJson {
            id: t.id,
            at: t.at,
            actor: t.actor,
            kind: t.kind,
            detail: t.detail,
        }
    }
}

/// An incident with its timeline, the states it may move to, and its first 50 events.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentDetail {
    pub incident: IncidentJson,
    pub timeline: Vec<TimelineJson>,
    pub allowed_transitions: Vec<String>,
    pub events: Vec<EventJson>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConstituentPage {
    pub constituents: Vec<ConstituentOut>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<String>,
}

/// One attempt to deliver a notification.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryJson {
    pub id: i64,
    /// The outbox message delivered.
    pub outbox_id: i64,
    pub constituent: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    /// sent, retry or failed.
    pub outcome: String,
    /// The SMTP server's answer or the error.
    pub detail: String,
}

impl From<Delivery> for DeliveryJson {
    fn from(d: Delivery) -> Self {
        DeliveryJson {
            id: d.id,
            outbox_id: d.outbox_id,
            constituent: d.constituent,
            at: d.at,
            outcome: d.outcome,
            detail: d.detail,
        }
    }
}

/// A constituent with its first 100 incidents and its last 50 notification deliveries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConstituentDetail {
    pub constituent: ConstituentOut,
    pub incidents: Vec<IncidentJson>,
    pub notifications: Vec<DeliveryJson>,
}

/// An ingestion run: one feed file through the pipeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Run)]
pub struct RunJson {
    pub id: i64,
    pub feed: String,
    pub file_name: String,
    /// SHA-256 of the file's content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// running, completed, already_ingested, failed or interrupted.
    pub status: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The interrupted run this one continued.
    pub resumed_from: Option<i64>,
    /// Records read (blank and comment lines are not records).
    pub rows_read: u64,
    /// New events written.
    pub events_stored: u64,
    /// Valid records that were an event already stored.
    pub duplicates: u64,
    /// Malformed records quarantined.
    pub quarantined: u64,
    /// Byte offset after the last committed record.
    pub offset: u64,
    /// Line of the last committed record.
    pub line: u64,
}

impl From<RunRecord> for RunJson {
    fn from(r: RunRecord) -> Self {
        RunJson {
            id: r.id,
            feed: r.feed,
            file_name: r.file_name,
            sha256: r.sha256,
            size: r.size,
            status: r.status.as_str().to_string(),
            started_at: r.started_at,
            finished_at: r.finished_at,
            resumed_from: r.resumed_from,
            rows_read: r.progress.rows_read,
            events_stored: r.progress.events_stored,
            duplicates: r.progress.duplicates,
            quarantined: r.progress.quarantined,
            offset: r.progress.offset,
            line: r.progress.line,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<RunJson>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

/// A malformed record, kept with the reason it was refused.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = QuarantinedRecord)]
pub struct QuarantineJson {
    pub id: i64,
    pub run_id: i64,
    pub feed: String,
    pub file_name: String,
    /// Line of the record in the file.
    pub line: u64,
    /// What kind of fault (bad_value, missing_field, oversized, ...).
    pub kind: String,
    /// The field at fault, where there is one.
    pub field: Option<String>,
    pub reason: String,
    /// The record's bytes, lossily decoded for display.
    pub raw: String,
    /// The record's exact bytes in hex.
    pub raw_hex: String,
    pub quarantined_at: String,
}

impl From<QuarantineRecord> for QuarantineJson {
    fn from(q: QuarantineRecord) -> Self {
        QuarantineJson {
            id: q.id,
            run_id: q.run_id,
            feed: q.feed,
            file_name: q.file_name,
            line: q.line,
            kind: q.kind,
            field: q.field,
            reason: q.reason,
            raw: q.raw,
            raw_hex: q.raw_hex,
            quarantined_at: q.quarantined_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuarantinePage {
    pub records: Vec<QuarantineJson>,
    /// Pass as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

/// An audit log entry. `hash` is SHA-256 over the entry and `prev_hash`, so the chain shows
/// any entry edited or removed (`focal audit verify`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditJson {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The subject before the change, if it existed.
    pub before: Option<Value>,
    /// The subject after the change.
    pub after: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditEntry> for AuditJson {
    fn from(a: AuditEntry) -> Self {
        AuditJson {
            id: a.id,
            at: a.at,
            actor: a.actor,
            action: a.action,
            subject: a.subject,
            before: a.before,
            after: a.after,
            prev_hash: a.prev_hash,
            hash: a.hash,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditJson>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<i64>,
}

/// What every failed request answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong, naming the parameter or field at fault.
    pub error: String,
}

/// Converts a list of store rows into their API shape.
pub fn all<T, U: From<T>>(rows: Vec<T>) -> Vec<U> {
    rows.into_iter().map(U::from).collect()
}

/// An account (never its password or its tokens' values).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserOut {
    pub name: String,
    /// admin, analyst, auditor, constituent or peer.
    pub role: String,
    /// The constituent a constituent's account belongs to.
    pub organisation: Option<String>,
    /// A disabled account's sessions, tokens and password are refused.
    pub disabled: bool,
    pub created_at: String,
}

impl From<focal_identity::User> for UserOut {
    fn from(u: focal_identity::User) -> Self {
        UserOut {
            name: u.name,
            role: u.role.as_str().to_string(),
            organisation: u.organisation,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// A signed-in session (never its cookie or CSRF token).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionOut {
    /// Pass to end this session.
    pub id: i64,
    pub created_at: String,
    pub expires_at: String,
    /// The address it was signed in from.
    pub client: Option<String>,
    /// The session this request was made with.
    pub current: bool,
}

impl SessionOut {
    pub fn new(s: focal_identity::SessionInfo, current: Option<i64>) -> SessionOut {
        SessionOut {
            current: current == Some(s.id),
            id: s.id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            client: s.client,
        }
    }
}

/// An API token (never its value).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Token)]
pub struct TokenOut {
    pub id: i64,
    pub label: Option<String>,
    /// read (GET only, on the API and TAXII) or write.
    pub scope: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<focal_identity::TokenInfo> for TokenOut {
    fn from(t: focal_identity::TokenInfo) -> Self {
        TokenOut {
            id: t.id,
            label: t.label,
            scope: t.scope.as_str().to_string(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserOut>,
}

/// An account with its live sessions and its tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserDetail {
    pub user: UserOut,
    pub sessions: Vec<SessionOut>,
    pub tokens: Vec<TokenOut>,
}

/// How many sessions a request ended.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Ended {
    pub ended: u64,
}

/// A sharing policy: what a peer or user may receive (docs/SHARING.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SharingPolicyOut {
    /// The highest TLP it may receive (`CLEAR`, `GREEN`, `AMBER`, `AMBER+STRICT`); TLP:RED never
    /// leaves the node.
    pub max_tlp: String,
    /// The constituent it is: the only one that receives its TLP:AMBER+STRICT.
    pub constituent: Option<String>,
    /// Field (`source.ip`, ...) → `drop` or `pseudonymise`.
    pub redact: std::collections::BTreeMap<String, String>,
    /// Only these RSIT types or taxonomies; `null`: all.
    pub types: Option<Vec<String>>,
    /// False when no policy of its own is stored and the default applies.
    pub own: bool,
}

impl SharingPolicyOut {
    pub fn new(p: &focal_sharing::Policy, own: bool) -> SharingPolicyOut {
        SharingPolicyOut {
            max_tlp: p.max_tlp.as_str().to_string(),
            constituent: p.constituent.clone(),
            redact: p
                .redact
                .iter()
                .map(|(f, r)| {
                    let r = match r {
                        focal_sharing::Redaction::Drop => "drop",
                        focal_sharing::Redaction::Pseudonymise => "pseudonymise",
                    };
                    (f.clone(), r.to_string())
                })
                .collect(),
            types: p.types.as_ref().map(|t| t.iter().cloned().collect()),
            own,
        }
    }
}

/// A peer (a remote TAXII node this one pulls from and/or pushes to), its sync state and its
/// policy. Its password or token is never shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SharingPeerOut {
    pub name: String,
    /// The remote TAXII API root URL.
    pub api_root: String,
    /// The remote collection id.
    pub collection: String,
    /// The local collection id (what is pushed, where pulled objects go).
    pub local_collection: String,
    /// How this node signs in there: `none`, `basic` or `bearer`.
    pub auth: String,
    pub username: Option<String>,
    pub pull: bool,
    pub push: bool,
    /// A paused peer is not synced until it is resumed.
    pub paused: bool,
    pub paused_at: Option<String>,
    pub paused_by: Option<String>,
    pub last_sync_at: Option<String>,
    /// The error of the last sync, if it failed.
    pub last_error: Option<String>,
    /// Objects pulled from it and pushed to it, in all.
    pub pulled: u64,
    pub pushed: u64,
    /// The remote `date_added` pulls continue after.
    pub pull_cursor: Option<String>,
    /// The local `date_added` (Unix microseconds) pushes continue after; 0: from the start.
    pub push_cursor: i64,
    pub policy: SharingPolicyOut,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SharingPeerList {
    pub peers: Vec<SharingPeerOut>,
}

/// What a peer would receive from this node under its present policy: every push round from the
/// start of its local collection, counted by the code a sync runs, without sending anything.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SharingPreviewOut {
    pub peer: String,
    /// The policy applied (the peer's, narrowed by the collection's own limit).
    pub policy: SharingPolicyOut,
    /// Object versions that would be sent.
    pub released: u64,
    /// Object versions kept back, by reason.
    pub withheld: std::collections::BTreeMap<String, u64>,
    /// Released versions by STIX type.
    pub by_type: std::collections::BTreeMap<String, u64>,
    /// Released versions by TLP (`no marking` for objects without one).
    pub by_tlp: std::collections::BTreeMap<String, u64>,
    /// The first released objects, as they would be sent (STIX 2.1).
    #[schema(value_type = Vec<Object>)]
    pub first: Vec<Value>,
    /// Stored versions read.
    pub scanned: u64,
    /// False when the preview stopped at its limit of versions read.
    pub complete: bool,
}
