//! Incidents in SQLite: grouping batches, incident changes and reads.

use super::SqliteStore;
use super::audit::Chain;
use crate::incidents::*;
use crate::{Result, StoreError};
use focal_model::Tlp;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Like the backend's `err`, but reusable: one context for several statements.
pub(super) fn err(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + Copy {
    move |source| StoreError::Sqlite { context, source }
}

pub(super) fn ts(micros: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_microsecond(micros).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, e.into())
    })
}

pub(super) fn now_micros() -> i64 {
    Timestamp::now().as_microsecond()
}

const OPEN_SQL: &str = "state IN ('new', 'acknowledged', 'notified', 'in_progress')";

pub(super) const INCIDENT_COLUMNS: &str = "id, group_key, constituent, classification_type, state, severity, \
    severity_override, tlp, assignee, event_count, first_event, last_event, created_at, updated_at, due_at, closed_at";

pub(super) fn incident_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: r.get(0)?,
        key: r.get(1)?,
        constituent: r.get(2)?,
        classification_type: r.get(3)?,
        state: r.get(4)?,
        severity: r.get(5)?,
        severity_override: r.get::<_, i64>(6)? != 0,
        tlp: r.get(7)?,
        assignee: r.get(8)?,
        event_count: r.get::<_, i64>(9)? as u64,
        first_event: ts(r.get(10)?)?,
        last_event: ts(r.get(11)?)?,
        created_at: ts(r.get(12)?)?,
        updated_at: ts(r.get(13)?)?,
        due_at: ts(r.get(14)?)?,
        closed_at: r.get::<_, Option<i64>>(15)?.map(ts).transpose()?,
    })
}

pub(super) fn load_incident(conn: &Connection, id: i64) -> rusqlite::Result<Option<Incident>> {
    conn.prepare_cached(&format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"
    ))?
    .query_row([id], incident_from_row)
    .optional()
}

pub(super) fn timeline(
    conn: &Connection,
    incident: i64,
    actor: &str,
    kind: &str,
    detail: &Value,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO incident_timeline (incident_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        incident,
        now_micros(),
        actor,
        kind,
        detail.to_string()
    ])?;
    Ok(())
}

fn to_json(i: &Incident) -> Value {
    serde_json::to_value(i).unwrap_or(Value::Null)
}

fn max_tlp(a: &str, b: &str) -> String {
    // Stored labels were validated on ingest; an unknown one counts as the most restrictive.
    let parse = |t: &str| t.parse::<Tlp>().unwrap_or(Tlp::Red);
    parse(a).max(parse(b)).as_str().to_string()
}

/// An incident touched by a grouping batch: what to add to its stored row.
struct Touched {
    id: i64,
    created: bool,
    added: i64,
    tlp: String,
    first: i64,
    last: i64,
}

