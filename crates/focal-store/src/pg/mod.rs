//! The server backend: PostgreSQL, for several processes on several machines.
//!
//! Differences from the SQLite backend, and why:
//! - Event ids are kept unique by a constraint and `INSERT ... ON CONFLICT DO NOTHING`, because
//!   several writers (distributed workers) insert at once; no process holds the truth in memory.
//! - Events are bulk-loaded with binary `COPY` into a per-connection staging table.
//! - Connections come from a pool (r2d2): a long export, an ingest and a worker's chunk each
//!   take their own. A pooled connection is checked on checkout, so after the server restarts
//!   the pool reconnects instead of handing out dead connections.
//!
//! The driver is the synchronous `postgres` crate, matching the synchronous [`Store`] trait; it
//! must not be called from inside an async runtime's worker thread (use `spawn_blocking`).

mod assess;
mod audit;
mod awareness;
mod events;
mod jobs;
mod migrate;
mod pulls;

use crate::constituents::{self, Outcome, StoredColumns};
use crate::location::{check_schema_name, redact_url};
use crate::*;
use focal_model::Constituent;
use postgres::{Client, NoTls};
use r2d2_postgres::PostgresConnectionManager;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

pub struct PostgresStore {
    pool: Pool,
    /// The URL without its password, for messages.
    shown: String,
    /// The audit chain's key (see `crate::audit_chain`).
    audit_key: crate::audit_chain::KeySlot,
}

fn err(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { context, source }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl PostgresStore {
    /// Connects, creates `schema` if one is given (all of Focal's tables then live in it), and
    /// applies pending migrations.
    pub fn open(url: &str, schema: Option<&str>) -> Result<Self> {
        let shown = match schema {
            Some(s) => format!("{} (schema {s})", redact_url(url)),
            None => redact_url(url),
        };
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StoreError::Invalid(format!(
                "{} is not a valid PostgreSQL URL: {e}",
                redact_url(url)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if let Some(schema) = schema {
            check_schema_name(schema)?;
            let connect_err = |source| StoreError::Postgres {
                context: "connecting",
                source,
            };
            let mut client = config.connect(NoTls).map_err(connect_err)?;
            // Checked above to be a plain identifier, so quoting it is safe. The advisory lock
            // keeps parallel first starts from racing on CREATE SCHEMA.
            let mut tx = client.transaction().map_err(err("creating the schema"))?;
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&schema])
                .map_err(err("creating the schema"))?;
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .map_err(err("creating the schema"))?;
            tx.commit().map_err(err("creating the schema"))?;
            config.options(&format!("-c search_path=\"{schema}\""));
        }
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(15))
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        let store = PostgresStore {
            pool,
            shown,
            audit_key: Default::default(),
        };
        let mut conn = store.conn("connecting")?;
        migrate::run(&mut conn, &store.shown)?;
        Ok(store)
    }

    fn conn(&self, context: &'static str) -> Result<Conn> {
        self.pool.get().map_err(|source| StoreError::Connect {
            context,
            url: self.shown.clone(),
            source,
        })
    }
}

/// Writes quarantined records, skipping those already stored for the same content and line.
fn insert_quarantine(
    client: &mut Client,
    run_id: i64,
    (sha256, feed, file_name): (&str, &str, &str),
    rejections: &[QuarantineEntry],
) -> Result<()> {
    if rejections.is_empty() {
        return Ok(());
    }
    let stmt = client
        .prepare(
            "INSERT INTO quarantine (run_id, sha256, feed, file_name, line, kind, field, reason, raw, quarantined_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (sha256, feed, line) DO NOTHING",
        )
        .map_err(err("writing quarantine"))?;
    let stamp = now();
    for q in rejections {
        client
            .execute(
                &stmt,
                &[
                    &run_id,
                    &sha256,
                    &feed,
                    &file_name,
                    &(q.line as i64),
                    &q.kind,
                    &q.field,
                    &q.reason,
                    &q.raw,
                    &stamp,
                ],
            )
            .map_err(err("writing quarantine"))?;
    }
    Ok(())
}

