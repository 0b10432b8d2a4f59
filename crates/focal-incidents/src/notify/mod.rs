//! Constituent notification: claim new events into the outbox, render digests, send them.
//!
//! **Delivery guarantee.** Claiming is exactly-once: each constituent's events move into outbox
//! messages in one transaction with its cursor, so an event belongs to exactly one message and
//! none is skipped. Sending is a state machine per message, each step its own commit:
//! `pending → sending → sent` (or back to `pending` with a retry time, or `failed`). A sender
//! killed between the SMTP server accepting a message and the `sent` commit leaves the message
//! in `sending`; the next run sends it again, with the same Message-ID (derived from the
//! constituent and the event range), because no SMTP exchange can ask the server whether it
//! already has it. So delivery is at-least-once, and the only possible repeat is a byte-identical
//! message with a Message-ID the recipient has already seen (mail systems and ticket trackers
//! drop those); the window for it is the instant between the server's `250` and the commit.
//! Killed anywhere else (before the final `.` of DATA, between messages, while pausing), nothing
//! is repeated and nothing lost. See docs/ARCHITECTURE.md, "Notifications".

pub mod render;

use crate::NotifyConfig;
use focal_model::{Constituent, Event};
use focal_store::incidents::{ClaimOptions, ClaimSummary, OutboxMessage};
use focal_store::{Store, incidents::Outbox};
use jiff::{SignedDuration, Timestamp};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{Message, SmtpTransport, Transport};
use render::{Digest, Templates};
use std::collections::HashMap;
use std::time::Duration;

/// Claims every constituent's new events into outbox messages (or, with `commit = false`,
/// computes what would be claimed and changes nothing).
pub fn claim<S: Outbox + ?Sized>(
    store: &S,
    cfg: &NotifyConfig,
    commit: bool,
) -> crate::Result<ClaimSummary> {
    Ok(store.claim_notifications(&ClaimOptions {
        max_events_per_message: cfg.max_events_per_message,
        message_id_domain: cfg.message_id_domain.clone(),
        now: Timestamp::now(),
        commit,
    })?)
}

/// The events an outbox message covers, in seq order.
pub fn message_events<S: Outbox + ?Sized>(
    store: &S,
    msg: &OutboxMessage,
) -> crate::Result<Vec<Event>> {
    let mut events = Vec::with_capacity(msg.range_events.min(1 << 20) as usize);
    store.outbox_events(std::slice::from_ref(msg), &mut |_, e| {
        events.push(e);
        Ok(())
    })?;
    Ok(events)
}

/// A message as it would go out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub message: OutboxMessage,
    pub digest: Digest,
}

fn constituents<S: Store + ?Sized>(store: &S) -> crate::Result<HashMap<String, Constituent>> {
    Ok(store
        .constituents()?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect())
}

fn digest_for(
    templates: &Templates,
    cfg: &NotifyConfig,
    constituents: &HashMap<String, Constituent>,
    msg: &OutboxMessage,
    events: &[Event],
) -> crate::Result<Digest> {
    let constituent = constituents.get(&msg.constituent).ok_or_else(|| {
        crate::Error::Invalid(format!(
            "outbox message for unknown constituent {:?}",
            msg.constituent
        ))
    })?;
    render::render(
        templates,
        &cfg.organisation,
        cfg.max_tlp,
        constituent,
        &msg.message_id,
        events,
    )
}

/// What `focal notify --dry-run` shows: messages already waiting in the outbox, then those
/// the next claim would create, each rendered and handed to `visit` (one at a time, so memory
/// stays bounded by one message). Nothing is written.
pub fn preview<S: Store + Outbox + ?Sized>(
    store: &S,
    cfg: &NotifyConfig,
    visit: &mut dyn FnMut(Preview) -> crate::Result<()>,
) -> crate::Result<ClaimSummary> {
    let templates = Templates::load(cfg.templates.as_deref())?;
    let constituents = constituents(store)?;
    let mut waiting = store.outbox_list(Some("pending"), None)?;
    waiting.extend(store.outbox_list(Some("sending"), None)?);
    let summary = claim(store, cfg, false)?;
    let messages: Vec<OutboxMessage> = waiting
        .into_iter()
        .chain(summary.messages.iter().cloned())
        .collect();
    // One pass over the store for all messages. Events arrive message by message, so a message
    // is rendered as soon as an event of a later one arrives; memory holds one message's events.
    let mut next = 0usize;
    let mut events: Vec<Event> = Vec::new();
    let mut render = |i: usize, events: &mut Vec<Event>| -> crate::Result<()> {
        let message = messages[i].clone();
        let digest = digest_for(&templates, cfg, &constituents, &message, events)?;
        events.clear();
        visit(Preview { message, digest })
    };
    let mut failure: Option<crate::Error> = None;
    store
        .outbox_events(&messages, &mut |i, e| {
            while next < i {
                if let Err(err) = render(next, &mut events) {
                    failure = Some(err);
                    return Err(focal_store::StoreError::Invalid("rendering stopped".into()));
                }
                next += 1;
            }
            events.push(e);
            Ok(())
        })
        .map_err(|e| failure.take().unwrap_or(crate::Error::Store(e)))?;
    while next < messages.len() {
        render(next, &mut events)?;
        next += 1;
    }
    Ok(summary)
}

