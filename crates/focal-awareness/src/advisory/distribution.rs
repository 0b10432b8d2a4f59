//! Mailing a published advisory revision to constituents.
//!
//! **Who.** An advisory that names products goes to the constituents whose assets run one of
//! them, as a [`ProductAudience`] says (the asset inventory of the risk register, implemented
//! in the binary); an audience that cannot tell ([`Audience::Unknown`], e.g. [`NoInventory`]) means
//! every constituent, as does an advisory without products. Constituents without an abuse
//! address are listed as skipped, never silently dropped.
//!
//! **TLP.** TLP:RED is never mailed, whatever the configuration; above the configured
//! `notify.max_tlp` is refused too. Both are checked when the mail is queued and again when it
//! is sent, so a revision re-labelled in between cannot slip out.
//!
//! **Delivery.** [`plan`] decides, the store queues one message per (advisory, revision,
//! constituent) in one transaction with its audit entry (queuing again is a no-op), and
//! [`send_due`] sends them `pending → sending → sent`, retrying with backoff, over a
//! [`Mailer`] (the notification system's SMTP sender in the binary). As for event digests,
//! delivery is at least once with a stable Message-ID.

use super::csaf::{Edition, file_name, to_csaf};
use super::{Advisory, Product, Revision};
use crate::AwarenessConfig;
use crate::store::{AdvisoryOutbox, AdvisoryStore, StorageError};
use focal_model::{Constituent, Tlp};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What an inventory knows about who runs a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// It cannot tell (no inventory, or the product is not described in it): everyone.
    Unknown,
    /// Exactly these constituents (possibly none).
    Only(BTreeSet<String>),
}

/// "Which constituents run product P": the hook the asset inventory implements.
pub trait ProductAudience {
    fn constituents_running(&self, product: &Product) -> Result<Audience, String>;
}

/// No inventory: every advisory goes to every constituent.
pub struct NoInventory;

impl ProductAudience for NoInventory {
    fn constituents_running(&self, _: &Product) -> Result<Audience, String> {
        Ok(Audience::Unknown)
    }
}

/// A fixed map from (vendor, product) to constituents, compared case-insensitively; products
/// not in it are [`Audience::Unknown`]. For tests and small setups; the asset inventory is the
/// real source.
#[derive(Debug, Clone, Default)]
pub struct StaticInventory {
    runs: BTreeMap<(String, String), BTreeSet<String>>,
}

impl StaticInventory {
    pub fn add(&mut self, vendor: &str, product: &str, constituent: &str) {
        self.runs
            .entry((vendor.to_lowercase(), product.to_lowercase()))
            .or_default()
            .insert(constituent.to_string());
    }
}

