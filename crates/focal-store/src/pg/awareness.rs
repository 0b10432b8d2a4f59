//! `focal-awareness`'s storage on PostgreSQL: advisories, the advisory mail outbox, the policy
//! library (full text through a generated tsvector with a GIN index) and the raw figures of
//! public statistics.

use super::PostgresStore;
use super::audit::Chain;
use crate::StoreError;
use crate::audit_chain::AuditKey;
use crate::awareness::*;
use focal_awareness::advisory::distribution::{AdvisoryMail, MailOutcome, QueuedMail};
use focal_awareness::advisory::{Advisory, AdvisorySummary};
use focal_awareness::library::search::{Facets, index_entity};
use focal_awareness::library::{
    Entity, EntitySummary, Hit, ImportSummary, Item, SearchRequest, SearchResults,
};
use focal_awareness::stats::{ClearEventCounts, HostCell, ResolvedIncident, StatsWindow};
use focal_awareness::store::*;
use jiff::Timestamp;
use postgres::Transaction;
use postgres::types::ToSql;

type R<T> = std::result::Result<T, StorageError>;

fn e(context: &'static str) -> impl Fn(postgres::Error) -> StorageError + Copy {
    move |source| StoreError::Postgres { context, source }.into()
}

fn audit(tx: &mut Transaction<'_>, key: Option<AuditKey>, a: &AuditRecord) -> R<()> {
    Chain::lock(tx, key)?.append(
        tx,
        &a.actor,
        &a.action,
        &a.subject,
        a.before.as_ref(),
        a.after.as_ref(),
    )?;
    Ok(())
}