/// Exactly one addr-spec, as the constituent rules require: parsed as a mailbox, a value
/// stored before those rules (`Evil <evil@evil.example>`, `a@x,b@y`) would be sent to an
/// address other than the one shown. `what` names the address in the error.
fn mailbox(constituent: &str, what: &str, address: &str) -> crate::Result<Mailbox> {
    focal_model::constituent::addr_spec_problem(address)
        .map_or_else(
            || {
                address
                    .parse::<lettre::Address>()
                    .map_err(|e| e.to_string())
            },
            |why| Err(format!("it {why}")),
        )
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| {
            crate::Error::Invalid(format!(
                "constituent {constituent}: {what} {address:?} is not usable: {e}"
            ))
        })
}

/// Builds the e-mail for a digest: to the abuse address the message was queued for, with the
/// constituent's `also_notify` addresses in copy (Cc), every one checked again here.
pub fn build_message(
    from: &Mailbox,
    msg: &OutboxMessage,
    also_notify: &[String],
    digest: &Digest,
) -> crate::Result<Message> {
    let to = mailbox(&msg.constituent, "abuse address", &msg.recipient)?;
    let mut builder = Message::builder().from(from.clone()).to(to);
    for (i, address) in also_notify.iter().enumerate() {
        let what = format!("also_notify entry {}", i + 1);
        builder = builder.cc(mailbox(&msg.constituent, &what, address)?);
    }
    let csv_type = ContentType::parse("text/csv; charset=utf-8")
        .map_err(|e| crate::Error::Invalid(e.to_string()))?;
    let json_type = ContentType::parse("application/x-ndjson")
        .map_err(|e| crate::Error::Invalid(e.to_string()))?;
    builder
        .subject(&digest.subject)
        .message_id(Some(msg.message_id.clone()))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(digest.body.clone()))
                .singlepart(Attachment::new("events.csv".into()).body(digest.csv.clone(), csv_type))
                .singlepart(
                    Attachment::new("events-intelmq.jsonl".into())
                        .body(digest.intelmq.clone(), json_type),
                ),
        )
        .map_err(|e| crate::Error::Invalid(format!("building the message: {e}")))
}

/// What one `send_due` run did to one message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub outbox_id: i64,
    pub constituent: String,
    pub recipient: String,
    pub events: usize,
    /// `sent`, `retry`, `failed` or `rate_limited`.
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SendReport {
    pub sent: u64,
    pub retry: u64,
    pub failed: u64,
    pub rate_limited: u64,
    pub incidents_notified: u64,
    pub attempts: Vec<Attempt>,
}

/// How a run sends.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// At most this many messages (0: all that are due).
    pub limit: usize,
    /// Waits this long after each message (pacing for a slow relay).
    pub pause: Duration,
}

fn transport(cfg: &NotifyConfig) -> crate::Result<SmtpTransport> {
    let (host, port) = cfg.smtp.rsplit_once(':').ok_or_else(|| {
        crate::Error::Invalid(format!(
            "notify.smtp {:?} must be host:port, e.g. 127.0.0.1:25",
            cfg.smtp
        ))
    })?;
    let port: u16 = port.parse().map_err(|_| {
        crate::Error::Invalid(format!(
            "notify.smtp {:?}: {port:?} is not a port",
            cfg.smtp
        ))
    })?;
    // Plain SMTP to the configured relay: Focal hands mail to the CSIRT's own MTA, which does
    // TLS, DKIM and onward delivery.
    Ok(
        SmtpTransport::builder_dangerous(host.trim_matches(['[', ']']))
            .port(port)
            .timeout(Some(Duration::from_secs(cfg.timeout_seconds.max(1))))
            .build(),
    )
}

