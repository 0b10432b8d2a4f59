//! `focal-awareness`'s storage on SQLite: advisories, the advisory mail outbox, the policy
//! library (full text through FTS5) and the raw figures of public statistics.

use super::SqliteStore;
use super::audit::Chain;
use crate::StoreError;
use crate::audit_chain::AuditKey;
use crate::awareness::*;
use focal_awareness::advisory::distribution::{AdvisoryMail, MailOutcome, QueuedMail};
use focal_awareness::advisory::{Advisory, AdvisoryState, AdvisorySummary};
use focal_awareness::library::search::{Facets, index_entity};
use focal_awareness::library::{
    Entity, EntitySummary, Hit, ImportSummary, Item, SearchRequest, SearchResults,
};
use focal_awareness::stats::{ClearEventCounts, HostCell, ResolvedIncident, StatsWindow};
use focal_awareness::store::*;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

type R<T> = std::result::Result<T, StorageError>;

fn e(context: &'static str) -> impl Fn(rusqlite::Error) -> StorageError + Copy {
    move |source| StoreError::Sqlite { context, source }.into()
}

fn audit(tx: &Transaction<'_>, key: Option<AuditKey>, a: &AuditRecord) -> R<()> {
    Chain::load(tx, key)
        .and_then(|mut c| {
            c.append(
                tx,
                &a.actor,
                &a.action,
                &a.subject,
                a.before.as_ref(),
                a.after.as_ref(),
            )
        })
        .map(|_| ())
        .map_err(e("writing an audit entry"))
}

fn stored_revisions(conn: &Connection, id: &str) -> R<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT doc FROM advisory_revisions WHERE advisory_id = ?1 ORDER BY number")
        .map_err(e("reading advisory revisions"))?;
    let rows = stmt
        .query_map([id], |r| r.get(0))
        .map_err(e("reading advisory revisions"))?;
    rows.collect::<rusqlite::Result<Vec<String>>>()
        .map_err(e("reading advisory revisions"))
}

fn write_row(tx: &Transaction<'_>, a: &Advisory, row_version: u64, insert: bool) -> R<usize> {
    let mut stored = a.clone();
    stored.row_version = row_version;
    let doc = advisory_doc(&stored)?;
    let published = a.published().map(|r| micros(r.date));
    let sql = if insert {
        "INSERT INTO advisories (id, state, title, tlp, revision, published_at, updated_at, row_version, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING"
    } else {
        "UPDATE advisories SET state = ?2, title = ?3, tlp = ?4, revision = ?5, published_at = ?6,
                updated_at = ?7, row_version = ?8, doc = ?9
         WHERE id = ?1 AND row_version = ?10"
    };
    let mut args: Vec<rusqlite::types::Value> = vec![
        a.id.clone().into(),
        a.state.as_str().to_string().into(),
        a.draft.title.clone().into(),
        a.draft.tlp.as_str().to_string().into(),
        i64::from(a.revisions.len() as u32).into(),
        published.into(),
        micros(a.updated_at).into(),
        (row_version as i64).into(),
        doc.into(),
    ];
    if !insert {
        args.push((row_version as i64 - 1).into());
    }
    tx.execute(sql, params_from_iter(args))
        .map_err(e("saving an advisory"))
}

fn insert_revisions(tx: &Transaction<'_>, a: &Advisory, from: usize) -> R<()> {
    for r in &a.revisions[from..] {
        tx.execute(
            "INSERT INTO advisory_revisions (advisory_id, number, date, doc) VALUES (?1, ?2, ?3, ?4)",
            params![a.id, r.number, micros(r.date), revision_doc(r)?],
        )
        .map_err(e("storing a published revision"))?;
    }
    Ok(())
}