impl ProductAudience for StaticInventory {
    fn constituents_running(&self, p: &Product) -> Result<Audience, String> {
        Ok(
            match self
                .runs
                .get(&(p.vendor.to_lowercase(), p.name.to_lowercase()))
            {
                Some(set) => Audience::Only(set.clone()),
                None => Audience::Unknown,
            },
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistributionError {
    #[error("advisory {0} has no published revision to send")]
    NotPublished(String),
    #[error("advisory {id} is {tlp}: TLP:RED is never sent by e-mail")]
    Red { id: String, tlp: Tlp },
    #[error("advisory {id} is {tlp}, above the highest TLP sent by e-mail ({max}, notify.max_tlp)")]
    AboveMax { id: String, tlp: Tlp, max: Tlp },
    #[error("the asset inventory could not say who runs {product}: {reason}")]
    Inventory { product: String, reason: String },
}

/// Refuses a TLP that may not be mailed.
pub fn check_mail_tlp(id: &str, tlp: Tlp, max: Tlp) -> Result<(), DistributionError> {
    if tlp == Tlp::Red {
        return Err(DistributionError::Red { id: id.into(), tlp });
    }
    if tlp > max {
        return Err(DistributionError::AboveMax {
            id: id.into(),
            tlp,
            max,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub constituent: String,
    pub address: String,
}

/// Who a revision goes to, and who was left out and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistributionPlan {
    pub advisory_id: String,
    pub revision: u32,
    pub tlp: Tlp,
    /// True when the inventory narrowed the audience to the constituents running the products.
    pub targeted: bool,
    pub recipients: Vec<Recipient>,
    pub skipped: Vec<(String, String)>,
}

/// Decides the recipients of the latest published revision.
pub fn plan(
    advisory: &Advisory,
    constituents: &[Constituent],
    audience: &dyn ProductAudience,
    max_tlp: Tlp,
) -> Result<DistributionPlan, DistributionError> {
    let revision = advisory
        .published()
        .ok_or_else(|| DistributionError::NotPublished(advisory.id.clone()))?;
    check_mail_tlp(&advisory.id, revision.content.tlp, max_tlp)?;
    let mut wanted: Option<BTreeSet<String>> = Some(BTreeSet::new());
    if revision.content.products.is_empty() {
        wanted = None;
    }
    for p in &revision.content.products {
        match audience.constituents_running(p) {
            Ok(Audience::Unknown) => wanted = None,
            Ok(Audience::Only(set)) => {
                if let Some(w) = &mut wanted {
                    w.extend(set);
                }
            }
            Err(reason) => {
                return Err(DistributionError::Inventory {
                    product: p.full_name(),
                    reason,
                });
            }
        }
    }
    let mut recipients = Vec::new();
    let mut skipped = Vec::new();
    for c in constituents {
        if wanted.as_ref().is_some_and(|w| !w.contains(&c.id)) {
            continue;
        }
        if c.abuse_email.trim().is_empty() {
            skipped.push((c.id.clone(), "no abuse address".into()));
        } else {
            recipients.push(Recipient {
                constituent: c.id.clone(),
                address: c.abuse_email.clone(),
            });
        }
    }
    Ok(DistributionPlan {
        advisory_id: advisory.id.clone(),
        revision: revision.number,
        tlp: revision.content.tlp,
        targeted: wanted.is_some(),
        recipients,
        skipped,
    })
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedMail {
    pub advisory_id: String,
    pub revision: u32,
    pub constituent: String,
    pub recipient: String,
    pub message_id: String,
}

/// The messages a plan queues. Message-IDs are derived from advisory, revision and constituent,
/// so a message sent twice (after a crash) is recognisably the same message.
pub fn queue_for(plan: &DistributionPlan, message_id_domain: &str) -> Vec<QueuedMail> {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    plan.recipients
        .iter()
        .map(|r| QueuedMail {
            advisory_id: plan.advisory_id.clone(),
            revision: plan.revision,
            constituent: r.constituent.clone(),
            recipient: r.address.clone(),
            message_id: format!(
                "<advisory.{}.r{}.{}@{}>",
                clean(&plan.advisory_id),
                plan.revision,
                clean(&r.constituent),
                clean(message_id_domain)
            ),
        })
        .collect()
}

/// A queued message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdvisoryMail {
    pub id: i64,
    pub advisory_id: String,
    pub revision: u32,
    pub constituent: String,
    pub recipient: String,
    pub message_id: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// The SMTP server's answer when it was sent.
    pub answer: Option<String>,
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    Sending,
    Sent(String),
    Retry { detail: String, at: Timestamp },
    Failed(String),
}

/// One attachment of an e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub file_name: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// An e-mail ready for a [`Mailer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
}

/// Why a send failed; `permanent` failures are not retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFailure {
    pub message: String,
    pub permanent: bool,
}

/// Sends one e-mail; returns the server's answer.
pub trait Mailer {
    fn send(&self, mail: &OutgoingMail) -> Result<String, MailFailure>;
}

/// The e-mail of revision `number` of an advisory: a text body and the CSAF document attached.
pub fn render_mail(
    advisory: &Advisory,
    revision: &Revision,
    recipient: &str,
    message_id: &str,
    config: &AwarenessConfig,
) -> OutgoingMail {
    let c = &revision.content;
    let mut text = format!(
        "{tlp}\n\n{publisher} security advisory {id}, revision {n} ({date})\n\n{title}\n\n{summary}\n",
        tlp = c.tlp.label(),
        publisher = config.publisher,
        id = advisory.id,
        n = revision.number,
        date = revision.date.strftime("%Y-%m-%d"),
        title = c.title,
        summary = c.summary,
    );
    if revision.number > 1 {
        text.push_str(&format!("\nWhat changed: {}\n", revision.summary));
    }
    if !c.products.is_empty() {
        text.push_str("\nAffected products:\n");
        for p in &c.products {
            text.push_str(&format!("  - {}\n", p.full_name()));
        }
    }
    if !c.cves.is_empty() {
        text.push_str(&format!("\nCVE: {}\n", c.cves.join(", ")));
    }
    if let Some(v) = &c.cvss
        && let Ok(s) = super::cvss_score(v)
    {
        text.push_str(&format!(
            "CVSS v{} {} ({}): {v}\n",
            s.version, s.score, s.severity
        ));
    }
    if let Some(r) = &c.remediation {
        text.push_str(&format!("\nRemediation:\n{r}\n"));
    }
    if !c.references.is_empty() {
        text.push_str("\nReferences:\n");
        for r in &c.references {
            text.push_str(&format!("  - {} {}\n", r.summary, r.url));
        }
    }
    text.push_str(&format!(
        "\nThis message is {}: see https://www.first.org/tlp/ for who may receive it.\nThe advisory as CSAF 2.0 is attached.\n",
        c.tlp.label()
    ));
    let mut at_revision = advisory.clone();
    at_revision.revisions.truncate(revision.number as usize);
    let csaf = to_csaf(&at_revision, Edition::Published, config, revision.date)
        .map(|doc| serde_json::to_vec_pretty(&doc).unwrap_or_default())
        .unwrap_or_default();
    OutgoingMail {
        to: recipient.to_string(),
        subject: format!(
            "[{}] {}: {} (revision {})",
            c.tlp.label(),
            advisory.id,
            c.title,
            revision.number
        ),
        message_id: message_id.to_string(),
        text,
        attachments: vec![Attachment {
            file_name: file_name(&advisory.id),
            content_type: "application/json".into(),
            body: csaf,
        }],
    }
}

/// How [`send_due`] retries.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    pub max_tlp: Tlp,
    pub max_attempts: u32,
    pub retry_base_seconds: u64,
    /// At most this many messages (0: all due).
    pub limit: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SendReport {
    pub sent: u64,
    pub retry: u64,
    pub failed: u64,
    pub attempts: Vec<SendAttempt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendAttempt {
    pub mail_id: i64,
    pub advisory_id: String,
    pub revision: u32,
    pub constituent: String,
    pub outcome: String,
    pub detail: String,
}

/// Sends every due advisory message, recording each outcome as it happens.
pub fn send_due<S: AdvisoryStore + AdvisoryOutbox + ?Sized>(
    store: &S,
    mailer: &dyn Mailer,
    policy: &SendPolicy,
    config: &AwarenessConfig,
) -> Result<SendReport, StorageError> {
    let limit = if policy.limit == 0 {
        100_000
    } else {
        policy.limit
    };
    let mut report = SendReport::default();
    let mut advisories: BTreeMap<String, Advisory> = BTreeMap::new();
    for mail in store.advisory_mail_due(Timestamp::now(), limit)? {
        if !advisories.contains_key(&mail.advisory_id) {
            let a = store.advisory(&mail.advisory_id)?;
            advisories.insert(mail.advisory_id.clone(), a);
        }
        let advisory = &advisories[&mail.advisory_id];
        let mut record = |outcome: &str, detail: String| {
            report.attempts.push(SendAttempt {
                mail_id: mail.id,
                advisory_id: mail.advisory_id.clone(),
                revision: mail.revision,
                constituent: mail.constituent.clone(),
                outcome: outcome.into(),
                detail,
            })
        };
        let revision = advisory
            .revisions
            .iter()
            .find(|r| r.number == mail.revision);
        let refusal = match revision {
            None => Some(format!(
                "revision {} of {} does not exist",
                mail.revision, mail.advisory_id
            )),
            Some(r) => check_mail_tlp(&advisory.id, r.content.tlp, policy.max_tlp)
                .err()
                .map(|e| e.to_string()),
        };
        let Some(revision) = revision.filter(|_| refusal.is_none()) else {
            let detail = refusal.unwrap_or_default();
            store.advisory_mail_mark(mail.id, &MailOutcome::Failed(detail.clone()))?;
            report.failed += 1;
            record("failed", detail);
            continue;
        };
        store.advisory_mail_mark(mail.id, &MailOutcome::Sending)?;
        let email = render_mail(
            advisory,
            revision,
            &mail.recipient,
            &mail.message_id,
            config,
        );
        match mailer.send(&email) {
            Ok(answer) => {
                store.advisory_mail_mark(mail.id, &MailOutcome::Sent(answer.clone()))?;
                report.sent += 1;
                record("sent", answer);
            }
            Err(f) => {
                let attempts = mail.attempts + 1;
                let detail = format!("attempt {attempts}: {}", f.message);
                if f.permanent || attempts >= policy.max_attempts {
                    store.advisory_mail_mark(mail.id, &MailOutcome::Failed(detail.clone()))?;
                    report.failed += 1;
                    record("failed", detail);
                } else {
                    let wait = policy
                        .retry_base_seconds
                        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
                        .min(7 * 24 * 3600);
                    let at = Timestamp::now()
                        .checked_add(SignedDuration::from_secs(wait as i64))
                        .unwrap_or_else(|_| Timestamp::now());
                    store.advisory_mail_mark(
                        mail.id,
                        &MailOutcome::Retry {
                            detail: detail.clone(),
                            at,
                        },
                    )?;
                    report.retry += 1;
                    record("retry", detail);
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::tests::content;

    fn constituent(id: &str, email: &str) -> Constituent {
        Constituent {
            id: id.into(),
            name: id.into(),
            abuse_email: email.into(),
            asns: vec![],
            netblocks: vec![],
            domains: vec![],
            language: None,
            also_notify: Vec::new(),
        }
    }

    fn published(tlp: Tlp) -> Advisory {
        let now = "2026-11-01T10:00:00Z".parse().unwrap();
        let mut a = Advisory::create("FOCAL-2026-0001", content(tlp), "alice", now).unwrap();
        a.submit("alice", now).unwrap();
        a.publish("bob", now).unwrap();
        a
    }

    #[test]
    fn the_inventory_narrows_the_audience_and_without_it_everyone_gets_it() {
        let all = vec![
            constituent("org-1", "a@one.example"),
            constituent("org-2", "b@two.example"),
            constituent("org-3", ""),
        ];
        let a = published(Tlp::Amber);
        let everyone = plan(&a, &all, &NoInventory, Tlp::Amber).unwrap();
        assert!(!everyone.targeted);
        assert_eq!(everyone.recipients.len(), 2);
        assert_eq!(
            everyone.skipped,
            vec![("org-3".into(), "no abuse address".into())]
        );

        let mut inventory = StaticInventory::default();
        inventory.add("acme", "ROUTER", "org-2");
        let targeted = plan(&a, &all, &inventory, Tlp::Amber).unwrap();
        assert!(targeted.targeted);
        assert_eq!(
            targeted.recipients,
            vec![Recipient {
                constituent: "org-2".into(),
                address: "b@two.example".into()
            }]
        );
    }

    #[test]
    fn red_is_never_mailed_and_the_configured_maximum_holds() {
        let all = vec![constituent("org-1", "a@one.example")];
        assert!(matches!(
            plan(&published(Tlp::Red), &all, &NoInventory, Tlp::Red),
            Err(DistributionError::Red { .. })
        ));
        assert!(matches!(
            plan(&published(Tlp::Amber), &all, &NoInventory, Tlp::Green),
            Err(DistributionError::AboveMax { .. })
        ));
    }
}
