//! The `[incidents]` and `[notify]` sections of `focal.toml`. Every setting has a default, so a
//! configuration file without them keeps working.

use crate::Severity;
use focal_model::{ClassificationType, Tlp};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What, besides the constituent, makes two events part of the same incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GroupField {
    #[serde(rename = "classification.type")]
    ClassificationType,
    #[serde(rename = "classification.taxonomy")]
    ClassificationTaxonomy,
    #[serde(rename = "malware.name")]
    MalwareName,
    #[serde(rename = "source.asn")]
    SourceAsn,
}

/// The time window an incident covers, on the event's time (`time.source`, else
/// `time.observation`), in UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Hour,
    #[default]
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// No window: one open incident per key until it is resolved.
    None,
}

/// Hours from an incident's creation to its SLA due time, per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaHours {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
}

impl Default for SlaHours {
    fn default() -> Self {
        SlaHours {
            critical: 4,
            high: 24,
            medium: 72,
            low: 168,
        }
    }
}

impl SlaHours {
    pub fn for_severity(&self, s: Severity) -> u32 {
        match s {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
        }
    }
}

fn default_group_by() -> Vec<GroupField> {
    vec![GroupField::ClassificationType]
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsConfig {
    /// Fields that, with the constituent and the window, form an incident's key.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<GroupField>,
    #[serde(default)]
    pub window: Window,
    /// Severity per `classification.type`, overriding the taxonomy's default.
    #[serde(default)]
    pub severity: BTreeMap<ClassificationType, Severity>,
    #[serde(default)]
    pub sla_hours: SlaHours,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            group_by: default_group_by(),
            window: Window::default(),
            severity: BTreeMap::new(),
            sla_hours: SlaHours::default(),
        }
    }
}

impl IncidentsConfig {
    /// The severity of a new incident of this type. A stored type Focal does not know (it
    /// cannot happen for events ingested by Focal) counts as medium.
    pub fn severity_for(&self, type_: &str) -> Severity {
        match type_.parse::<ClassificationType>() {
            Ok(t) => self
                .severity
                .get(&t)
                .copied()
                .unwrap_or_else(|| Severity::for_type(t)),
            Err(_) => Severity::Medium,
        }
    }
}

fn default_smtp() -> String {
    "127.0.0.1:25".into()
}
fn default_from() -> String {
    "Focal CSIRT <csirt@localhost>".into()
}
fn default_organisation() -> String {
    "the Focal CSIRT".into()
}
fn default_max_events() -> usize {
    5000
}
fn default_per_hour() -> u32 {
    10
}
fn default_attempts() -> u32 {
    5
}
fn default_retry() -> u64 {
    60
}
fn default_timeout() -> u64 {
    30
}
fn default_max_tlp() -> Tlp {
    Tlp::AmberStrict
}
fn default_domain() -> String {
    "focal.invalid".into()
}

fn default_reassessment_days() -> u32 {
    30
}

/// How notifications are sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The SMTP relay, `host:port`. Plain SMTP: a local relay (the MTA that signs and forwards
    /// the CSIRT's mail) is expected.
    #[serde(default = "default_smtp")]
    pub smtp: String,
    /// The sender, e.g. `CSIRT <cert@example.org>`.
    #[serde(default = "default_from")]
    pub from: String,
    /// The sender's name as written in the message body.
    #[serde(default = "default_organisation")]
    pub organisation: String,
    /// A constituent with more new events gets several messages.
    #[serde(default = "default_max_events")]
    pub max_events_per_message: usize,
    /// At most this many messages per constituent per hour (0: no limit); the rest wait.
    #[serde(default = "default_per_hour")]
    pub max_messages_per_hour: u32,
    /// Attempts before a message is given up as failed.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// The first retry waits this long, each later one twice as long as the one before.
    #[serde(default = "default_retry")]
    pub retry_base_seconds: u64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Events above this TLP are not sent by e-mail; the message says how many were held back.
    #[serde(default = "default_max_tlp")]
    pub max_tlp: Tlp,
    /// A folder of `digest.<language>.txt` templates that replace the built-in ones.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// The domain of generated Message-IDs.
    #[serde(default = "default_domain")]
    pub message_id_domain: String,
    /// Where reassessment reminders go. Unset: to the abuse address of the constituent an
    /// assessment's subject is; a subject that is no constituent then gets none.
    #[serde(default)]
    pub reassessment_to: Option<String>,
    /// A reminder is queued this many days before a reassessment is due (or once overdue).
    #[serde(default = "default_reassessment_days")]
    pub reassessment_days: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        // One source of defaults: the serde ones.
        toml::from_str("").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = IncidentsConfig::default();
        assert_eq!(c.severity_for("system-compromise"), Severity::Critical);
        assert_eq!(c.severity_for("infected-system"), Severity::High);
        assert_eq!(c.severity_for("scanner"), Severity::Low);
        let c: IncidentsConfig =
            toml::from_str("window = \"hour\"\n[severity]\nscanner = \"high\"\n").unwrap();
        assert_eq!(c.severity_for("scanner"), Severity::High);
        assert_eq!(c.window, Window::Hour);
        assert!(toml::from_str::<IncidentsConfig>("[severity]\nnope = \"high\"\n").is_err());
        let n = NotifyConfig::default();
        assert_eq!(n.max_tlp, Tlp::AmberStrict);
        assert_eq!(n.max_events_per_message, 5000);
    }
}
