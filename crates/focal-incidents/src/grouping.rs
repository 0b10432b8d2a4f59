//! Grouping events into incidents.
//!
//! Works through the events after the store's grouping cursor in batches. The rules decide each
//! event's key; the store commits the batch's incidents, links and the cursor in one transaction,
//! so a process killed at any point resumes from the last batch with nothing grouped twice.

use crate::config::{GroupField, IncidentsConfig, Window};
use focal_model::ClassificationType;
use focal_store::incidents::{
    GroupAssignment, GroupingBatch, GroupingEvent, GroupingOutcome, IncidentStore,
};
use jiff::Timestamp;

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Events read per transaction.
pub const DEFAULT_BATCH: usize = 50_000;

impl IncidentsConfig {
    /// The incident key of an event, or `None` if it has no constituent (nobody to tell: such
    /// events stay visible with `focal events --unassigned`).
    pub fn key(&self, e: &GroupingEvent) -> Option<String> {
        let constituent = e.constituent.as_deref()?;
        let mut key = constituent.to_string();
        for field in &self.group_by {
            key.push('|');
            match field {
                GroupField::ClassificationType => key.push_str(&e.classification_type),
                GroupField::ClassificationTaxonomy => key.push_str(
                    e.classification_type
                        .parse::<ClassificationType>()
                        .map(|t| t.taxonomy().as_str())
                        .unwrap_or("other"),
                ),
                GroupField::MalwareName => key.push_str(e.malware_name.as_deref().unwrap_or("")),
                GroupField::SourceAsn => {
                    if let Some(asn) = e.source_asn {
                        key.push_str(&format!("AS{asn}"));
                    }
                }
            }
        }
        let day = |micros: i64| {
            Timestamp::from_microsecond(micros)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_else(|_| micros.to_string())
        };
        let t = e.time_event;
        match self.window {
            Window::None => {}
            Window::Day => {
                key.push('|');
                key.push_str(&day(t.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY));
            }
            Window::Hour => {
                let start = t.div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR;
                key.push('|');
                key.push_str(&day(start));
                key.push_str(&format!(
                    "T{:02}",
                    start.rem_euclid(MICROS_PER_DAY) / MICROS_PER_HOUR
                ));
            }
            Window::Week => {
                // 1970-01-01 was a Thursday: shift by three days so weeks start on Monday.
                let days = t.div_euclid(MICROS_PER_DAY) + 3;
                let monday = (days.div_euclid(7) * 7 - 3) * MICROS_PER_DAY;
                key.push_str("|week of ");
                key.push_str(&day(monday));
            }
        }
        Some(key)
    }

    fn assign(&self, e: &GroupingEvent) -> Option<GroupAssignment> {
        let key = self.key(e)?;
        let severity = self.severity_for(&e.classification_type);
        Some(GroupAssignment {
            seq: e.seq,
            key,
            constituent: e.constituent.clone()?,
            classification_type: e.classification_type.clone(),
            time_event: e.time_event,
            tlp: e.tlp.clone(),
            severity: severity.as_str().to_string(),
            sla_micros: i64::from(self.sla_hours.for_severity(severity)) * MICROS_PER_HOUR,
        })
    }
}

/// Groups every event stored after the cursor, `batch` events per transaction.
pub fn group_pending<S: IncidentStore + ?Sized>(
    store: &S,
    rules: &IncidentsConfig,
    actor: &str,
    batch: usize,
) -> crate::Result<GroupingOutcome> {
    let mut total = GroupingOutcome {
        cursor: store.grouping_cursor()?,
        ..Default::default()
    };
    loop {
        let events = store.events_for_grouping(total.cursor, batch.max(1))?;
        let Some(last) = events.last() else {
            return Ok(total);
        };
        let work = GroupingBatch {
            from_cursor: total.cursor,
            to_cursor: last.seq,
            assignments: events.iter().filter_map(|e| rules.assign(e)).collect(),
        };
        let mut outcome = store.apply_grouping(&work, actor)?;
        outcome.events_read = events.len() as u64;
        total += outcome;
        tracing::info!(
            cursor = total.cursor,
            events = total.events_read,
            "Grouped a batch of events."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(constituent: Option<&str>, t: &str, time: &str) -> GroupingEvent {
        GroupingEvent {
            seq: 1,
            constituent: constituent.map(Into::into),
            classification_type: t.into(),
            time_event: time.parse::<Timestamp>().unwrap().as_microsecond(),
            tlp: "AMBER".into(),
            malware_name: Some("mirai".into()),
            source_asn: Some(64500),
        }
    }

    #[test]
    fn default_key_is_constituent_type_and_utc_day() {
        let rules = IncidentsConfig::default();
        let k = |c, t, time| rules.key(&event(c, t, time));
        assert_eq!(
            k(Some("org-1"), "scanner", "2026-11-24T23:59:59Z").as_deref(),
            Some("org-1|scanner|2026-11-24")
        );
        assert_ne!(
            k(Some("org-1"), "scanner", "2026-11-24T23:59:59Z"),
            k(Some("org-1"), "scanner", "2026-11-25T00:00:00Z")
        );
        assert_ne!(
            k(Some("org-1"), "scanner", "2026-11-24T10:00:00Z"),
            k(Some("org-1"), "spam", "2026-11-24T10:00:00Z")
        );
        assert_eq!(k(None, "scanner", "2026-11-24T10:00:00Z"), None);
    }

    #[test]
    fn other_windows_and_fields() {
        let rules: IncidentsConfig = toml::from_str(
            "group_by = [\"classification.taxonomy\", \"source.asn\"]\nwindow = \"week\"\n",
        )
        .unwrap();
        // Wednesday 2026-11-25 is in the week starting Monday 2026-11-23.
        let e = event(Some("o"), "c2-server", "2026-11-25T12:00:00Z");
        assert_eq!(
            rules.key(&e).unwrap(),
            "o|malicious-code|AS64500|week of 2026-11-23"
        );
        let sunday = event(Some("o"), "c2-server", "2026-11-29T23:00:00Z");
        assert_eq!(rules.key(&e), rules.key(&sunday));
        let hourly: IncidentsConfig = toml::from_str("window = \"hour\"").unwrap();
        assert_eq!(hourly.key(&e).unwrap(), "o|c2-server|2026-11-25T12");
    }
}
