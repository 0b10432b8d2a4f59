//! The notification outbox in SQLite.

use super::SqliteStore;
use super::audit::Chain;
use super::incidents::err;
use super::incidents::{now_micros, timeline, ts};
use crate::incidents::*;
use crate::{Result, StoreError};
use jiff::Timestamp;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde_json::json;

const COLUMNS: &str = "id, constituent, recipient, after_seq, last_seq, range_events, message_id, state, \
    attempts, next_attempt_at, created_at, sent_at, last_error";

fn message_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxMessage> {
    Ok(OutboxMessage {
        id: Some(r.get(0)?),
        constituent: r.get(1)?,
        recipient: r.get(2)?,
        after_seq: r.get(3)?,
        last_seq: r.get(4)?,
        range_events: r.get::<_, i64>(5)? as u64,
        message_id: r.get(6)?,
        state: r.get(7)?,
        attempts: r.get::<_, i64>(8)? as u32,
        next_attempt_at: ts(r.get(9)?)?,
        created_at: ts(r.get(10)?)?,
        sent_at: r.get::<_, Option<i64>>(11)?.map(ts).transpose()?,
        last_error: r.get(12)?,
    })
}

/// A Message-ID that depends only on the constituent and the event range, so a message sent
/// again after a crash carries the same id and receivers can recognise the repeat.
fn message_id(constituent: &str, after: i64, last: i64, domain: &str) -> String {
    let safe: String = constituent
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '.'
            }
        })
        .collect();
    format!("<focal.{safe}.{after}-{last}@{domain}>")
}

fn record(
    conn: &rusqlite::Connection,
    outbox_id: i64,
    constituent: &str,
    outcome: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO deliveries (outbox_id, constituent, at, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![outbox_id, constituent, now_micros(), outcome, detail])?;
    Ok(())
}