/// Stores AS names not yet known with the same name. Names are read first and only the missing
/// or changed ones written, in ASN order: an upsert locks its row even when nothing changes, and
/// concurrent workers would otherwise queue behind each other on popular ASNs.
fn upsert_as_names(
    client: &mut Client,
    events: &[EncodedEvent],
    cache: &mut HashMap<u32, Arc<str>>,
) -> Result<()> {
    let mut wanted: std::collections::BTreeMap<u32, &Arc<str>> = Default::default();
    for e in events {
        if let (Some(asn), Some(name)) = (e.source_asn, &e.source_as_name)
            && cache.get(&asn) != Some(name)
        {
            wanted.insert(asn, name);
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let asns: Vec<i64> = wanted.keys().map(|a| i64::from(*a)).collect();
    let stored = client
        .query(
            "SELECT asn, name FROM as_names WHERE asn = ANY($1)",
            &[&asns],
        )
        .map_err(err("reading AS names"))?;
    for row in stored {
        let (asn, name): (i64, String) = (row.get(0), row.get(1));
        let asn = asn as u32;
        if wanted.get(&asn).is_some_and(|w| ***w == *name)
            && let Some(w) = wanted.remove(&asn)
        {
            cache.insert(asn, w.clone());
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let asns: Vec<i64> = wanted.keys().map(|a| i64::from(*a)).collect();
    let names: Vec<&str> = wanted.values().map(|n| &***n).collect();
    client
        .execute(
            "INSERT INTO as_names (asn, name) SELECT * FROM unnest($1::BIGINT[], $2::TEXT[])
             ON CONFLICT (asn) DO UPDATE SET name = excluded.name WHERE as_names.name <> excluded.name",
            &[&asns, &names],
        )
        .map_err(err("writing AS names"))?;
    for (asn, name) in wanted {
        cache.insert(asn, name.clone());
    }
    Ok(())
}

fn save_progress(client: &mut Client, run_id: i64, p: &RunProgress) -> Result<()> {
    client
        .execute(
            "UPDATE runs SET rows_read = $2, events_stored = $3, duplicates = $4, quarantined = $5,
                    resume_offset = $6, resume_line = $7 WHERE id = $1",
            &[
                &run_id,
                &(p.rows_read as i64),
                &(p.events_stored as i64),
                &(p.duplicates as i64),
                &(p.quarantined as i64),
                &(p.offset as i64),
                &(p.line as i64),
            ],
        )
        .map_err(err("saving run progress"))?;
    Ok(())
}

const RUN_COLUMNS: &str = "id, feed, file_name, sha256, size, status, started_at, finished_at, resumed_from, \
     rows_read, events_stored, duplicates, quarantined, resume_offset, resume_line";

fn run_from_row(row: &postgres::Row) -> RunRecord {
    let n = |i: usize| row.get::<_, i64>(i) as u64;
    RunRecord {
        id: row.get(0),
        feed: row.get(1),
        file_name: row.get(2),
        sha256: row.get(3),
        size: n(4),
        status: RunStatus::parse(row.get(5)),
        started_at: row.get(6),
        finished_at: row.get(7),
        resumed_from: row.get(8),
        progress: RunProgress {
            rows_read: n(9),
            events_stored: n(10),
            duplicates: n(11),
            quarantined: n(12),
            offset: n(13),
            line: n(14),
        },
    }
}

fn insert_run(client: &mut impl postgres::GenericClient, run: &NewRun) -> Result<RunRecord> {
    let p = &run.progress;
    let row = client
        .query_one(
            &format!(
                "INSERT INTO runs (feed, file_name, sha256, size, status, started_at, resumed_from,
                               rows_read, events_stored, duplicates, quarantined, resume_offset, resume_line,
                               feed_provider, feed_url, observed)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 RETURNING {RUN_COLUMNS}"
            ),
            &[
                &run.feed,
                &run.file_name,
                &run.sha256,
                &(run.size as i64),
                &run.status.as_str(),
                &now(),
                &run.resumed_from,
                &(p.rows_read as i64),
                &(p.events_stored as i64),
                &(p.duplicates as i64),
                &(p.quarantined as i64),
                &(p.offset as i64),
                &(p.line as i64),
                &run.feed_provider,
                &run.feed_url,
                &run.observed.as_microsecond(),
            ],
        )
        .map_err(err("recording the run"))?;
    Ok(run_from_row(&row))
}

/// Holds one pooled connection for the run; a transaction is open between the first write after
/// a commit and the next commit.
struct PostgresRunWriter {
    conn: Conn,
    run_id: i64,
    sha256: String,
    feed: String,
    file_name: String,
    open: bool,
    as_names: HashMap<u32, Arc<str>>,
}

impl PostgresRunWriter {
    fn begin(&mut self) -> Result<()> {
        if !self.open {
            self.conn
                .batch_execute("BEGIN")
                .map_err(err("starting a transaction"))?;
            self.open = true;
        }
        Ok(())
    }
}

impl RunWriter for PostgresRunWriter {
    fn write(&mut self, events: &[EncodedEvent], rejections: &[QuarantineEntry]) -> Result<u64> {
        self.begin()?;
        let inserted = events::insert(&mut self.conn, self.run_id, events)?;
        upsert_as_names(&mut self.conn, events, &mut self.as_names)?;
        insert_quarantine(
            &mut self.conn,
            self.run_id,
            (&self.sha256, &self.feed, &self.file_name),
            rejections,
        )?;
        Ok(inserted)
    }

    fn commit(&mut self, progress: &RunProgress) -> Result<()> {
        self.begin()?;
        save_progress(&mut self.conn, self.run_id, progress)?;
        self.conn
            .batch_execute("COMMIT")
            .map_err(err("committing"))?;
        self.open = false;
        Ok(())
    }
}

impl Drop for PostgresRunWriter {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: an uncommitted run is resumed from its last commit anyway.
            let _ = self.conn.batch_execute("ROLLBACK");
        }
    }
}

/// The seven stored columns after the id, starting at column `at`.
fn stored_columns(r: &postgres::Row, at: usize) -> StoredColumns {
    StoredColumns {
        name: r.get(at),
        abuse_email: r.get(at + 1),
        asns: r.get(at + 2),
        netblocks: r.get(at + 3),
        domains: r.get(at + 4),
        language: r.get(at + 5),
        also_notify: r.get(at + 6),
    }
}

impl PostgresStore {
    /// Upserts constituents in one transaction, with their audit entries when `how` is given.
    fn write_constituents(
        &self,
        list: &[Constituent],
        how: Option<&ConstituentSave<'_>>,
    ) -> Result<ImportSummary> {
        let key = match how {
            Some(_) => self.audit_key.for_append()?,
            None => None,
        };
        let mut conn = self.conn("importing constituents")?;
        let mut tx = conn
            .transaction()
            .map_err(err("starting the constituent import"))?;
        // The audit lock first, then row locks: every writer takes them in this order.
        let mut chain = match how {
            Some(_) => Some(audit::Chain::lock(&mut tx, key)?),
            None => None,
        };
        let mut summary = ImportSummary::default();
        let stamp = now();
        let mode = how.map(|h| h.mode).unwrap_or(SaveMode::Import);
        for c in list {
            let existing = tx
                .query_opt(
                    "SELECT name, abuse_email, asns, netblocks, domains, language, also_notify FROM constituents WHERE id = $1 FOR UPDATE",
                    &[&c.id],
                )
                .map_err(err("reading a constituent"))?
                .map(|r| stored_columns(&r, 0).decode(&c.id))
                .transpose()?;
            match constituents::decide(c, existing.as_ref(), mode)? {
                Outcome::Unchanged => {
                    summary.unchanged += 1;
                    continue;
                }
                Outcome::Updated => summary.updated += 1,
                Outcome::Added => summary.added += 1,
            }
            let (asns, nets, domains, also_notify) = constituents::list_columns(c);
            tx.execute(
                "INSERT INTO constituents (id, name, abuse_email, asns, netblocks, domains, created_at, updated_at, language, also_notify)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, abuse_email = excluded.abuse_email,
                    asns = excluded.asns, netblocks = excluded.netblocks, domains = excluded.domains,
                    updated_at = excluded.updated_at, language = excluded.language,
                    also_notify = excluded.also_notify",
                &[&c.id, &c.name, &c.abuse_email, &asns, &nets, &domains, &stamp, &c.language, &also_notify],
            )
            .map_err(err("writing a constituent"))?;
            if let (Some(how), Some(chain)) = (how, chain.as_mut()) {
                let (action, subject, before, after) =
                    constituents::audit_entry(c, existing.as_ref(), how)?;
                chain.append(
                    &mut tx,
                    how.actor,
                    action,
                    &subject,
                    before.as_ref(),
                    Some(&after),
                )?;
            }
        }
        tx.commit()
            .map_err(err("committing the constituent import"))?;
        Ok(summary)
    }
}

impl Store for PostgresStore {
    fn schema_version(&self) -> Result<i64> {
        migrate::current(&mut *self.conn("reading the schema version")?)
    }

    fn assessment(&self) -> Box<dyn focal_assessment::store::Storage + '_> {
        Box::new(crate::assess::Assess(self))
    }

    fn audit(&self) -> &dyn crate::incidents::AuditLog {
        self
    }

    fn awareness(&self) -> &dyn crate::AwarenessStore {
        self
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send + Sync> {
        self
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }

    fn jobs(&self) -> Option<&dyn JobStore> {
        Some(self)
    }

    fn import_constituents(&self, list: &[Constituent]) -> Result<ImportSummary> {
        self.write_constituents(list, None)
    }

    fn save_constituents(
        &self,
        list: &[Constituent],
        how: &ConstituentSave<'_>,
    ) -> Result<ImportSummary> {
        self.write_constituents(list, Some(how))
    }

    fn constituents(&self) -> Result<Vec<Constituent>> {
        let mut conn = self.conn("listing constituents")?;
        let rows = conn
            .query(
                "SELECT id, name, abuse_email, asns, netblocks, domains, language, also_notify FROM constituents ORDER BY pk",
                &[],
            )
            .map_err(err("listing constituents"))?;
        rows.iter()
            .map(|r| stored_columns(r, 1).decode(r.get(0)))
            .collect()
    }

    fn find_run(&self, sha256: &str, feed: &str) -> Result<Option<RunRecord>> {
        let mut conn = self.conn("looking up earlier runs")?;
        let row = conn
            .query_opt(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE sha256 = $1 AND feed = $2
                     AND status != 'already_ingested' ORDER BY id DESC LIMIT 1"
                ),
                &[&sha256, &feed],
            )
            .map_err(err("looking up earlier runs"))?;
        Ok(row.as_ref().map(run_from_row))
    }

    fn begin_run(&self, run: &NewRun) -> Result<RunRecord> {
        insert_run(&mut *self.conn("recording the run")?, run)
    }

    fn run_writer(&self, run_id: i64) -> Result<Box<dyn RunWriter + '_>> {
        let mut conn = self.conn("opening the run writer")?;
        let row = conn
            .query_one(
                "SELECT sha256, feed, file_name FROM runs WHERE id = $1",
                &[&run_id],
            )
            .map_err(err("reading the run"))?;
        Ok(Box::new(PostgresRunWriter {
            sha256: row.get(0),
            feed: row.get(1),
            file_name: row.get(2),
            conn,
            run_id,
            open: false,
            as_names: HashMap::new(),
        }))
    }

    fn finish_run(&self, run_id: i64, progress: &RunProgress, status: RunStatus) -> Result<()> {
        let mut conn = self.conn("finishing the run")?;
        save_progress(&mut conn, run_id, progress)?;
        conn.execute(
            "UPDATE runs SET status = $2, finished_at = $3 WHERE id = $1",
            &[&run_id, &status.as_str(), &now()],
        )
        .map_err(err("finishing the run"))?;
        Ok(())
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let mut conn = self.conn("listing runs")?;
        let rows = conn
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT $1"),
                &[&(limit as i64)],
            )
            .map_err(err("listing runs"))?;
        Ok(rows.iter().map(run_from_row).collect())
    }

    fn events(
        &self,
        filter: &EventFilter,
        visit: &mut dyn FnMut(Event) -> Result<()>,
    ) -> Result<()> {
        events::query(&mut *self.conn("listing events")?, filter, visit)
    }

    fn quarantine(&self, filter: &QuarantineFilter) -> Result<Vec<QuarantineRecord>> {
        let mut conn = self.conn("listing the quarantine")?;
        let mut sql = String::from(
            "SELECT id, run_id, feed, file_name, line, kind, field, reason, raw, quarantined_at FROM quarantine WHERE true",
        );
        let mut args: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
        if let Some(run) = filter.run_id {
            args.push(Box::new(run));
            sql.push_str(&format!(" AND run_id = ${}", args.len()));
        }
        if let Some(kind) = &filter.kind {
            args.push(Box::new(kind.clone()));
            sql.push_str(&format!(" AND kind = ${}", args.len()));
        }
        if let Some(feed) = &filter.feed {
            args.push(Box::new(feed.clone()));
            sql.push_str(&format!(" AND feed = ${}", args.len()));
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = filter.limit {
            args.push(Box::new(limit as i64));
            sql.push_str(&format!(" LIMIT ${}", args.len()));
        }
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            args.iter().map(|a| a.as_ref()).collect();
        let rows = conn
            .query(&sql, &refs)
            .map_err(err("listing the quarantine"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let raw: Vec<u8> = r.get(8);
                QuarantineRecord {
                    id: r.get(0),
                    run_id: r.get(1),
                    feed: r.get(2),
                    file_name: r.get(3),
                    line: r.get::<_, i64>(4) as u64,
                    kind: r.get(5),
                    field: r.get(6),
                    reason: r.get(7),
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                    raw_hex: raw.iter().map(|b| format!("{b:02x}")).collect(),
                    quarantined_at: r.get(9),
                }
            })
            .collect())
    }

    fn record_pull(&self, pull: &NewPull) -> Result<i64> {
        self.record_pull_impl(pull)
    }

    fn pulls(&self, feed: &str, before: i64, limit: usize) -> Result<Vec<PullRecord>> {
        self.pulls_impl(feed, before, limit)
    }

    fn latest_pulls(&self) -> Result<Vec<PullRecord>> {
        self.latest_pulls_impl()
    }

    fn last_good_pull(&self, feed: &str, url_sha256: &str) -> Result<Option<PullRecord>> {
        self.last_good_pull_impl(feed, url_sha256)
    }

    fn pull_counts(&self) -> Result<Vec<(String, PullResult, u64)>> {
        self.pull_counts_impl()
    }

    fn stats(&self) -> Result<Stats> {
        let mut conn = self.conn("counting")?;
        let mut count = |sql: &str| -> Result<u64> {
            conn.query_one(sql, &[])
                .map(|r| r.get::<_, i64>(0) as u64)
                .map_err(err("counting"))
        };
        let events = count("SELECT COUNT(*) FROM events")?;
        let quarantined = count("SELECT COUNT(*) FROM quarantine")?;
        let unassigned = count("SELECT COUNT(*) FROM events WHERE constituent IS NULL")?;
        let constituents = count("SELECT COUNT(*) FROM constituents")?;
        let runs = count("SELECT COUNT(*) FROM runs")?;
        let mut grouped = |sql: &str| -> Result<std::collections::BTreeMap<String, u64>> {
            let rows = conn.query(sql, &[]).map_err(err("counting"))?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
                .collect())
        };
        let per_constituent = grouped(
            "SELECT constituent, COUNT(*) FROM events WHERE constituent IS NOT NULL GROUP BY constituent",
        )?;
        Ok(Stats {
            events,
            quarantined,
            unassigned,
            constituents,
            constituents_with_events: per_constituent.len() as u64,
            per_constituent,
            by_type: grouped(
                "SELECT classification_type, COUNT(*) FROM events GROUP BY classification_type",
            )?,
            by_feed: grouped(
                "SELECT runs.feed, SUM(n)::BIGINT FROM (SELECT run_id, COUNT(*) AS n FROM events GROUP BY run_id) AS per_run
                 JOIN runs ON runs.id = per_run.run_id GROUP BY runs.feed",
            )?,
            quarantined_by_kind: grouped("SELECT kind, COUNT(*) FROM quarantine GROUP BY kind")?,
            runs,
        })
    }
}
