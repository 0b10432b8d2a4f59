//! [`WebStore`] on SQLite: scoped, paged reads.

use super::incidents::{INCIDENT_COLUMNS, err, incident_from_row};
use super::{RUN_COLUMNS, SqliteStore, run_from_row};
use crate::filter::{Param, Where};
use crate::incidents::{Incident, IncidentFilter};
use crate::web::*;
use crate::{EventFilter, QuarantineRecord, Result, RunRecord};
use focal_model::{Event, Tlp};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params};

fn constituent_row(r: &Row<'_>) -> rusqlite::Result<ConstituentRow> {
    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    Ok(ConstituentRow {
        id: r.get(0)?,
        name: r.get(1)?,
        abuse_email: r.get(2)?,
        asns: serde_json::from_str(&json(3)?).map_err(|e| bad(3, e))?,
        netblocks: serde_json::from_str(&json(4)?).map_err(|e| bad(4, e))?,
        domains: serde_json::from_str(&json(5)?).map_err(|e| bad(5, e))?,
        language: r.get(6)?,
        also_notify: serde_json::from_str(&json(7)?).map_err(|e| bad(7, e))?,
    })
}

/// `YYYY-MM-DD` of a day number since the Unix epoch.
fn day_text(day: i64) -> String {
    jiff::Timestamp::from_second(day.saturating_mul(86_400))
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| day.to_string())
}

const CONSTITUENT_COLUMNS: &str =
    "id, name, abuse_email, asns, netblocks, domains, language, also_notify";

fn counts(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Value],
    context: &'static str,
) -> Result<Counts> {
    let mut stmt = conn.prepare(sql).map_err(err(context))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })
        .map_err(err(context))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(err(context))
}

/// The conditions of a scope on `events AS e`: a constituent reads its own events, never
/// TLP:RED.
fn event_scope(scope: &Scope) -> impl Fn(&mut Where) + use<> {
    let org = scope.organisation().map(str::to_string);
    move |w: &mut Where| {
        if let Some(org) = &org {
            w.and("e.constituent = ?", vec![Param::Text(org.clone())]);
            // TLP:RED is for the node's own analysts: it never leaves, not even to the
            // organisation the event is about (AMBER+STRICT is meant for exactly that one).
            w.and(
                "e.tlp != ?",
                vec![Param::Text(Tlp::Red.as_str().to_string())],
            );
        }
    }
}

impl WebStore for SqliteStore {
    fn events_page(&self, filter: &EventFilter, scope: &Scope) -> Result<Vec<(i64, Event)>> {
        let scoped = event_scope(scope);
        super::search::page(&*self.reader()?, filter, &scoped)
    }

    fn events_count(&self, filter: &EventFilter, scope: &Scope) -> Result<u64> {
        let conn = self.reader()?;
        // Staff reading all events, or those of one type or constituent (the page's usual
        // questions): the dashboard rollup has counted every event up to its cursor once, by
        // type, so its sums and a count of the events after the cursor are exact and need no
        // scan of the table. (A constituent's own view leaves TLP:RED out, which the rollup
        // does not know, so it is counted from the events.)
        let rollup_answers = *scope == Scope::All
            && !filter.unassigned
            && filter.network.is_none()
            && filter.asn.is_none()
            && filter.country.is_none()
            && filter.feed.is_none()
            && filter.since.is_none()
            && filter.until.is_none();
        if rollup_answers {
            let e = err("counting events");
            // One read transaction: the cursor and the sums are of the same moment.
            let tx = conn.unchecked_transaction().map_err(e)?;
            let cursor = super::incidents::cursor(&tx, "web_rollup").map_err(e)?;
            let rolled: i64 = tx
                .query_row(
                    "SELECT COALESCE(SUM(events), 0) FROM event_rollup WHERE dim = 'type' \
                     AND (?1 IS NULL OR value = ?1) AND (?2 IS NULL OR constituent = ?2)",
                    params![filter.classification_type, filter.constituent],
                    |r| r.get(0),
                )
                .map_err(e)?;
            let mut rest = filter.clone();
            rest.after_seq = Some(cursor);
            rest.before_seq = None;
            let mut w = Where::new(crate::filter::Placeholder::Question);
            crate::filter::event_conditions(&rest, &mut w);
            let newer: i64 = tx
                .query_row(
                    &format!("SELECT COUNT(*) FROM events AS e{}", w.sql),
                    rusqlite::params_from_iter(super::events::bound(w.args)),
                    |r| r.get(0),
                )
                .map_err(e)?;
            return Ok((rolled.max(0) + newer.max(0)) as u64);
        }
        let scoped = event_scope(scope);
        super::search::count(&conn, filter, &scoped)
    }