impl AdvisoryStore for SqliteStore {
    fn insert_advisory(&self, a: &Advisory, record: &AuditRecord) -> R<()> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e("starting a transaction"))?;
        if write_row(&tx, a, a.row_version, true)? == 0 {
            return Err(StorageError::Conflict(format!(
                "advisory {} exists already",
                a.id
            )));
        }
        insert_revisions(&tx, a, 0)?;
        audit(&tx, self.audit_key()?, record)?;
        tx.commit().map_err(e("committing an advisory"))
    }

    fn update_advisory(&self, a: &Advisory, expected: u64, record: &AuditRecord) -> R<()> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e("starting a transaction"))?;
        if write_row(&tx, a, expected + 1, false)? == 0 {
            let exists: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM advisories WHERE id = ?1)",
                    [&a.id],
                    |r| r.get(0),
                )
                .map_err(e("reading an advisory"))?;
            return Err(if exists {
                StorageError::Conflict(format!(
                    "advisory {} was changed by someone else since it was read; read it again",
                    a.id
                ))
            } else {
                StorageError::NotFound(format!("advisory {}", a.id))
            });
        }
        let stored = stored_revisions(&tx, &a.id)?;
        let fresh = new_revisions(a, &stored)?.len();
        insert_revisions(&tx, a, a.revisions.len() - fresh)?;
        audit(&tx, self.audit_key()?, record)?;
        tx.commit().map_err(e("committing an advisory"))
    }

    fn advisory(&self, id: &str) -> R<Advisory> {
        let conn = self.reader()?;
        let doc: Option<String> = conn
            .query_row("SELECT doc FROM advisories WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(e("reading an advisory"))?;
        let doc = doc.ok_or_else(|| StorageError::NotFound(format!("advisory {id}")))?;
        advisory_from(&doc, &stored_revisions(&conn, id)?)
    }

    fn advisory_list(&self, filter: &AdvisoryFilter) -> R<Vec<AdvisorySummary>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, state, title, tlp, revision, published_at, updated_at FROM advisories
                 WHERE (?1 IS NULL OR state = ?1) ORDER BY updated_at DESC, id LIMIT ?2",
            )
            .map_err(e("listing advisories"))?;
        let limit = filter.limit.map_or(-1, |l| l as i64);
        let rows = stmt
            .query_map(params![filter.state.map(|s| s.as_str()), limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(e("listing advisories"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, state, title, tlp, revision, published, updated) =
                row.map_err(e("listing advisories"))?;
            out.push(awareness_summary(
                id, &state, title, &tlp, revision, published, updated,
            )?);
        }
        Ok(out)
    }

    fn published_advisories(&self, limit: usize) -> R<Vec<Advisory>> {
        let conn = self.reader()?;
        let ids: Vec<String> = {
            let mut stmt = conn
                .prepare(
                    "SELECT id FROM advisories WHERE revision > 0 ORDER BY published_at DESC LIMIT ?1",
                )
                .map_err(e("listing advisories"))?;
            stmt.query_map([limit as i64], |r| r.get(0))
                .map_err(e("listing advisories"))?
                .collect::<rusqlite::Result<_>>()
                .map_err(e("listing advisories"))?
        };
        ids.iter().map(|id| self.advisory(id)).collect()
    }

    fn advisory_ids(&self) -> R<Vec<String>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT id FROM advisories ORDER BY id")
            .map_err(e("listing advisories"))?;
        stmt.query_map([], |r| r.get(0))
            .map_err(e("listing advisories"))?
            .collect::<rusqlite::Result<_>>()
            .map_err(e("listing advisories"))
    }
}

pub(crate) fn awareness_summary(
    id: String,
    state: &str,
    title: String,
    tlp: &str,
    revision: i64,
    published: Option<i64>,
    updated: i64,
) -> R<AdvisorySummary> {
    Ok(AdvisorySummary {
        id,
        state: AdvisoryState::parse(state).map_err(StorageError::Invalid)?,
        title,
        tlp: tlp
            .parse()
            .map_err(|e: focal_model::ValueError| StorageError::Invalid(e.to_string()))?,
        revision: revision as u32,
        published_at: published.map(from_micros).transpose()?,
        updated_at: from_micros(updated)?,
    })
}

const MAIL_COLUMNS: &str = "id, advisory_id, revision, constituent, recipient, message_id, state, attempts, next_attempt_at, created_at, sent_at, last_error, answer";

fn mail_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(AdvisoryMail, i64, i64, Option<i64>)> {
    Ok((
        AdvisoryMail {
            id: r.get(0)?,
            advisory_id: r.get(1)?,
            revision: r.get(2)?,
            constituent: r.get(3)?,
            recipient: r.get(4)?,
            message_id: r.get(5)?,
            state: r.get(6)?,
            attempts: r.get(7)?,
            next_attempt_at: Timestamp::UNIX_EPOCH,
            created_at: Timestamp::UNIX_EPOCH,
            sent_at: None,
            last_error: r.get(11)?,
            answer: r.get(12)?,
        },
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
    ))
}