/// Sends the outbox messages that are due, each in the `pending → sending → sent` sequence,
/// recording every outcome.
pub fn send_due<S: Store + Outbox + ?Sized>(
    store: &S,
    cfg: &NotifyConfig,
    actor: &str,
    options: &SendOptions,
) -> crate::Result<SendReport> {
    let templates = Templates::load(cfg.templates.as_deref())?;
    let constituents = constituents(store)?;
    let from: Mailbox = cfg.from.parse().map_err(|e| {
        crate::Error::Invalid(format!("notify.from {:?} is not an address: {e}", cfg.from))
    })?;
    let smtp = transport(cfg)?;
    let limit = if options.limit == 0 {
        usize::MAX
    } else {
        options.limit
    };
    let mut report = SendReport::default();
    for msg in store.outbox_due(Timestamp::now(), limit.min(i64::MAX as usize))? {
        let Some(id) = msg.id else { continue };
        let attempt = |outcome: &str, detail: String, events: usize| Attempt {
            outbox_id: id,
            constituent: msg.constituent.clone(),
            recipient: msg.recipient.clone(),
            events,
            outcome: outcome.into(),
            detail,
        };
        if cfg.max_messages_per_hour > 0 {
            let hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
            if store.sent_since(&msg.constituent, hour_ago)? >= u64::from(cfg.max_messages_per_hour)
            {
                report.rate_limited += 1;
                report.attempts.push(attempt(
                    "rate_limited",
                    format!(
                        "{} messages in the last hour already; it waits",
                        cfg.max_messages_per_hour
                    ),
                    0,
                ));
                continue;
            }
        }
        store.outbox_mark_sending(id)?;
        let events = message_events(store, &msg)?;
        let prepared = digest_for(&templates, cfg, &constituents, &msg, &events).and_then(|d| {
            // The copies go to the addresses the constituent has now (like its template).
            let also = constituents
                .get(&msg.constituent)
                .map_or(&[][..], |c| c.also_notify.as_slice());
            Ok((build_message(&from, &msg, also, &d)?, d.events))
        });
        let (email, count) = match prepared {
            Ok(p) => p,
            Err(e) => {
                // Nothing a retry could fix (bad address, unknown constituent).
                let detail = e.to_string();
                store.outbox_mark_failed(id, &detail, None)?;
                report.failed += 1;
                report.attempts.push(attempt("failed", detail, 0));
                continue;
            }
        };
        match smtp.send(&email) {
            Ok(response) => {
                let detail = format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                );
                report.incidents_notified += store.outbox_mark_sent(id, &detail, actor)?;
                report.sent += 1;
                report.attempts.push(attempt("sent", detail, count));
            }
            Err(e) => {
                let attempts = msg.attempts + 1;
                let detail = format!("attempt {attempts}: {e}");
                if e.is_permanent() || attempts >= cfg.max_attempts {
                    store.outbox_mark_failed(id, &detail, None)?;
                    report.failed += 1;
                    report.attempts.push(attempt("failed", detail, count));
                } else {
                    // Capped at a week, so a huge configured base cannot overflow the time.
                    let wait = cfg
                        .retry_base_seconds
                        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
                        .min(7 * 24 * 3600);
                    let at = Timestamp::now()
                        .checked_add(SignedDuration::from_secs(wait as i64))
                        .unwrap_or_else(|_| Timestamp::now());
                    store.outbox_mark_failed(id, &detail, Some(at))?;
                    report.retry += 1;
                    report.attempts.push(attempt("retry", detail, count));
                }
            }
        }
        if !options.pause.is_zero() {
            std::thread::sleep(options.pause);
        }
    }
    Ok(report)
}

/// A plain SMTP sender over the `[notify]` relay, for messages other than event digests (the
/// advisories of `focal-awareness` go out through it): one text part and attachments.
pub struct Sender {
    smtp: SmtpTransport,
    from: Mailbox,
}

/// Why a [`Sender::send`] failed; `permanent` failures are not worth retrying.
#[derive(Debug, Clone)]
pub struct SendFailure {
    pub message: String,
    pub permanent: bool,
}

impl Sender {
    pub fn new(cfg: &NotifyConfig) -> crate::Result<Sender> {
        let from: Mailbox = cfg.from.parse().map_err(|e| {
            crate::Error::Invalid(format!("notify.from {:?} is not an address: {e}", cfg.from))
        })?;
        Ok(Sender {
            smtp: transport(cfg)?,
            from,
        })
    }

    /// Sends one message; returns the server's answer (`250 ...`).
    pub fn send(
        &self,
        to: &str,
        subject: &str,
        message_id: &str,
        text: &str,
        attachments: &[(String, String, Vec<u8>)],
    ) -> Result<String, SendFailure> {
        let permanent = |message: String| SendFailure {
            message,
            permanent: true,
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| permanent(format!("{to:?} is not a usable address: {e}")))?;
        let mut body = MultiPart::mixed().singlepart(SinglePart::plain(text.to_string()));
        for (name, content_type, bytes) in attachments {
            let ct = ContentType::parse(content_type)
                .map_err(|e| permanent(format!("content type {content_type:?}: {e}")))?;
            body = body.singlepart(Attachment::new(name.clone()).body(bytes.clone(), ct));
        }
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.to_string()))
            .multipart(body)
            .map_err(|e| permanent(format!("building the message: {e}")))?;
        match self.smtp.send(&message) {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(e) => Err(SendFailure {
                message: e.to_string(),
                permanent: e.is_permanent(),
            }),
        }
    }
}
