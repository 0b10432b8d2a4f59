//! Reassessment reminders (issue 16): when the latest completed assessment of a subject and
//! framework is due within `[notify] reassessment_days` (or overdue), one reminder per due date is
//! queued in the store (`assessment_reminders`, idempotent by its UNIQUE key) and sent through the
//! `[notify]` SMTP relay, as `focal notify` and the notification worker of `focal serve` do with
//! digests. A failed send is retried at the next round up to `max_attempts`.

use anyhow::Result;
use focal_assessment::assessment::reminder_message_id;
use focal_assessment::ops;
use focal_assessment::store::Storage;
use focal_incidents::config::NotifyConfig;
use serde::Serialize;

#[derive(Debug, Default, Clone, Serialize)]
pub struct ReminderReport {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub retry: u64,
    /// Due assessments with nobody to remind (no configured address, no constituent address).
    pub no_recipient: Vec<i64>,
}

/// Queues the reminders now due, then sends every pending one.
pub fn remind(
    store: &dyn focal_store::Store,
    cfg: &NotifyConfig,
    actor: &str,
) -> Result<ReminderReport> {
    let s = store.assessment();
    let s: &dyn Storage = &*s;
    let mut report = ReminderReport::default();
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let horizon =
        today.checked_add(jiff::Span::new().days(i64::from(cfg.reassessment_days.min(3660))))?;
    let due = ops::due(s, today, horizon)?;
    if !due.is_empty() {
        let constituents = store.constituents()?;
        for d in &due {
            let h = &d.assessment;
            let recipient = cfg
                .reassessment_to
                .clone()
                .filter(|a| !a.trim().is_empty())
                .or_else(|| {
                    let c = h.subject.constituent.as_deref()?;
                    constituents
                        .iter()
                        .find(|x| x.id == c)
                        .map(|x| x.abuse_email.clone())
                        .filter(|a| !a.is_empty())
                });
            let Some(recipient) = recipient else {
                report.no_recipient.push(h.id);
                continue;
            };
            let id = reminder_message_id(h.id, d.due, &cfg.message_id_domain);
            if s.queue_reminder(h.id, d.due, &recipient, &id, actor)? {
                report.queued += 1;
            }
        }
    }
    let pending = s.reminders(Some("pending"))?;
    if pending.is_empty() {
        return Ok(report);
    }
    let sender = focal_incidents::notify::Sender::new(cfg)?;
    for r in pending {
        let h = s.assessment(r.assessment)?.header;
        let late = r.due < today;
        let subject = format!(
            "Reassessment {}: {} against {}",
            if late { "overdue" } else { "due" },
            h.subject.name,
            h.framework_id
        );
        let text = format!(
            "Hello,\n\nthe self-assessment of {} against {} {} (assessment {}, completed {}) is due for reassessment on {}{}.\n\nStart the next one from a copy of it:\n\n    focal assess new --framework {} --subject \"{}\"\n\nor open /assessments/{} in Focal.\n\n-- \n{}\n",
            h.subject.name,
            h.framework_id,
            h.framework_version,
            h.id,
            h.completed_at.map(|t| t.to_string()).unwrap_or_default(),
            r.due,
            if late { " (overdue)" } else { "" },
            h.framework_id,
            h.subject.name,
            h.id,
            cfg.organisation
        );
        match sender.send(&r.recipient, &subject, &r.message_id, &text, &[]) {
            Ok(answer) => {
                s.mark_reminder(r.id, Ok(&answer), actor)?;
                report.sent += 1;
            }
            Err(f) => {
                let give_up = f.permanent || r.attempts + 1 >= cfg.max_attempts;
                s.mark_reminder(r.id, Err((&f.message, give_up)), actor)?;
                if give_up {
                    report.failed += 1;
                } else {
                    report.retry += 1;
                }
            }
        }
    }
    Ok(report)
}