fn mails(conn: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> R<Vec<AdvisoryMail>> {
    let mut stmt = conn.prepare(sql).map_err(e("reading advisory mail"))?;
    let rows = stmt
        .query_map(args, mail_row)
        .map_err(e("reading advisory mail"))?;
    let mut out = Vec::new();
    for row in rows {
        let (mut m, next, created, sent) = row.map_err(e("reading advisory mail"))?;
        m.next_attempt_at = from_micros(next)?;
        m.created_at = from_micros(created)?;
        m.sent_at = sent.map(from_micros).transpose()?;
        out.push(m);
    }
    Ok(out)
}

impl AdvisoryOutbox for SqliteStore {
    fn queue_advisory_mail(&self, list: &[QueuedMail], record: &AuditRecord) -> R<u64> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e("starting a transaction"))?;
        let now = micros(Timestamp::now());
        let mut added = 0;
        for m in list {
            added += tx
                .execute(
                    "INSERT INTO advisory_mail (advisory_id, revision, constituent, recipient, message_id, state, next_attempt_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)
                     ON CONFLICT (advisory_id, revision, constituent) DO NOTHING",
                    params![m.advisory_id, m.revision, m.constituent, m.recipient, m.message_id, now],
                )
                .map_err(e("queuing advisory mail"))? as u64;
        }
        audit(&tx, self.audit_key()?, record)?;
        tx.commit().map_err(e("queuing advisory mail"))?;
        Ok(added)
    }

    fn advisory_mail_due(&self, now: Timestamp, limit: usize) -> R<Vec<AdvisoryMail>> {
        let conn = self.reader()?;
        mails(
            &conn,
            &format!(
                "SELECT {MAIL_COLUMNS} FROM advisory_mail
                 WHERE (state = 'pending' AND next_attempt_at <= ?1) OR state = 'sending'
                 ORDER BY id LIMIT ?2"
            ),
            &[&micros(now), &(limit as i64)],
        )
    }

    fn advisory_mail_mark(&self, id: i64, outcome: &MailOutcome) -> R<()> {
        let conn = self.writer();
        let now = micros(Timestamp::now());
        let changed = match outcome {
            MailOutcome::Sending => conn.execute(
                "UPDATE advisory_mail SET state = 'sending' WHERE id = ?1",
                params![id],
            ),
            MailOutcome::Sent(detail) => conn.execute(
                "UPDATE advisory_mail SET state = 'sent', attempts = attempts + 1, sent_at = ?2, last_error = NULL,
                        answer = ?3 WHERE id = ?1",
                params![id, now, detail],
            ),
            MailOutcome::Retry { detail, at } => conn.execute(
                "UPDATE advisory_mail SET state = 'pending', attempts = attempts + 1, last_error = ?2,
                        next_attempt_at = ?3 WHERE id = ?1",
                params![id, detail, micros(*at)],
            ),
            MailOutcome::Failed(detail) => conn.execute(
                "UPDATE advisory_mail SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id, detail],
            ),
        }
        .map_err(e("recording an advisory mail outcome"))?;
        if changed == 0 {
            return Err(StorageError::NotFound(format!("advisory mail {id}")));
        }
        Ok(())
    }

    fn advisory_mail_list(&self, advisory_id: Option<&str>) -> R<Vec<AdvisoryMail>> {
        let conn = self.reader()?;
        mails(
            &conn,
            &format!(
                "SELECT {MAIL_COLUMNS} FROM advisory_mail WHERE (?1 IS NULL OR advisory_id = ?1) ORDER BY id"
            ),
            &[&advisory_id],
        )
    }
}

fn delete_entity_items(tx: &Transaction<'_>, entity: &str) -> R<()> {
    let ctx = e("replacing a library entity");
    tx.execute(
        "DELETE FROM library_fts WHERE rowid IN (SELECT seq FROM library_items WHERE entity = ?1)",
        [entity],
    )
    .map_err(ctx)?;
    tx.execute(
        "DELETE FROM library_item_bodies WHERE item IN (SELECT seq FROM library_items WHERE entity = ?1)",
        [entity],
    )
    .map_err(ctx)?;
    tx.execute(
        "DELETE FROM library_symbols WHERE item IN (SELECT seq FROM library_items WHERE entity = ?1)",
        [entity],
    )
    .map_err(ctx)?;
    tx.execute("DELETE FROM library_items WHERE entity = ?1", [entity])
        .map_err(ctx)?;
    Ok(())
}