impl Outbox for SqliteStore {
    fn claim_notifications(&self, o: &ClaimOptions) -> Result<ClaimSummary> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("starting a notification claim"))?;
        let e = err("claiming events for notification");
        let per_message = o.max_events_per_message.max(1);
        let now = o.now.as_microsecond();
        let mut summary = ClaimSummary::default();
        {
            let mut constituents = tx
                .prepare("SELECT id, abuse_email FROM constituents ORDER BY id")
                .map_err(e)?;
            let list = constituents
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(e)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(e)?;
            let mut cursor = tx
                .prepare_cached("SELECT last_seq FROM notify_cursors WHERE constituent = ?1")
                .map_err(e)?;
            let mut seqs = tx
                .prepare_cached(
                    "SELECT seq FROM events INDEXED BY events_by_constituent
                     WHERE constituent = ?1 AND seq > ?2 ORDER BY seq",
                )
                .map_err(e)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO outbox (constituent, recipient, after_seq, last_seq, range_events, message_id,
                         state, attempts, next_attempt_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7)",
                )
                .map_err(e)?;
            let mut save = tx
                .prepare_cached(
                    "INSERT INTO notify_cursors (constituent, last_seq) VALUES (?1, ?2)
                     ON CONFLICT(constituent) DO UPDATE SET last_seq = excluded.last_seq",
                )
                .map_err(e)?;
            for (id, email) in list {
                let after: i64 = cursor
                    .query_row([&id], |r| r.get(0))
                    .optional()
                    .map_err(e)?
                    .unwrap_or(0);
                let new: Vec<i64> = seqs
                    .query_map(params![id, after], |r| r.get(0))
                    .map_err(e)?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(e)?;
                if new.is_empty() {
                    continue;
                }
                if email.trim().is_empty() {
                    summary.no_address.push((id, new.len() as u64));
                    continue;
                }
                let mut from = after;
                for chunk in new.chunks(per_message) {
                    let last = chunk[chunk.len() - 1];
                    let mid = message_id(&id, from, last, &o.message_id_domain);
                    let row_id = if o.commit {
                        insert
                            .execute(params![id, email, from, last, chunk.len() as i64, mid, now])
                            .map_err(e)?;
                        Some(tx.last_insert_rowid())
                    } else {
                        None
                    };
                    summary.messages.push(OutboxMessage {
                        id: row_id,
                        constituent: id.clone(),
                        recipient: email.clone(),
                        after_seq: from,
                        last_seq: last,
                        range_events: chunk.len() as u64,
                        message_id: mid,
                        state: "pending".into(),
                        attempts: 0,
                        next_attempt_at: o.now,
                        created_at: o.now,
                        sent_at: None,
                        last_error: None,
                    });
                    from = last;
                }
                save.execute(params![id, from]).map_err(e)?;
            }
        }
        if o.commit {
            tx.commit()
                .map_err(err("committing a notification claim"))?;
        } else {
            tx.rollback()
                .map_err(err("discarding a notification preview"))?;
        }
        Ok(summary)
    }

    fn outbox_due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxMessage>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM outbox
                 WHERE state = 'sending' OR (state = 'pending' AND next_attempt_at <= ?1)
                 ORDER BY id LIMIT ?2"
            ))
            .map_err(err("reading the outbox"))?;
        let rows = stmt
            .query_map(
                params![now.as_microsecond(), limit as i64],
                message_from_row,
            )
            .map_err(err("reading the outbox"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("reading the outbox"))
    }

    fn outbox_list(&self, state: Option<&str>, limit: Option<usize>) -> Result<Vec<OutboxMessage>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE (?1 IS NULL OR state = ?1) ORDER BY id LIMIT ?2"
            ))
            .map_err(err("reading the outbox"))?;
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        let rows = stmt
            .query_map(params![state, limit], message_from_row)
            .map_err(err("reading the outbox"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("reading the outbox"))
    }

    fn outbox_mark_sending(&self, id: i64) -> Result<()> {
        let conn = self.writer();
        let n = conn
            .execute(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1
                 WHERE id = ?1 AND state IN ('pending', 'sending')",
                [id],
            )
            .map_err(err("marking a message as being sent"))?;
        if n == 0 {
            return Err(StoreError::Invalid(format!(
                "outbox message {id} is not pending (another sender took it?)"
            )));
        }
        Ok(())
    }

    fn outbox_mark_sent(&self, id: i64, detail: &str, actor: &str) -> Result<u64> {
        let key = self.audit_key()?;
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("starting to record a delivery"))?;
        let e = err("recording a delivery");
        let (constituent, after, last, message_id): (String, i64, i64, String) = tx
            .query_row(
                "SELECT constituent, after_seq, last_seq, message_id FROM outbox WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(e)?;
        let now = now_micros();
        tx.execute(
            "UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, now],
        )
        .map_err(e)?;
        record(&tx, id, &constituent, "sent", detail).map_err(e)?;
        // Incidents this message told the constituent about are now `notified`; those already
        // further along keep their state.
        let incidents: Vec<(i64, String)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT DISTINCT i.id, i.state FROM incidents AS i
                     JOIN incident_events AS ie ON ie.incident_id = i.id
                     WHERE i.constituent = ?1 AND ie.event_seq > ?2 AND ie.event_seq <= ?3
                       AND i.state IN ('new', 'acknowledged')",
                )
                .map_err(e)?;
            stmt.query_map(params![constituent, after, last], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(e)?
            .collect::<rusqlite::Result<_>>()
            .map_err(e)?
        };
        let mut chain = Chain::load(&tx, key).map_err(e)?;
        for (incident, state) in &incidents {
            tx.execute(
                "UPDATE incidents SET state = 'notified', updated_at = ?2 WHERE id = ?1",
                params![incident, now],
            )
            .map_err(e)?;
            let detail = json!({"from": state, "to": "notified", "message_id": message_id});
            timeline(&tx, *incident, actor, "notified", &detail).map_err(e)?;
            chain
                .append(
                    &tx,
                    actor,
                    "incident.transition",
                    &format!("incident:{incident}"),
                    Some(&json!({"state": state})),
                    Some(&detail),
                )
                .map_err(e)?;
        }
        tx.commit().map_err(err("committing a delivery"))?;
        Ok(incidents.len() as u64)
    }

    fn outbox_mark_failed(&self, id: i64, detail: &str, retry_at: Option<Timestamp>) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("starting to record a failed delivery"))?;
        let e = err("recording a failed delivery");
        let constituent: String = tx
            .query_row("SELECT constituent FROM outbox WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(e)?;
        match retry_at {
            Some(at) => tx.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, at.as_microsecond(), detail],
            ),
            None => tx.execute(
                "UPDATE outbox SET state = 'failed', last_error = ?2 WHERE id = ?1",
                params![id, detail],
            ),
        }
        .map_err(e)?;
        let outcome = if retry_at.is_some() {
            "retry"
        } else {
            "failed"
        };
        record(&tx, id, &constituent, outcome, detail).map_err(e)?;
        tx.commit().map_err(err("committing a failed delivery"))?;
        Ok(())
    }

    fn sent_since(&self, constituent: &str, since: Timestamp) -> Result<u64> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE constituent = ?1 AND at >= ?2 AND outcome = 'sent'",
            params![constituent, since.as_microsecond()],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
        .map_err(err("counting deliveries"))
    }

    fn outbox_events(
        &self,
        messages: &[OutboxMessage],
        visit: &mut dyn FnMut(usize, focal_model::Event) -> Result<()>,
    ) -> Result<()> {
        // Its own connection: the memory map below must not stay on a pooled one.
        let conn = self.dedicated()?;
        let e = err("reading a message's events");
        // A constituent's events are scattered over the table, so this is a random read of many
        // pages; mapping the file saves copying each page out of the OS cache (measured in
        // BENCHMARKS.md). Reads only: writes still go through the normal path.
        conn.execute_batch("PRAGMA mmap_size = 17179869184")
            .map_err(e)?;
        let mut stmt = conn
            .prepare(&format!(
                "{} WHERE e.constituent = ?1 AND e.seq > ?2 AND e.seq <= ?3 ORDER BY e.seq",
                crate::filter::EVENT_SELECT
            ))
            .map_err(e)?;
        for (i, m) in messages.iter().enumerate() {
            let mut rows = stmt
                .query(params![m.constituent, m.after_seq, m.last_seq])
                .map_err(e)?;
            while let Some(row) = rows.next().map_err(e)? {
                visit(i, super::events::event_from_row(row).map_err(e)?)?;
            }
        }
        Ok(())
    }

    fn deliveries(&self, limit: Option<usize>) -> Result<Vec<Delivery>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, outbox_id, constituent, at, outcome, detail FROM deliveries ORDER BY id LIMIT ?1",
            )
            .map_err(err("listing deliveries"))?;
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        let rows = stmt
            .query_map([limit], |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    outbox_id: r.get(1)?,
                    constituent: r.get(2)?,
                    at: ts(r.get(3)?)?,
                    outcome: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(err("listing deliveries"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing deliveries"))
    }
}