    fn event_in(&self, seq: i64, scope: &Scope) -> Result<Option<EventDetail>> {
        let conn = self.reader()?;
        let mut w = Where::new(crate::filter::Placeholder::Question);
        w.and("e.seq = ?", vec![Param::Int(seq)]);
        event_scope(scope)(&mut w);
        let e = err("reading an event");
        let found = conn
            .query_row(
                &format!("{}{}", crate::filter::EVENT_SELECT_WITH_RUN, w.sql),
                rusqlite::params_from_iter(super::events::bound(w.args)),
                |r| {
                    Ok((
                        super::events::event_from_row(r)?,
                        r.get::<_, i64>("run_id")?,
                    ))
                },
            )
            .optional()
            .map_err(e)?;
        let Some((event, run_id)) = found else {
            return Ok(None);
        };
        let run = conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                params![run_id],
                run_from_row,
            )
            .map_err(err("reading an event's run"))?;
        let org = scope.organisation().map(str::to_string);
        let mut stmt = conn
            .prepare(
                "SELECT ie.incident_id FROM incident_events AS ie JOIN incidents AS i ON i.id = ie.incident_id \
                 WHERE ie.event_seq = ?1 AND (?2 IS NULL OR i.constituent = ?2) ORDER BY ie.incident_id",
            )
            .map_err(err("reading an event's incidents"))?;
        let incidents = stmt
            .query_map(params![seq, org], |r| r.get::<_, i64>(0))
            .map_err(err("reading an event's incidents"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("reading an event's incidents"))?;
        Ok(Some(EventDetail {
            seq,
            event,
            run,
            incidents,
        }))
    }