pub(super) fn cursor(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM cursors WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

pub(super) fn set_cursor(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO cursors (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![name, value])?;
    Ok(())
}

impl IncidentStore for SqliteStore {
    fn grouping_cursor(&self) -> Result<i64> {
        cursor(&*self.reader()?, "grouping").map_err(err("reading the grouping cursor"))
    }

    fn events_for_grouping(&self, after: i64, limit: usize) -> Result<Vec<GroupingEvent>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT seq, constituent, classification_type, time_event, tlp, malware_name, source_asn
                 FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(err("reading events to group"))?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok(GroupingEvent {
                    seq: r.get(0)?,
                    constituent: r.get(1)?,
                    classification_type: r.get(2)?,
                    time_event: r.get(3)?,
                    tlp: r.get(4)?,
                    malware_name: r.get(5)?,
                    source_asn: r.get(6)?,
                })
            })
            .map_err(err("reading events to group"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("reading events to group"))
    }

    fn apply_grouping(&self, batch: &GroupingBatch, actor: &str) -> Result<GroupingOutcome> {
        let key = self.audit_key()?;
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("starting a grouping batch"))?;
        let e = err("grouping events into incidents");
        let current = cursor(&tx, "grouping").map_err(e)?;
        if current != batch.from_cursor {
            return Err(StoreError::Invalid(format!(
                "the grouping cursor is at event {current}, not {} as this batch expected: another grouping ran at the same time; run it again",
                batch.from_cursor
            )));
        }
        let now = now_micros();
        let mut touched: HashMap<&str, Touched> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        {
            let mut find = tx
                .prepare_cached(&format!(
                    "SELECT id, tlp FROM incidents WHERE group_key = ?1 AND {OPEN_SQL}"
                ))
                .map_err(e)?;
            let mut create = tx
                .prepare_cached(
                    "INSERT INTO incidents (group_key, constituent, classification_type, state, severity, tlp,
                         event_count, first_event, last_event, created_at, updated_at, due_at)
                     VALUES (?1, ?2, ?3, 'new', ?4, ?5, 0, ?6, ?6, ?7, ?7, ?8)",
                )
                .map_err(e)?;
            let mut link = tx
                .prepare_cached(
                    "INSERT INTO incident_events (event_seq, incident_id) VALUES (?1, ?2)",
                )
                .map_err(e)?;
            for a in &batch.assignments {
                let t = match touched.get_mut(a.key.as_str()) {
                    Some(t) => t,
                    None => {
                        let existing: Option<(i64, String)> = find
                            .query_row([&a.key], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()
                            .map_err(e)?;
                        let t = match existing {
                            Some((id, tlp)) => Touched {
                                id,
                                created: false,
                                added: 0,
                                tlp,
                                first: a.time_event,
                                last: a.time_event,
                            },
                            None => {
                                create
                                    .execute(params![
                                        a.key,
                                        a.constituent,
                                        a.classification_type,
                                        a.severity,
                                        a.tlp,
                                        a.time_event,
                                        now,
                                        now.saturating_add(a.sla_micros)
                                    ])
                                    .map_err(e)?;
                                Touched {
                                    id: tx.last_insert_rowid(),
                                    created: true,
                                    added: 0,
                                    tlp: a.tlp.clone(),
                                    first: a.time_event,
                                    last: a.time_event,
                                }
                            }
                        };
                        order.push(a.key.as_str());
                        touched.entry(a.key.as_str()).or_insert(t)
                    }
                };
                link.execute(params![a.seq, t.id]).map_err(e)?;
                t.added += 1;
                t.tlp = max_tlp(&t.tlp, &a.tlp);
                t.first = t.first.min(a.time_event);
                t.last = t.last.max(a.time_event);
            }
        }
        let mut outcome = GroupingOutcome {
            events_read: 0,
            events_grouped: batch.assignments.len() as u64,
            incidents_created: 0,
            incidents_extended: 0,
            cursor: batch.to_cursor,
        };
        let mut chain = Chain::load(&tx, key).map_err(e)?;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE incidents SET event_count = event_count + ?2, tlp = ?3,
                         first_event = MIN(first_event, ?4), last_event = MAX(last_event, ?5), updated_at = ?6
                     WHERE id = ?1",
                )
                .map_err(e)?;
            for key in &order {
                let Some(t) = touched.get(key) else { continue };
                update
                    .execute(params![t.id, t.added, t.tlp, t.first, t.last, now])
                    .map_err(e)?;
                if t.created {
                    outcome.incidents_created += 1;
                    let after = load_incident(&tx, t.id).map_err(e)?;
                    let after = after.as_ref().map(to_json);
                    timeline(&tx, t.id, actor, "created", &json!({"events": t.added}))
                        .map_err(e)?;
                    chain
                        .append(
                            &tx,
                            actor,
                            "incident.create",
                            &format!("incident:{}", t.id),
                            None,
                            after.as_ref(),
                        )
                        .map_err(e)?;
                } else {
                    outcome.incidents_extended += 1;
                    timeline(
                        &tx,
                        t.id,
                        actor,
                        "events_added",
                        &json!({"events": t.added}),
                    )
                    .map_err(e)?;
                }
            }
        }
        if outcome.incidents_extended > 0 {
            // Joining events to existing incidents is summarised per batch rather than per
            // incident: the incidents' timelines hold the detail.
            let extended: Vec<i64> = order
                .iter()
                .filter_map(|k| touched.get(k))
                .filter(|t| !t.created)
                .map(|t| t.id)
                .collect();
            chain
                .append(
                    &tx,
                    actor,
                    "incident.events_added",
                    "incidents",
                    None,
                    Some(&json!({
                        "events_after_seq": batch.from_cursor,
                        "events_up_to_seq": batch.to_cursor,
                        "incidents": extended,
                    })),
                )
                .map_err(e)?;
        }
        set_cursor(&tx, "grouping", batch.to_cursor).map_err(e)?;
        tx.commit().map_err(err("committing a grouping batch"))?;
        Ok(outcome)
    }

    fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let conn = self.reader()?;
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut eq = |column: &str, value: &Option<String>, sql: &mut String| {
            if let Some(v) = value {
                args.push(v.clone().into());
                sql.push_str(&format!(" AND {column} = ?{}", args.len()));
            }
        };
        eq("constituent", &filter.constituent, &mut sql);
        eq("severity", &filter.severity, &mut sql);
        eq("assignee", &filter.assignee, &mut sql);
        eq("classification_type", &filter.classification_type, &mut sql);
        if !filter.states.is_empty() {
            let mut marks = Vec::new();
            for s in &filter.states {
                args.push(s.clone().into());
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
        }
        if let Some(at) = filter.breached_at {
            args.push(at.as_microsecond().into());
            sql.push_str(&format!(" AND {OPEN_SQL} AND due_at < ?{}", args.len()));
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = filter.limit {
            args.push((limit as i64).into());
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        let mut stmt = conn.prepare(&sql).map_err(err("listing incidents"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), incident_from_row)
            .map_err(err("listing incidents"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing incidents"))
    }

    fn incident(&self, id: i64) -> Result<Option<Incident>> {
        load_incident(&*self.reader()?, id).map_err(err("reading an incident"))
    }

    fn incident_timeline(&self, id: i64) -> Result<Vec<TimelineEntry>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, at, actor, kind, detail FROM incident_timeline WHERE incident_id = ?1 ORDER BY id",
            )
            .map_err(err("reading an incident's timeline"))?;
        let rows = stmt
            .query_map([id], |r| {
                let detail: String = r.get(4)?;
                Ok(TimelineEntry {
                    id: r.get(0)?,
                    at: ts(r.get(1)?)?,
                    actor: r.get(2)?,
                    kind: r.get(3)?,
                    detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
                })
            })
            .map_err(err("reading an incident's timeline"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("reading an incident's timeline"))
    }

    fn incident_events(
        &self,
        id: i64,
        limit: Option<usize>,
        visit: &mut dyn FnMut(focal_model::Event) -> Result<()>,
    ) -> Result<()> {
        let conn = self.reader()?;
        let sql = format!(
            "{} WHERE e.seq IN (SELECT event_seq FROM incident_events WHERE incident_id = ?1) ORDER BY e.seq LIMIT ?2",
            crate::filter::EVENT_SELECT
        );
        let e = err("listing an incident's events");
        let mut stmt = conn.prepare(&sql).map_err(e)?;
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        let mut rows = stmt.query(params![id, limit]).map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            visit(super::events::event_from_row(row).map_err(e)?)?;
        }
        Ok(())
    }

    fn change_incident(&self, id: i64, change: &IncidentChange, actor: &str) -> Result<Incident> {
        let key = self.audit_key()?;
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err("starting an incident change"))?;
        let e = err("changing an incident");
        let before = load_incident(&tx, id)
            .map_err(e)?
            .ok_or_else(|| StoreError::Invalid(format!("there is no incident {id}")))?;
        let now = now_micros();
        let (action, kind, detail) = match change {
            IncidentChange::Transition { from, to, reason } => {
                if &before.state != from {
                    return Err(StoreError::Invalid(format!(
                        "incident {id} is now {}, not {from}; nothing was changed",
                        before.state
                    )));
                }
                let closes = !OPEN_STATES.contains(&to.as_str());
                tx.execute(
                    "UPDATE incidents SET state = ?2, updated_at = ?3,
                         closed_at = CASE WHEN ?4 THEN COALESCE(closed_at, ?3) ELSE NULL END
                     WHERE id = ?1",
                    params![id, to, now, closes],
                )
                .map_err(e)?;
                let mut detail = json!({"from": from, "to": to});
                if let Some(r) = reason {
                    detail["reason"] = r.clone().into();
                }
                ("incident.transition", "transition", detail)
            }
            IncidentChange::Assign { assignee } => {
                tx.execute(
                    "UPDATE incidents SET assignee = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, assignee, now],
                )
                .map_err(e)?;
                (
                    "incident.assign",
                    "assigned",
                    json!({"from": before.assignee, "to": assignee}),
                )
            }
            IncidentChange::Severity {
                severity,
                due_at,
                overridden,
            } => {
                tx.execute(
                    "UPDATE incidents SET severity = ?2, severity_override = ?3, due_at = ?4, updated_at = ?5 WHERE id = ?1",
                    params![id, severity, *overridden as i64, due_at.as_microsecond(), now],
                )
                .map_err(e)?;
                (
                    "incident.severity",
                    "severity",
                    json!({"from": before.severity, "to": severity, "due_at": due_at}),
                )
            }
            IncidentChange::Comment { text } => {
                tx.execute(
                    "UPDATE incidents SET updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )
                .map_err(e)?;
                ("incident.comment", "comment", json!({"text": text}))
            }
            IncidentChange::Reply { text } => {
                tx.execute(
                    "UPDATE incidents SET updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )
                .map_err(e)?;
                ("incident.reply", "reply", json!({"text": text}))
            }
        };
        timeline(&tx, id, actor, kind, &detail).map_err(e)?;
        let after = load_incident(&tx, id)
            .map_err(e)?
            .ok_or_else(|| StoreError::Invalid(format!("incident {id} vanished")))?;
        let (before_json, mut after_json) = (to_json(&before), to_json(&after));
        if let Value::Object(map) = &mut after_json {
            match change {
                IncidentChange::Comment { text } => {
                    map.insert("comment".into(), text.clone().into());
                }
                IncidentChange::Reply { text } => {
                    map.insert("reply".into(), text.clone().into());
                }
                IncidentChange::Transition {
                    reason: Some(r), ..
                } => {
                    map.insert("reason".into(), r.clone().into());
                }
                _ => {}
            }
        }
        Chain::load(&tx, key)
            .and_then(|mut c| {
                c.append(
                    &tx,
                    actor,
                    action,
                    &format!("incident:{id}"),
                    Some(&before_json),
                    Some(&after_json),
                )
            })
            .map_err(e)?;
        tx.commit().map_err(err("committing an incident change"))?;
        Ok(after)
    }
}