fn stored_revisions(tx: &mut impl postgres::GenericClient, id: &str) -> R<Vec<String>> {
    Ok(tx
        .query(
            "SELECT doc FROM advisory_revisions WHERE advisory_id = $1 ORDER BY number",
            &[&id],
        )
        .map_err(e("reading advisory revisions"))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn write_row(tx: &mut Transaction<'_>, a: &Advisory, row_version: u64, insert: bool) -> R<u64> {
    let mut stored = a.clone();
    stored.row_version = row_version;
    let doc = advisory_doc(&stored)?;
    let published = a.published().map(|r| micros(r.date));
    let (state, tlp) = (a.state.as_str(), a.draft.tlp.as_str());
    let revision = a.revisions.len() as i32;
    let updated = micros(a.updated_at);
    let version = row_version as i64;
    if insert {
        tx.execute(
            "INSERT INTO advisories (id, state, title, tlp, revision, published_at, updated_at, row_version, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            &[&a.id, &state, &a.draft.title, &tlp, &revision, &published, &updated, &version, &doc],
        )
    } else {
        tx.execute(
            "UPDATE advisories SET state = $2, title = $3, tlp = $4, revision = $5, published_at = $6,
                    updated_at = $7, row_version = $8, doc = $9
             WHERE id = $1 AND row_version = $10",
            &[&a.id, &state, &a.draft.title, &tlp, &revision, &published, &updated, &version, &doc, &(version - 1)],
        )
    }
    .map_err(e("saving an advisory"))
}

fn insert_revisions(tx: &mut Transaction<'_>, a: &Advisory, from: usize) -> R<()> {
    for r in &a.revisions[from..] {
        tx.execute(
            "INSERT INTO advisory_revisions (advisory_id, number, date, doc) VALUES ($1, $2, $3, $4)",
            &[&a.id, &(r.number as i32), &micros(r.date), &revision_doc(r)?],
        )
        .map_err(e("storing a published revision"))?;
    }
    Ok(())
}

impl AdvisoryStore for PostgresStore {
    fn insert_advisory(&self, a: &Advisory, record: &AuditRecord) -> R<()> {
        let mut conn = self.conn("saving an advisory")?;
        let mut tx = conn.transaction().map_err(e("starting a transaction"))?;
        if write_row(&mut tx, a, a.row_version, true)? == 0 {
            return Err(StorageError::Conflict(format!(
                "advisory {} exists already",
                a.id
            )));
        }
        insert_revisions(&mut tx, a, 0)?;
        audit(&mut tx, self.audit_key.for_append()?, record)?;
        tx.commit().map_err(e("committing an advisory"))
    }

    fn update_advisory(&self, a: &Advisory, expected: u64, record: &AuditRecord) -> R<()> {
        let mut conn = self.conn("saving an advisory")?;
        let mut tx = conn.transaction().map_err(e("starting a transaction"))?;
        if write_row(&mut tx, a, expected + 1, false)? == 0 {
            let exists = tx
                .query_opt("SELECT 1 FROM advisories WHERE id = $1", &[&a.id])
                .map_err(e("reading an advisory"))?
                .is_some();
            return Err(if exists {
                StorageError::Conflict(format!(
                    "advisory {} was changed by someone else since it was read; read it again",
                    a.id
                ))
            } else {
                StorageError::NotFound(format!("advisory {}", a.id))
            });
        }
        let stored = stored_revisions(&mut tx, &a.id)?;
        let fresh = new_revisions(a, &stored)?.len();
        insert_revisions(&mut tx, a, a.revisions.len() - fresh)?;
        audit(&mut tx, self.audit_key.for_append()?, record)?;
        tx.commit().map_err(e("committing an advisory"))
    }

    fn advisory(&self, id: &str) -> R<Advisory> {
        let mut conn = self.conn("reading an advisory")?;
        let row = conn
            .query_opt("SELECT doc FROM advisories WHERE id = $1", &[&id])
            .map_err(e("reading an advisory"))?
            .ok_or_else(|| StorageError::NotFound(format!("advisory {id}")))?;
        let doc: String = row.get(0);
        advisory_from(&doc, &stored_revisions(&mut *conn, id)?)
    }

    fn advisory_list(&self, filter: &AdvisoryFilter) -> R<Vec<AdvisorySummary>> {
        let mut conn = self.conn("listing advisories")?;
        let state = filter.state.map(|s| s.as_str());
        let limit = filter.limit.map(|l| l as i64);
        let rows = conn
            .query(
                "SELECT id, state, title, tlp, revision, published_at, updated_at FROM advisories
                 WHERE ($1::TEXT IS NULL OR state = $1) ORDER BY updated_at DESC, id LIMIT $2",
                &[&state, &limit],
            )
            .map_err(e("listing advisories"))?;
        rows.iter()
            .map(|r| {
                crate::sqlite::awareness_summary(
                    r.get(0),
                    r.get::<_, String>(1).as_str(),
                    r.get(2),
                    r.get::<_, String>(3).as_str(),
                    i64::from(r.get::<_, i32>(4)),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect()
    }

    fn published_advisories(&self, limit: usize) -> R<Vec<Advisory>> {
        let ids: Vec<String> = {
            let mut conn = self.conn("listing advisories")?;
            conn.query(
                "SELECT id FROM advisories WHERE revision > 0 ORDER BY published_at DESC LIMIT $1",
                &[&(limit as i64)],
            )
            .map_err(e("listing advisories"))?
            .iter()
            .map(|r| r.get(0))
            .collect()
        };
        ids.iter().map(|id| self.advisory(id)).collect()
    }

    fn advisory_ids(&self) -> R<Vec<String>> {
        let mut conn = self.conn("listing advisories")?;
        Ok(conn
            .query("SELECT id FROM advisories ORDER BY id", &[])
            .map_err(e("listing advisories"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

const MAIL_COLUMNS: &str = "id, advisory_id, revision, constituent, recipient, message_id, state, attempts, next_attempt_at, created_at, sent_at, last_error, answer";

fn mail(r: &postgres::Row) -> R<AdvisoryMail> {
    Ok(AdvisoryMail {
        id: r.get(0),
        advisory_id: r.get(1),
        revision: r.get::<_, i32>(2) as u32,
        constituent: r.get(3),
        recipient: r.get(4),
        message_id: r.get(5),
        state: r.get(6),
        attempts: r.get::<_, i32>(7) as u32,
        next_attempt_at: from_micros(r.get(8))?,
        created_at: from_micros(r.get(9))?,
        sent_at: r.get::<_, Option<i64>>(10).map(from_micros).transpose()?,
        last_error: r.get(11),
        answer: r.get(12),
    })
}

impl AdvisoryOutbox for PostgresStore {
    fn queue_advisory_mail(&self, list: &[QueuedMail], record: &AuditRecord) -> R<u64> {
        let mut conn = self.conn("queuing advisory mail")?;
        let mut tx = conn.transaction().map_err(e("starting a transaction"))?;
        let now = micros(Timestamp::now());
        let mut added = 0;
        for m in list {
            added += tx
                .execute(
                    "INSERT INTO advisory_mail (advisory_id, revision, constituent, recipient, message_id, state, next_attempt_at, created_at)
                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)
                     ON CONFLICT (advisory_id, revision, constituent) DO NOTHING",
                    &[&m.advisory_id, &(m.revision as i32), &m.constituent, &m.recipient, &m.message_id, &now],
                )
                .map_err(e("queuing advisory mail"))?;
        }
        audit(&mut tx, self.audit_key.for_append()?, record)?;
        tx.commit().map_err(e("queuing advisory mail"))?;
        Ok(added)
    }

    fn advisory_mail_due(&self, now: Timestamp, limit: usize) -> R<Vec<AdvisoryMail>> {
        let mut conn = self.conn("reading advisory mail")?;
        conn.query(
            &format!(
                "SELECT {MAIL_COLUMNS} FROM advisory_mail
                 WHERE (state = 'pending' AND next_attempt_at <= $1) OR state = 'sending'
                 ORDER BY id LIMIT $2"
            ),
            &[&micros(now), &(limit as i64)],
        )
        .map_err(e("reading advisory mail"))?
        .iter()
        .map(mail)
        .collect()
    }

    fn advisory_mail_mark(&self, id: i64, outcome: &MailOutcome) -> R<()> {
        let mut conn = self.conn("recording an advisory mail outcome")?;
        let now = micros(Timestamp::now());
        let changed = match outcome {
            MailOutcome::Sending => conn.execute(
                "UPDATE advisory_mail SET state = 'sending' WHERE id = $1",
                &[&id],
            ),
            MailOutcome::Sent(answer) => conn.execute(
                "UPDATE advisory_mail SET state = 'sent', attempts = attempts + 1, sent_at = $2, last_error = NULL,
                        answer = $3 WHERE id = $1",
                &[&id, &now, answer],
            ),
            MailOutcome::Retry { detail, at } => conn.execute(
                "UPDATE advisory_mail SET state = 'pending', attempts = attempts + 1, last_error = $2,
                        next_attempt_at = $3 WHERE id = $1",
                &[&id, detail, &micros(*at)],
            ),
            MailOutcome::Failed(detail) => conn.execute(
                "UPDATE advisory_mail SET state = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1",
                &[&id, detail],
            ),
        }
        .map_err(e("recording an advisory mail outcome"))?;
        if changed == 0 {
            return Err(StorageError::NotFound(format!("advisory mail {id}")));
        }
        Ok(())
    }

    fn advisory_mail_list(&self, advisory_id: Option<&str>) -> R<Vec<AdvisoryMail>> {
        let mut conn = self.conn("reading advisory mail")?;
        conn.query(
            &format!(
                "SELECT {MAIL_COLUMNS} FROM advisory_mail WHERE ($1::TEXT IS NULL OR advisory_id = $1) ORDER BY id"
            ),
            &[&advisory_id],
        )
        .map_err(e("reading advisory mail"))?
        .iter()
        .map(mail)
        .collect()
    }
}

fn insert_entity(tx: &mut Transaction<'_>, entity: &Entity, doc: &str) -> R<()> {
    let ctx = e("storing a library entity");
    let kind = serde_json::to_value(entity.kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from));
    tx.execute(
        "INSERT INTO library_entities (id, name, kind, country, last_updated, items, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, country = excluded.country,
             last_updated = excluded.last_updated, items = excluded.items, doc = excluded.doc",
        &[&entity.id, &entity.name, &kind, &entity.country, &entity.last_updated, &(entity.item_count() as i32), &doc],
    )
    .map_err(ctx)?;
    for i in index_entity(entity) {
        let bodies_json = serde_json::to_string(&i.bodies).unwrap_or_default();
        let row = tx
            .query_one(
                "INSERT INTO library_items (entity, item, place, item_type, title, symbol, country, year, date, bodies, doc, text, topics, bodies_text)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING seq",
                &[
                    &i.entity, &i.item, &i.place, &i.item_type.as_str(), &i.title, &i.symbol, &i.country, &i.year,
                    &i.date, &bodies_json, &i.doc, &i.text, &i.topics, &i.bodies.join("; "),
                ],
            )
            .map_err(ctx)?;
        let seq: i64 = row.get(0);
        if !i.bodies.is_empty() {
            tx.execute(
                "INSERT INTO library_item_bodies (body, item) SELECT DISTINCT unnest($1::TEXT[]), $2::BIGINT ON CONFLICT DO NOTHING",
                &[&i.bodies, &seq],
            )
            .map_err(ctx)?;
        }
        if !i.symbol_keys.is_empty() {
            tx.execute(
                "INSERT INTO library_symbols (key, item) SELECT DISTINCT unnest($1::TEXT[]), $2::BIGINT ON CONFLICT DO NOTHING",
                &[&i.symbol_keys, &seq],
            )
            .map_err(ctx)?;
        }
    }
    Ok(())
}

impl LibraryStore for PostgresStore {
    fn import_library(&self, entities: &[Entity], actor: &str, source: &str) -> R<ImportSummary> {
        let mut conn = self.conn("importing the library")?;
        let mut tx = conn.transaction().map_err(e("starting a library import"))?;
        let mut summary = ImportSummary::default();
        for entity in entities {
            let doc = entity_doc(entity)?;
            let before: Option<String> = tx
                .query_opt(
                    "SELECT doc FROM library_entities WHERE id = $1 FOR UPDATE",
                    &[&entity.id],
                )
                .map_err(e("reading a library entity"))?
                .map(|r| r.get(0));
            summary.entities += 1;
            summary.items += entity.item_count() as u64;
            if before.as_deref() == Some(doc.as_str()) {
                summary.unchanged += 1;
                continue;
            }
            let before_view = match &before {
                Some(text) => Some(entity_audit(&entity_from(text)?, text)),
                None => None,
            };
            if before.is_some() {
                summary.updated += 1;
                // Bodies and symbols go with their items (ON DELETE CASCADE).
                tx.execute("DELETE FROM library_items WHERE entity = $1", &[&entity.id])
                    .map_err(e("replacing a library entity"))?;
            } else {
                summary.added += 1;
            }
            insert_entity(&mut tx, entity, &doc)?;
            let mut after = entity_audit(entity, &doc);
            after["source"] = source.into();
            audit(
                &mut tx,
                self.audit_key.for_append()?,
                &AuditRecord {
                    actor: actor.into(),
                    action: "library.import".into(),
                    subject: format!("library:{}", entity.id),
                    before: before_view,
                    after: Some(after),
                },
            )?;
        }
        tx.commit().map_err(e("committing a library import"))?;
        Ok(summary)
    }

    fn library_entities(&self, ids: &[String]) -> R<Vec<Entity>> {
        let mut conn = self.conn("reading the library")?;
        let rows = conn
            .query(
                "SELECT doc FROM library_entities WHERE cardinality($1::TEXT[]) = 0 OR id = ANY($1) ORDER BY id",
                &[&ids],
            )
            .map_err(e("reading the library"))?;
        let out: Vec<Entity> = rows
            .iter()
            .map(|r| entity_from(r.get::<_, &str>(0)))
            .collect::<R<_>>()?;
        if let Some(missing) = ids.iter().find(|id| !out.iter().any(|e| &e.id == *id)) {
            return Err(StorageError::NotFound(format!(
                "library entity {missing:?}"
            )));
        }
        Ok(out)
    }

    fn library_summaries(&self) -> R<Vec<EntitySummary>> {
        Ok(self
            .library_entities(&[])?
            .into_iter()
            .map(|entity| EntitySummary {
                items: entity.item_count() as u64,
                id: entity.id,
                name: entity.name,
                kind: entity.kind,
                country: entity.country,
                last_updated: entity.last_updated,
            })
            .collect())
    }

    fn library_item(&self, entity: &str, item: &str) -> R<Item> {
        let mut conn = self.conn("reading a library item")?;
        let row = conn
            .query_opt(
                "SELECT doc FROM library_items WHERE entity = $1 AND item = $2",
                &[&entity, &item],
            )
            .map_err(e("reading a library item"))?
            .ok_or_else(|| StorageError::NotFound(format!("library item {entity}/{item}")))?;
        serde_json::from_str(row.get::<_, &str>(0))
            .map_err(|err| StorageError::Invalid(err.to_string()))
    }

    fn search_library(&self, request: &SearchRequest) -> R<SearchResults> {
        let query = request.check().map_err(StorageError::Invalid)?;
        let mut conn = self.conn("searching the library")?;
        let ctx = e("searching the library");
        let mut tx = conn.transaction().map_err(ctx)?;
        // One evaluation of the query into a temporary table dropped at the end of this
        // transaction; the page and the facets are read from it.
        tx.batch_execute(
            "CREATE TEMP TABLE hits (seq BIGINT PRIMARY KEY, score REAL NOT NULL, symbol_hit BOOLEAN NOT NULL) ON COMMIT DROP",
        )
        .map_err(ctx)?;
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        // Each word and phrase becomes its own tsquery from a bound value, combined with &&.
        let mut parts: Vec<String> = Vec::new();
        for w in &query.words {
            args.push(Box::new(w.clone()));
            parts.push(format!("plainto_tsquery('english', ${})", args.len()));
        }
        for p in &query.phrases {
            args.push(Box::new(p.clone()));
            parts.push(format!("phraseto_tsquery('english', ${})", args.len()));
        }
        let tsquery = (!parts.is_empty()).then(|| parts.join(" && "));
        let symbol_hit = if query.symbols.is_empty() {
            "false".to_string()
        } else {
            args.push(Box::new(query.symbols.clone()));
            format!(
                "EXISTS (SELECT 1 FROM library_symbols s WHERE s.item = i.seq AND s.key = ANY(${}))",
                args.len()
            )
        };
        let mut sql = match &tsquery {
            Some(q) => format!(
                "INSERT INTO hits SELECT i.seq, ts_rank(i.search, q.q), {symbol_hit}
                 FROM library_items i, (SELECT {q} AS q) q WHERE i.search @@ q.q"
            ),
            None => format!(
                "INSERT INTO hits SELECT i.seq, 0, {symbol_hit} FROM library_items i WHERE true"
            ),
        };
        sql.push_str(&filters(request, &mut args));
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        tx.execute(&sql, &refs).map_err(ctx)?;
        if !query.symbols.is_empty() {
            // Items whose symbol the query names, whatever else it says.
            let mut args: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(query.symbols.clone())];
            let mut sql = "INSERT INTO hits SELECT i.seq, 0, true FROM library_items i
                 WHERE i.seq IN (SELECT item FROM library_symbols WHERE key = ANY($1))"
                .to_string();
            sql.push_str(&filters(request, &mut args));
            sql.push_str(" ON CONFLICT (seq) DO NOTHING");
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
            tx.execute(&sql, &refs).map_err(ctx)?;
        }
        let total: i64 = tx
            .query_one("SELECT COUNT(*) FROM hits", &[])
            .map_err(ctx)?
            .get(0);
        let hits = tx
            .query(
                "SELECT i.entity, i.item, i.place, i.item_type, i.title, i.symbol, i.bodies, i.country, i.year, i.date,
                        h.symbol_hit, h.score
                 FROM hits h JOIN library_items i ON i.seq = h.seq
                 ORDER BY h.symbol_hit DESC, h.score DESC, i.date DESC NULLS LAST, i.seq
                 LIMIT $1 OFFSET $2",
                &[&(request.limit as i64), &(request.offset as i64)],
            )
            .map_err(ctx)?
            .iter()
            .map(|r| Hit {
                entity: r.get(0),
                item: r.get(1),
                place: r.get(2),
                item_type: r.get(3),
                title: r.get(4),
                symbol: r.get(5),
                bodies: serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default(),
                country: r.get(7),
                year: r.get(8),
                date: r.get(9),
                symbol_match: r.get(10),
                score: f64::from(r.get::<_, f32>(11)),
            })
            .collect();
        let mut facet = |sql: &str| -> R<Vec<(String, i64)>> {
            Ok(tx
                .query(sql, &[])
                .map_err(ctx)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        };
        let facets = Facets {
            types: facets(
                facet(
                    "SELECT i.item_type, COUNT(*) FROM hits h JOIN library_items i ON i.seq = h.seq GROUP BY 1",
                )?,
                50,
            ),
            body: facets(
                facet(
                    "SELECT b.body, COUNT(*) FROM hits h JOIN library_item_bodies b ON b.item = h.seq GROUP BY 1",
                )?,
                50,
            ),
            country: facets(
                facet(
                    "SELECT i.country, COUNT(*) FROM hits h JOIN library_items i ON i.seq = h.seq WHERE i.country IS NOT NULL GROUP BY 1",
                )?,
                50,
            ),
            year: facets(
                facet(
                    "SELECT i.year::TEXT, COUNT(*) FROM hits h JOIN library_items i ON i.seq = h.seq WHERE i.year IS NOT NULL GROUP BY 1",
                )?,
                200,
            ),
        };
        tx.commit().map_err(ctx)?;
        Ok(SearchResults {
            total: total as u64,
            hits,
            facets,
        })
    }
}

/// The request's filters as `AND ...` conditions on `library_items i`, values appended to `args`.
fn filters(request: &SearchRequest, args: &mut Vec<Box<dyn ToSql + Sync>>) -> String {
    let mut sql = String::new();
    let mut add = |clause: &str, v: Box<dyn ToSql + Sync>| {
        args.push(v);
        sql.push_str(&clause.replace('#', &format!("${}", args.len())));
    };
    if !request.types.is_empty() {
        let types: Vec<String> = request
            .types
            .iter()
            .map(|t| t.as_str().to_string())
            .collect();
        add(" AND i.item_type = ANY(#)", Box::new(types));
    }
    if !request.countries.is_empty() {
        add(
            " AND i.country = ANY(#)",
            Box::new(request.countries.clone()),
        );
    }
    if !request.bodies.is_empty() {
        add(
            " AND i.seq IN (SELECT item FROM library_item_bodies WHERE body = ANY(#))",
            Box::new(request.bodies.clone()),
        );
    }
    if let Some(entity) = &request.entity {
        add(" AND i.entity = #", Box::new(entity.clone()));
    }
    if let Some(y) = request.year_from {
        add(" AND i.year >= #", Box::new(y));
    }
    if let Some(y) = request.year_to {
        add(" AND i.year <= #", Box::new(y));
    }
    sql
}

impl ClearStatsSource for PostgresStore {
    fn clear_event_counts(&self, window: &StatsWindow) -> R<Vec<ClearEventCounts>> {
        let mut conn = self.conn("counting TLP:CLEAR events")?;
        let (since, until) = window_micros(window);
        let rows = conn
            .query(
                "SELECT to_char(date_trunc('week', to_timestamp(time_event / 1000000.0) AT TIME ZONE 'UTC'), 'YYYY-MM-DD'),
                        classification_type, COUNT(*)
                 FROM events WHERE tlp = 'CLEAR' AND time_event >= $1 AND time_event < $2
                 GROUP BY 1, 2",
                &[&since, &until],
            )
            .map_err(e("counting TLP:CLEAR events"))?;
        rows.iter()
            .map(|r| {
                let week: String = r.get(0);
                Ok(ClearEventCounts {
                    week: week
                        .parse()
                        .map_err(|err| StorageError::Invalid(format!("week {week:?}: {err}")))?,
                    classification_type: r.get(1),
                    count: r.get::<_, i64>(2) as u64,
                })
            })
            .collect()
    }

    fn clear_infected_hosts(&self, window: &StatsWindow) -> R<Vec<HostCell>> {
        let mut conn = self.conn("counting infected hosts")?;
        let (since, until) = window_micros(window);
        // Each address once, with the country and ASN of its latest event.
        let rows = conn
            .query(
                "SELECT cc, asn, COUNT(*) FROM (
                     SELECT DISTINCT ON (source_ip) source_ip, source_cc AS cc, source_asn AS asn
                     FROM events
                     WHERE tlp = 'CLEAR' AND classification_type = 'infected-system' AND source_ip IS NOT NULL
                       AND time_event >= $1 AND time_event < $2
                     ORDER BY source_ip, seq DESC) h
                 GROUP BY 1, 2",
                &[&since, &until],
            )
            .map_err(e("counting infected hosts"))?;
        Ok(rows
            .iter()
            .map(|r| HostCell {
                country: r.get(0),
                asn: r.get::<_, Option<i64>>(1).map(|a| a as u32),
                hosts: r.get::<_, i64>(2) as u64,
            })
            .collect())
    }

    fn clear_resolved_incidents(&self, _: &StatsWindow) -> R<Option<Vec<ResolvedIncident>>> {
        // Incidents live on the embedded store only until issue 13 ports them.
        Ok(None)
    }
}