    fn incidents_page(
        &self,
        filter: &IncidentFilter,
        scope: &Scope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Incident>> {
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id > ?1");
        let mut args: Vec<Value> = vec![after.into()];
        let mut eq = |column: &str, value: Option<&str>, sql: &mut String| {
            if let Some(v) = value {
                args.push(v.to_string().into());
                sql.push_str(&format!(" AND {column} = ?{}", args.len()));
            }
        };
        eq("constituent", scope.organisation(), &mut sql);
        eq("constituent", filter.constituent.as_deref(), &mut sql);
        eq("severity", filter.severity.as_deref(), &mut sql);
        eq("assignee", filter.assignee.as_deref(), &mut sql);
        eq(
            "classification_type",
            filter.classification_type.as_deref(),
            &mut sql,
        );
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
            sql.push_str(&format!(
                " AND state IN ('new', 'acknowledged', 'notified', 'in_progress') AND due_at < ?{}",
                args.len()
            ));
        }
        args.push((limit as i64).into());
        sql.push_str(&format!(" ORDER BY id LIMIT ?{}", args.len()));
        let conn = self.reader()?;
        let mut stmt = conn.prepare(&sql).map_err(err("listing incidents"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), incident_from_row)
            .map_err(err("listing incidents"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing incidents"))
    }

    fn incident_in(&self, id: i64, scope: &Scope) -> Result<Option<Incident>> {
        self.reader()?
            .query_row(
                &format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1 AND (?2 IS NULL OR constituent = ?2)"
                ),
                params![id, scope.organisation()],
                incident_from_row,
            )
            .optional()
            .map_err(err("reading an incident"))
    }

    fn constituents_page(
        &self,
        scope: &Scope,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ConstituentRow>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {CONSTITUENT_COLUMNS} FROM constituents WHERE id > ?1 AND (?2 IS NULL OR id = ?2) ORDER BY id LIMIT ?3"
            ))
            .map_err(err("listing constituents"))?;
        let rows = stmt
            .query_map(
                params![after, scope.organisation(), limit as i64],
                constituent_row,
            )
            .map_err(err("listing constituents"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing constituents"))
    }

    fn constituent_in(&self, id: &str, scope: &Scope) -> Result<Option<ConstituentRow>> {
        self.reader()?
            .query_row(
                &format!(
                    "SELECT {CONSTITUENT_COLUMNS} FROM constituents WHERE id = ?1 AND (?2 IS NULL OR id = ?2)"
                ),
                params![id, scope.organisation()],
                constituent_row,
            )
            .optional()
            .map_err(err("reading a constituent"))
    }

    fn notification_history(
        &self,
        constituent: &str,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<crate::incidents::Delivery>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, outbox_id, constituent, at, outcome, detail FROM deliveries \
                 WHERE constituent = ?1 AND (?2 IS NULL OR constituent = ?2) ORDER BY id DESC LIMIT ?3",
            )
            .map_err(err("listing deliveries"))?;
        let rows = stmt
            .query_map(
                params![constituent, scope.organisation(), limit as i64],
                |r| {
                    Ok(crate::incidents::Delivery {
                        id: r.get(0)?,
                        outbox_id: r.get(1)?,
                        constituent: r.get(2)?,
                        at: super::incidents::ts(r.get(3)?)?,
                        outcome: r.get(4)?,
                        detail: r.get(5)?,
                    })
                },
            )
            .map_err(err("listing deliveries"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing deliveries"))
    }

    fn runs_page(&self, before: i64, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(err("listing runs"))?;
        let rows = stmt
            .query_map(params![before, limit as i64], run_from_row)
            .map_err(err("listing runs"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing runs"))
    }

    fn latest_runs(&self) -> Result<Vec<RunRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE id IN (SELECT MAX(id) FROM runs GROUP BY feed) ORDER BY feed"
            ))
            .map_err(err("reading the last runs"))?;
        let rows = stmt
            .query_map([], run_from_row)
            .map_err(err("reading the last runs"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("reading the last runs"))
    }

    fn quarantine_page(
        &self,
        feed: Option<&str>,
        before: i64,
        limit: usize,
    ) -> Result<Vec<QuarantineRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, run_id, feed, file_name, line, kind, field, reason, raw, quarantined_at FROM quarantine \
                 WHERE (?1 = 0 OR id < ?1) AND (?2 IS NULL OR feed = ?2) ORDER BY id DESC LIMIT ?3",
            )
            .map_err(err("listing the quarantine"))?;
        let rows = stmt
            .query_map(
                params![before, feed, limit as i64],
                super::quarantine_from_row,
            )
            .map_err(err("listing the quarantine"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing the quarantine"))
    }

    fn refresh_rollup(&self, wait_ms: u32) -> Result<bool> {
        self.refresh_rollup_in_batches(wait_ms, ROLLUP_BATCH)
    }

    fn dashboard(&self, scope: &Scope, since_us: i64, now_us: i64) -> Result<Dashboard> {
        // Brought up to date unless an ingest holds the write lock: then the counts are those
        // of the last refresh rather than a page that waits for the ingest.
        self.refresh_rollup(200)?;
        let conn = self.reader()?;
        let org: Value = scope
            .organisation()
            .map(|o| Value::Text(o.to_string()))
            .unwrap_or(Value::Null);
        let since_day = since_us.div_euclid(86_400_000_000);
        let window =
            "FROM event_rollup WHERE dim = ?1 AND day >= ?2 AND (?3 IS NULL OR constituent = ?3)";
        let args = |dim: &str| {
            [
                Value::Text(dim.into()),
                Value::Integer(since_day),
                org.clone(),
            ]
        };
        let mut stmt = conn
            .prepare(&format!(
                "SELECT day, value, SUM(events) {window} GROUP BY day, value ORDER BY day, value"
            ))
            .map_err(err("counting events per day"))?;
        let per_day = stmt
            .query_map(rusqlite::params_from_iter(&args("type")), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(err("counting events per day"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("counting events per day"))?
            .into_iter()
            .map(|(day, t, n)| (day_text(day), t, n))
            .collect();
        let top = |dim: &str, column: &str| {
            counts(
                &conn,
                &format!(
                    "SELECT {column}, SUM(events) AS n {window} AND {column} != '' \
                     GROUP BY {column} ORDER BY n DESC, 1 LIMIT 10"
                ),
                &args(dim),
                "counting top values",
            )
        };
        let top_asns = top("asn", "value")?;
        let top_countries = top("cc", "value")?;
        let top_constituents = top("type", "constituent")?;
        let names = |sql: &str, keys: &Counts, context: &'static str| {
            let mut stmt = conn.prepare(sql).map_err(err(context))?;
            let mut found = std::collections::BTreeMap::new();
            for (k, _) in keys {
                if let Some(name) = stmt
                    .query_row([k], |r| r.get::<_, String>(0))
                    .optional()
                    .map_err(err(context))?
                {
                    found.insert(k.clone(), name);
                }
            }
            Ok::<_, crate::StoreError>(found)
        };
        let asn_names = names(
            "SELECT name FROM as_names WHERE asn = CAST(?1 AS INTEGER) AND name != ''",
            &top_asns,
            "reading the names of the top ASNs",
        )?;
        let constituent_names = names(
            "SELECT name FROM constituents WHERE id = ?1 AND name != ''",
            &top_constituents,
            "reading the names of the top constituents",
        )?;
        let incidents_by_state = counts(
            &conn,
            "SELECT state, COUNT(*) AS n FROM incidents WHERE ?1 IS NULL OR constituent = ?1 GROUP BY state ORDER BY n DESC, state",
            std::slice::from_ref(&org),
            "counting incidents",
        )?;
        let sla_breaches = conn
            .query_row(
                "SELECT COUNT(*) FROM incidents WHERE (?1 IS NULL OR constituent = ?1) \
                 AND state IN ('new', 'acknowledged', 'notified', 'in_progress') AND due_at < ?2",
                params![org, now_us],
                |r| r.get::<_, i64>(0),
            )
            .map_err(err("counting SLA breaches"))? as u64;
        Ok(Dashboard {
            per_day,
            top_asns,
            top_countries,
            top_constituents,
            asn_names,
            constituent_names,
            incidents_by_state,
            sla_breaches,
        })
    }

    fn counters(&self) -> Result<Counters> {
        let conn = self.reader()?;
        let e = err("reading counters");
        let (runs, rows_read, events_stored, duplicates, quarantined) = conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(events_stored), 0), \
                 COALESCE(SUM(duplicates), 0), COALESCE(SUM(quarantined), 0) FROM runs",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                        r.get::<_, i64>(3)? as u64,
                        r.get::<_, i64>(4)? as u64,
                    ))
                },
            )
            .map_err(e)?;
        let count = |sql: &str| -> Result<u64> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(e)
        };
        Ok(Counters {
            runs,
            rows_read,
            events_stored,
            duplicates,
            quarantined,
            outbox_pending: count(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')",
            )?,
            deliveries_sent: count("SELECT COUNT(*) FROM deliveries WHERE outcome = 'sent'")?,
            deliveries_retry: count("SELECT COUNT(*) FROM deliveries WHERE outcome = 'retry'")?,
            deliveries_failed: count("SELECT COUNT(*) FROM deliveries WHERE outcome = 'failed'")?,
            queues: QueueDepths {
                runs_running: count("SELECT COUNT(*) FROM runs WHERE status = 'running'")?,
                // MAX(seq) is the rowid's last entry and each cursor one row: no scans.
                events_ungrouped: count(
                    "SELECT MAX(0, COALESCE((SELECT MAX(seq) FROM events), 0) \
                     - COALESCE((SELECT value FROM cursors WHERE name = 'grouping'), 0))",
                )?,
                events_not_in_rollup: count(
                    "SELECT MAX(0, COALESCE((SELECT MAX(seq) FROM events), 0) \
                     - COALESCE((SELECT value FROM cursors WHERE name = 'web_rollup'), 0))",
                )?,
                events_not_indexed: count(
                    "SELECT MAX(0, COALESCE((SELECT MAX(seq) FROM events), 0) \
                     - COALESCE((SELECT value FROM cursors WHERE name = 'search'), 0))",
                )?,
                incidents_open: count(
                    "SELECT COUNT(*) FROM incidents \
                     WHERE state IN ('new', 'acknowledged', 'notified', 'in_progress')",
                )?,
                incidents_breached: conn
                    .query_row(
                        "SELECT COUNT(*) FROM incidents \
                         WHERE state IN ('new', 'acknowledged', 'notified', 'in_progress') AND due_at < ?1",
                        [jiff::Timestamp::now().as_microsecond()],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_err(e)? as u64,
            },
        })
    }
}