fn insert_entity(tx: &Transaction<'_>, entity: &Entity, doc: &str) -> R<u64> {
    let ctx = e("storing a library entity");
    tx.execute(
        "INSERT INTO library_entities (id, name, kind, country, last_updated, items, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, country = excluded.country,
             last_updated = excluded.last_updated, items = excluded.items, doc = excluded.doc",
        params![
            entity.id,
            entity.name,
            serde_json::to_value(entity.kind).ok().and_then(|v| v.as_str().map(String::from)),
            entity.country,
            entity.last_updated,
            entity.item_count() as i64,
            doc
        ],
    )
    .map_err(ctx)?;
    let mut items = 0;
    for i in index_entity(entity) {
        tx.execute(
            "INSERT INTO library_items (entity, item, place, item_type, title, symbol, country, year, date, bodies, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                i.entity,
                i.item,
                i.place,
                i.item_type.as_str(),
                i.title,
                i.symbol,
                i.country,
                i.year,
                i.date,
                serde_json::to_string(&i.bodies).unwrap_or_default(),
                i.doc
            ],
        )
        .map_err(ctx)?;
        let seq = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO library_fts (rowid, title, symbol, text, topics, bodies) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![seq, i.title, i.symbol.as_deref().unwrap_or(""), i.text, i.topics, i.bodies.join("; ")],
        )
        .map_err(ctx)?;
        for body in &i.bodies {
            tx.execute(
                "INSERT OR IGNORE INTO library_item_bodies (body, item) VALUES (?1, ?2)",
                params![body, seq],
            )
            .map_err(ctx)?;
        }
        for key in &i.symbol_keys {
            tx.execute(
                "INSERT OR IGNORE INTO library_symbols (key, item) VALUES (?1, ?2)",
                params![key, seq],
            )
            .map_err(ctx)?;
        }
        items += 1;
    }
    Ok(items)
}