/// Events folded into the dashboard rollup per write transaction. After a large ingest the
/// catch-up is many short transactions rather than one long one, so logins, transitions and
/// other writers wait at most one batch (well under a second) instead of the whole scan.
const ROLLUP_BATCH: i64 = 200_000;
const ROLLUP_PAUSE: std::time::Duration = std::time::Duration::from_millis(150);

impl SqliteStore {
    fn refresh_rollup_in_batches(&self, wait_ms: u32, batch: i64) -> Result<bool> {
        // Its own connection: it writes with a busy timeout of its own.
        let mut conn = self.dedicated()?;
        // Most page views find nothing new: a read answers that without taking the write lock.
        let newest_seen: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(err("reading the newest event"))?;
        if super::incidents::cursor(&conn, "web_rollup").map_err(err("reading a cursor"))?
            >= newest_seen
        {
            return Ok(true);
        }
        conn.busy_timeout(std::time::Duration::from_millis(wait_ms as u64))
            .map_err(err("setting the lock wait"))?;
        loop {
            // IMMEDIATE takes the write lock before reading the newest seq, so no uncommitted
            // event can later appear below the cursor.
            let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            {
                Ok(tx) => tx,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(err("starting the rollup")(e)),
            };
            let e = err("updating the dashboard rollup");
            let cursor = super::incidents::cursor(&tx, "web_rollup").map_err(e)?;
            let newest_all: i64 = tx
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
                .map_err(e)?;
            let newest = newest_all.min(cursor.saturating_add(batch.max(1)));
            if newest > cursor {
                for (dim, column) in [
                    ("type", "classification_type"),
                    ("asn", "CAST(source_asn AS TEXT)"),
                    ("cc", "source_cc"),
                ] {
                    tx.execute(
                        &format!(
                            "INSERT INTO event_rollup (dim, day, constituent, value, events) \
                             SELECT ?1, time_event / 86400000000, COALESCE(constituent, ''), {column}, COUNT(*) \
                             FROM events WHERE seq > ?2 AND seq <= ?3 AND {column} IS NOT NULL GROUP BY 2, 3, 4 \
                             ON CONFLICT (dim, day, constituent, value) DO UPDATE SET events = events + excluded.events"
                        ),
                        params![dim, cursor, newest],
                    )
                    .map_err(e)?;
                }
                tx.execute(
                    "INSERT INTO cursors (name, value) VALUES ('web_rollup', ?1) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    [newest],
                )
                .map_err(e)?;
            }
            tx.commit().map_err(e)?;
            if newest >= newest_all {
                return Ok(true);
            }
            // SQLite's lock is not fair: a writer waiting in its busy handler polls with sleeps
            // of up to 100 ms, and would never find the lock free if the next batch took it at
            // once. Pausing longer than that lets logins and transitions in between batches.
            std::thread::sleep(ROLLUP_PAUSE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_constituent_never_sees_tlp_red_events() {
        let (_d, s) = store();
        {
            let conn = s.writer();
            conn.execute(
                "INSERT INTO runs (id, feed, file_name, sha256, size, status, started_at, observed) \
                 VALUES (1, 'f', 'f.csv', 'x', 0, 'done', 'now', 0)",
                [],
            )
            .unwrap();
            for (i, tlp) in [(1i64, "GREEN"), (2, "AMBER+STRICT"), (3, "RED")] {
                conn.execute(
                    "INSERT INTO events (seq, id, run_id, time_event, classification_type, tlp, constituent) \
                     VALUES (?1, ?2, 1, 0, 'scanner', ?3, 'org-a')",
                    params![i, i128::from(i).to_be_bytes().to_vec(), tlp],
                )
                .unwrap();
            }
        }
        let seqs = |scope: &Scope| -> Vec<i64> {
            s.events_page(&EventFilter::default(), scope)
                .unwrap()
                .into_iter()
                .map(|(seq, _)| seq)
                .collect()
        };
        assert_eq!(seqs(&Scope::All), vec![1, 2, 3], "analysts see everything");
        assert_eq!(
            seqs(&Scope::Organisation("org-a".into())),
            vec![1, 2],
            "the constituent sees its own events, AMBER+STRICT included, RED never"
        );
        // Its count and an event's page hold to the same scope.
        let org_a = Scope::Organisation("org-a".into());
        let all = EventFilter::default();
        assert_eq!(s.events_count(&all, &Scope::All).unwrap(), 3);
        assert_eq!(s.events_count(&all, &org_a).unwrap(), 2);
        let detail = s.event_in(2, &org_a).unwrap().expect("its own event");
        assert_eq!((detail.seq, detail.run.id), (2, 1));
        assert!(s.event_in(3, &org_a).unwrap().is_none(), "RED: never");
        assert!(s.event_in(3, &Scope::All).unwrap().is_some());
        assert!(
            s.event_in(1, &Scope::Organisation("org-b".into()))
                .unwrap()
                .is_none(),
            "another organisation's event"
        );
    }

    #[test]
    fn newest_first_pages_and_counts_agree_with_the_plain_order_indexed_or_not() {
        let (_d, s) = store();
        let add = |from: i64, to: i64| {
            let conn = s.writer();
            conn.execute(
                "INSERT OR IGNORE INTO runs (id, feed, file_name, sha256, size, status, started_at, observed) \
                 VALUES (1, 'f', 'f.csv', 'x', 0, 'done', 'now', 0)",
                [],
            )
            .unwrap();
            for i in from..=to {
                let t = if i % 3 == 0 { "phishing" } else { "scanner" };
                conn.execute(
                    "INSERT INTO events (seq, id, run_id, time_event, source_asn, classification_type, tlp, constituent) \
                     VALUES (?1, ?2, 1, ?1, 64500, ?3, 'GREEN', ?4)",
                    params![i, i128::from(i).to_be_bytes().to_vec(), t, if i % 2 == 0 { "org-a" } else { "org-b" }],
                )
                .unwrap();
            }
        };
        // 20 events indexed and in the dashboard rollup, 7 more not yet: both parts of a page
        // and of a count are exercised.
        add(1, 20);
        assert!(s.index_events(1000, 1000).unwrap());
        assert!(s.refresh_rollup(1000).unwrap());
        add(21, 27);
        let filters = [
            EventFilter::default(),
            EventFilter {
                classification_type: Some("scanner".into()),
                ..EventFilter::default()
            },
            EventFilter {
                asn: Some(64500),
                classification_type: Some("phishing".into()),
                ..EventFilter::default()
            },
            EventFilter {
                constituent: Some("org-b".into()),
                classification_type: Some("scanner".into()),
                ..EventFilter::default()
            },
            EventFilter {
                constituent: Some("org-a".into()),
                ..EventFilter::default()
            },
        ];
        for scope in [Scope::All, Scope::Organisation("org-a".into())] {
            for f in &filters {
                let mut everything = f.clone();
                everything.limit = Some(1000);
                let oldest: Vec<i64> = s
                    .events_page(&everything, &scope)
                    .unwrap()
                    .into_iter()
                    .map(|(seq, _)| seq)
                    .collect();
                assert!(oldest.windows(2).all(|w| w[0] < w[1]), "{oldest:?}");
                assert_eq!(
                    s.events_count(f, &scope).unwrap(),
                    oldest.len() as u64,
                    "{f:?} {scope:?}"
                );
                // Newest first, three at a time, each page before the last one's end.
                let mut newest: Vec<i64> = Vec::new();
                let mut before = None;
                loop {
                    let mut page = f.clone();
                    page.newest_first = true;
                    page.before_seq = before;
                    page.limit = Some(3);
                    let rows: Vec<i64> = s
                        .events_page(&page, &scope)
                        .unwrap()
                        .into_iter()
                        .map(|(seq, _)| seq)
                        .collect();
                    newest.extend(&rows);
                    if rows.len() < 3 {
                        break;
                    }
                    before = rows.last().copied();
                }
                let mut expected = oldest.clone();
                expected.reverse();
                assert_eq!(newest, expected, "{f:?} {scope:?}");
            }
        }
    }

    #[test]
    fn the_dashboard_rollup_counts_each_event_once_and_respects_the_scope() {
        let (_d, s) = store();
        let day = 20_000i64; // 2024-10-04
        let add = |from: i64, n: i64, org: Option<&str>, asn: i64| {
            let conn = s.writer();
            conn.execute(
                "INSERT OR IGNORE INTO runs (id, feed, file_name, sha256, size, status, started_at, observed) \
                 VALUES (1, 'f', 'f.csv', 'x', 0, 'done', 'now', 0)",
                [],
            )
            .unwrap();
            for i in from..from + n {
                conn.execute(
                    "INSERT INTO events (seq, id, run_id, time_event, source_asn, source_cc, classification_type, tlp, constituent) \
                     VALUES (?1, ?2, 1, ?3, ?4, 'NL', 'scanner', 'GREEN', ?5)",
                    params![i, i.to_be_bytes().to_vec(), day * 86_400_000_000 + i, asn, org],
                )
                .unwrap();
            }
        };
        add(1, 5, Some("org-a"), 64500);
        add(6, 3, Some("org-b"), 64501);
        let since = day * 86_400_000_000;
        let all = s.dashboard(&Scope::All, since, since).unwrap();
        assert_eq!(
            all.per_day,
            vec![("2024-10-04".to_string(), "scanner".to_string(), 8)]
        );
        // Refreshing again with nothing new, then after more events, counts each once.
        assert!(s.refresh_rollup(1000).unwrap());
        add(9, 2, None, 64500);
        let all = s.dashboard(&Scope::All, since, since).unwrap();
        assert_eq!(all.per_day[0].2, 10);
        assert_eq!(
            all.top_asns,
            vec![("64500".to_string(), 7), ("64501".to_string(), 3)]
        );
        assert_eq!(
            all.top_constituents,
            vec![("org-a".to_string(), 5), ("org-b".to_string(), 3)]
        );
        let a = s
            .dashboard(&Scope::Organisation("org-a".into()), since, since)
            .unwrap();
        assert_eq!(a.per_day[0].2, 5);
        assert_eq!(a.top_asns, vec![("64500".to_string(), 5)]);
        assert_eq!(a.top_constituents, vec![("org-a".to_string(), 5)]);
        // Days before the window are left out.
        let later = s
            .dashboard(&Scope::All, since + 86_400_000_000, since)
            .unwrap();
        assert!(later.per_day.is_empty());
    }

    #[test]
    fn the_rollup_catches_up_in_batches_counting_each_event_once() {
        let (_d, s) = store();
        let day = 20_000i64;
        {
            let conn = s.writer();
            conn.execute(
                "INSERT INTO runs (id, feed, file_name, sha256, size, status, started_at, observed) \
                 VALUES (1, 'f', 'f.csv', 'x', 0, 'done', 'now', 0)",
                [],
            )
            .unwrap();
            for i in 1..=11i64 {
                conn.execute(
                    "INSERT INTO events (seq, id, run_id, time_event, source_asn, classification_type, tlp, constituent) \
                     VALUES (?1, ?2, 1, ?3, 64500, 'scanner', 'GREEN', 'org-a')",
                    params![i, i128::from(i).to_be_bytes().to_vec(), day * 86_400_000_000 + i],
                )
                .unwrap();
            }
        }
        // Batches of 3 events: four transactions, each moving the cursor.
        assert!(s.refresh_rollup_in_batches(1000, 3).unwrap());
        let since = day * 86_400_000_000;
        let d = s.dashboard(&Scope::All, since, since).unwrap();
        assert_eq!(d.per_day[0].2, 11);
        assert_eq!(d.top_asns, vec![("64500".to_string(), 11)]);
        assert_eq!(d.top_constituents, vec![("org-a".to_string(), 11)]);
    }

    #[test]
    fn notification_history_is_scoped_in_the_query() {
        let (_d, s) = store();
        {
            let conn = s.writer();
            for (i, org) in [(1, "org-a"), (2, "org-b")] {
                conn.execute(
                    "INSERT INTO outbox (id, constituent, recipient, after_seq, last_seq, range_events, message_id, state, next_attempt_at, created_at) \
                     VALUES (?1, ?2, 'x@example.org', 0, 1, 1, ?3, 'sent', 0, 0)",
                    params![i, org, format!("m{i}")],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO deliveries (outbox_id, constituent, at, outcome, detail) VALUES (?1, ?2, 0, 'sent', '250 ok')",
                    params![i, org],
                )
                .unwrap();
            }
        }
        let a = Scope::Organisation("org-a".into());
        assert_eq!(s.notification_history("org-a", &a, 10).unwrap().len(), 1);
        assert!(s.notification_history("org-b", &a, 10).unwrap().is_empty());
        assert_eq!(
            s.notification_history("org-b", &Scope::All, 10).unwrap()[0].constituent,
            "org-b"
        );
    }
}