impl LibraryStore for SqliteStore {
    fn import_library(&self, entities: &[Entity], actor: &str, source: &str) -> R<ImportSummary> {
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e("starting a library import"))?;
        let mut summary = ImportSummary::default();
        for entity in entities {
            let doc = entity_doc(entity)?;
            let before: Option<String> = tx
                .query_row(
                    "SELECT doc FROM library_entities WHERE id = ?1",
                    [&entity.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e("reading a library entity"))?;
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
                delete_entity_items(&tx, &entity.id)?;
            } else {
                summary.added += 1;
            }
            insert_entity(&tx, entity, &doc)?;
            let mut after = entity_audit(entity, &doc);
            after["source"] = source.into();
            audit(
                &tx,
                self.audit_key()?,
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
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT id, doc FROM library_entities ORDER BY id")
            .map_err(e("reading the library"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(e("reading the library"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, doc) = row.map_err(e("reading the library"))?;
            if ids.is_empty() || ids.contains(&id) {
                out.push(entity_from(&doc)?);
            }
        }
        if let Some(missing) = ids.iter().find(|id| !out.iter().any(|e| &e.id == *id)) {
            return Err(StorageError::NotFound(format!(
                "library entity {missing:?}"
            )));
        }
        Ok(out)
    }

    fn library_summaries(&self) -> R<Vec<EntitySummary>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT doc FROM library_entities ORDER BY id")
            .map_err(e("reading the library"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(e("reading the library"))?;
        let mut out = Vec::new();
        for row in rows {
            let entity = entity_from(&row.map_err(e("reading the library"))?)?;
            out.push(EntitySummary {
                items: entity.item_count() as u64,
                id: entity.id,
                name: entity.name,
                kind: entity.kind,
                country: entity.country,
                last_updated: entity.last_updated,
            });
        }
        Ok(out)
    }

    fn library_item(&self, entity: &str, item: &str) -> R<Item> {
        let conn = self.reader()?;
        let doc: Option<String> = conn
            .query_row(
                "SELECT doc FROM library_items WHERE entity = ?1 AND item = ?2",
                [entity, item],
                |r| r.get(0),
            )
            .optional()
            .map_err(e("reading a library item"))?;
        let doc =
            doc.ok_or_else(|| StorageError::NotFound(format!("library item {entity}/{item}")))?;
        serde_json::from_str(&doc).map_err(|err| StorageError::Invalid(err.to_string()))
    }

    fn search_library(&self, request: &SearchRequest) -> R<SearchResults> {
        let query = request.check().map_err(StorageError::Invalid)?;
        // A connection of its own (not pooled): the temporary table below is the connection's.
        let conn = self.dedicated()?;
        let ctx = e("searching the library");
        // One evaluation of the full-text query into a temporary table (this connection's own,
        // in memory); the page and the facets are read from it.
        conn.execute_batch(
            "CREATE TEMP TABLE hits (seq INTEGER PRIMARY KEY, score REAL NOT NULL, symbol_hit INTEGER NOT NULL)",
        )
        .map_err(ctx)?;
        // Full-text matches, then items whose symbol the query names (whatever else it says),
        // both narrowed by the same filters.
        let symbol_keys = |args: &mut Vec<rusqlite::types::Value>| -> String {
            query
                .symbols
                .iter()
                .map(|s| {
                    args.push(s.clone().into());
                    format!("?{}", args.len())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let symbol_hit = if query.symbols.is_empty() {
            "0".to_string()
        } else {
            format!(
                "EXISTS (SELECT 1 FROM library_symbols s WHERE s.item = i.seq AND s.key IN ({}))",
                symbol_keys(&mut args)
            )
        };
        let mut sql = match query.fts5() {
            Some(expr) => {
                args.push(expr.into());
                format!(
                    "INSERT INTO hits SELECT i.seq, -bm25(library_fts, 10.0, 10.0, 1.0, 3.0, 2.0), {symbol_hit}
                     FROM library_fts JOIN library_items i ON i.seq = library_fts.rowid
                     WHERE library_fts MATCH ?{}",
                    args.len()
                )
            }
            None => format!(
                "INSERT INTO hits SELECT i.seq, 0.0, {symbol_hit} FROM library_items i WHERE 1 = 1"
            ),
        };
        sql.push_str(&filters(request, &mut args));
        conn.execute(&sql, params_from_iter(args)).map_err(ctx)?;
        if !query.symbols.is_empty() {
            let mut args = Vec::new();
            let mut sql = format!(
                "INSERT OR IGNORE INTO hits SELECT i.seq, 0.0, 1 FROM library_items i
                 WHERE i.seq IN (SELECT item FROM library_symbols WHERE key IN ({}))",
                symbol_keys(&mut args)
            );
            sql.push_str(&filters(request, &mut args));
            conn.execute(&sql, params_from_iter(args)).map_err(ctx)?;
        }

        let total: i64 = conn
            .query_row("SELECT COUNT(*) FROM hits", [], |r| r.get(0))
            .map_err(ctx)?;
        let mut stmt = conn
            .prepare(
                "SELECT i.entity, i.item, i.place, i.item_type, i.title, i.symbol, i.bodies, i.country, i.year, i.date,
                        h.symbol_hit, h.score
                 FROM hits h JOIN library_items i ON i.seq = h.seq
                 ORDER BY h.symbol_hit DESC, h.score DESC, i.date DESC, i.seq
                 LIMIT ?1 OFFSET ?2",
            )
            .map_err(ctx)?;
        let hits = stmt
            .query_map(params![request.limit as i64, request.offset as i64], |r| {
                Ok(Hit {
                    entity: r.get(0)?,
                    item: r.get(1)?,
                    place: r.get(2)?,
                    item_type: r.get(3)?,
                    title: r.get(4)?,
                    symbol: r.get(5)?,
                    bodies: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
                    country: r.get(7)?,
                    year: r.get(8)?,
                    date: r.get(9)?,
                    symbol_match: r.get::<_, i64>(10)? != 0,
                    score: r.get(11)?,
                })
            })
            .map_err(ctx)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ctx)?;
        let facet = |sql: &str| -> R<Vec<(String, i64)>> {
            let mut stmt = conn.prepare(sql).map_err(ctx)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(ctx)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(ctx)
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
                    "SELECT CAST(i.year AS TEXT), COUNT(*) FROM hits h JOIN library_items i ON i.seq = h.seq WHERE i.year IS NOT NULL GROUP BY 1",
                )?,
                200,
            ),
        };
        Ok(SearchResults {
            total: total as u64,
            hits,
            facets,
        })
    }
}

/// The request's filters as `AND ...` conditions on `library_items i`, values appended to `args`.
fn filters(request: &SearchRequest, args: &mut Vec<rusqlite::types::Value>) -> String {
    let mut arg = |v: rusqlite::types::Value| {
        args.push(v);
        format!("?{}", args.len())
    };
    let mut list = |values: Vec<String>| {
        values
            .into_iter()
            .map(|v| arg(v.into()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sql = String::new();
    if !request.types.is_empty() {
        let types = request
            .types
            .iter()
            .map(|t| t.as_str().to_string())
            .collect();
        sql.push_str(&format!(" AND i.item_type IN ({})", list(types)));
    }
    if !request.countries.is_empty() {
        sql.push_str(&format!(
            " AND i.country IN ({})",
            list(request.countries.clone())
        ));
    }
    if !request.bodies.is_empty() {
        sql.push_str(&format!(
            " AND i.seq IN (SELECT item FROM library_item_bodies WHERE body IN ({}))",
            list(request.bodies.clone())
        ));
    }
    let mut one = |clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        format!(" AND {clause} ?{}", args.len())
    };
    if let Some(entity) = &request.entity {
        sql.push_str(&one("i.entity =", entity.clone().into()));
    }
    if let Some(y) = request.year_from {
        sql.push_str(&one("i.year >=", i64::from(y).into()));
    }
    if let Some(y) = request.year_to {
        sql.push_str(&one("i.year <=", i64::from(y).into()));
    }
    sql
}

impl ClearStatsSource for SqliteStore {
    fn clear_event_counts(&self, window: &StatsWindow) -> R<Vec<ClearEventCounts>> {
        let conn = self.reader()?;
        let (since, until) = window_micros(window);
        // The Monday on or before the event's day: back six days, then forward to a Monday.
        let mut stmt = conn
            .prepare(
                "SELECT date(time_event / 1000000, 'unixepoch', '-6 days', 'weekday 1'), classification_type, COUNT(*)
                 FROM events WHERE tlp = 'CLEAR' AND time_event >= ?1 AND time_event < ?2
                 GROUP BY 1, 2",
            )
            .map_err(e("counting TLP:CLEAR events"))?;
        let rows = stmt
            .query_map(params![since, until], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(e("counting TLP:CLEAR events"))?;
        let mut out = Vec::new();
        for row in rows {
            let (week, t, n) = row.map_err(e("counting TLP:CLEAR events"))?;
            out.push(ClearEventCounts {
                week: week
                    .parse()
                    .map_err(|err| StorageError::Invalid(format!("week {week:?}: {err}")))?,
                classification_type: t,
                count: n as u64,
            });
        }
        Ok(out)
    }

    fn clear_infected_hosts(&self, window: &StatsWindow) -> R<Vec<HostCell>> {
        let conn = self.reader()?;
        let (since, until) = window_micros(window);
        // SQLite takes the bare columns of an aggregate query from the row holding MAX(seq):
        // each address's latest event gives its country and ASN.
        let mut stmt = conn
            .prepare(
                "SELECT cc, asn, COUNT(*) FROM (
                     SELECT source_ip, source_cc AS cc, source_asn AS asn, MAX(seq)
                     FROM events
                     WHERE tlp = 'CLEAR' AND classification_type = 'infected-system' AND source_ip IS NOT NULL
                       AND time_event >= ?1 AND time_event < ?2
                     GROUP BY source_ip)
                 GROUP BY 1, 2",
            )
            .map_err(e("counting infected hosts"))?;
        stmt.query_map(params![since, until], |r| {
            Ok(HostCell {
                country: r.get(0)?,
                asn: r.get::<_, Option<i64>>(1)?.map(|a| a as u32),
                hosts: r.get::<_, i64>(2)? as u64,
            })
        })
        .map_err(e("counting infected hosts"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(e("counting infected hosts"))
    }

    fn clear_resolved_incidents(&self, window: &StatsWindow) -> R<Option<Vec<ResolvedIncident>>> {
        let conn = self.reader()?;
        let (since, until) = window_micros(window);
        // Time to resolution: from creation to the first transition to `resolved`.
        let mut stmt = conn
            .prepare(
                "SELECT i.created_at, MIN(t.at) FROM incidents i
                 JOIN incident_timeline t ON t.incident_id = i.id
                 WHERE i.tlp = 'CLEAR' AND t.kind = 'transition' AND json_extract(t.detail, '$.to') = 'resolved'
                 GROUP BY i.id
                 HAVING MIN(t.at) >= ?1 AND MIN(t.at) < ?2",
            )
            .map_err(e("reading resolved incidents"))?;
        let rows = stmt
            .query_map(params![since, until], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(e("reading resolved incidents"))?;
        let mut out = Vec::new();
        for row in rows {
            let (created, resolved) = row.map_err(e("reading resolved incidents"))?;
            out.push(ResolvedIncident {
                resolved_at: from_micros(resolved)?,
                hours: (resolved - created).max(0) as f64 / 3_600_000_000.0,
            });
        }
        Ok(Some(out))
    }
}
