//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through one connection behind a mutex (SQLite allows one writer at a time anyway);
//! reads take a connection of their own from a small pool ([`ReaderPool`]), so a long export
//! never blocks an ingest, and reads do not open a connection each.

mod assess;
mod audit;
mod awareness;
pub(crate) use awareness::awareness_summary;
mod events;
mod identity;
mod idset;
mod incidents;
mod migrate;
mod outbox;
mod pulls;
pub mod search;
mod sharing;
mod web;

use crate::constituents::{self, Outcome, StoredColumns};
use crate::*;
use focal_model::Constituent;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: ReaderPool,
    /// The audit chain's key (see `crate::audit_chain`).
    audit_key: crate::audit_chain::KeySlot,
}

/// Reader connections kept for reuse: at most [`IDLE_READERS`]; more are opened when more
/// reads run at once (the server bounds that: `focal_server::limits`) and closed after.
#[derive(Default)]
struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
}

/// Idle reader connections kept.
const IDLE_READERS: usize = 8;
/// A reader's page cache, in KiB (8 MiB).
const READER_CACHE_KIB: i64 = 8 * 1024;

/// A pooled reader connection; back to the pool when dropped, unless a transaction is left
/// open on it (then it is closed, rolling that back).
struct Reader<'a> {
    conn: Option<Connection>,
    pool: &'a ReaderPool,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a reader holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("a reader holds its connection until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.is_autocommit()
        {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
    }
}

fn err(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sqlite { context, source }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl SqliteStore {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Self::connect(path)?;
        migrate::run(&mut conn, path)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: ReaderPool::default(),
            audit_key: Default::default(),
        })
    }

    /// Creates (or upgrades) the database at `path` only up to schema `version`, and closes it:
    /// for tests that make a store as an older release left it, then open it with [`Self::open`].
    #[doc(hidden)]
    pub fn migrate_to(path: &Path, version: i64) -> Result<()> {
        let mut conn = Self::connect(path)?;
        migrate::run_to(&mut conn, path, version)
    }

    fn connect(path: &Path) -> Result<Connection> {
        let conn = Connection::open(path).map_err(err("opening the database"))?;
        // WAL lets readers run beside the writer; synchronous=NORMAL keeps every committed
        // transaction across a process crash (only an OS crash or power loss can cost the last
        // commits, never consistency).
        conn.execute_batch(
            "PRAGMA page_size = 16384;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 10000;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -131072;",
        )
        .map_err(err("setting connection options"))?;
        Ok(conn)
    }

    /// A connection for reading, from the pool (or opened, when every pooled one is in use).
    /// Its page cache is [`READER_CACHE_KIB`]: every reader held at once costs that much at
    /// most, where each used to be allowed the writer's 128 MiB.
    fn reader(&self) -> Result<Reader<'_>> {
        let idle = self
            .readers
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Self::connect(&self.path)?;
                c.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};"))
                    .map_err(err("setting connection options"))?;
                c
            }
        };
        Ok(Reader {
            conn: Some(conn),
            pool: &self.readers,
        })
    }

    /// A connection of its own, not pooled, for work that changes the connection's settings
    /// (a busy timeout of its own, a memory map) or writes outside the writer.
    fn dedicated(&self) -> Result<Connection> {
        Self::connect(&self.path)
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock means a panic mid-write; SQLite rolled the transaction back, so the
        // connection is still usable.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key to seal audit entries with; taken before a transaction that appends starts.
    fn audit_key(&self) -> Result<Option<crate::audit_chain::AuditKey>> {
        self.audit_key.for_append()
    }

    /// True while an ingest holds this database's ingest lock (another process's or this
    /// one's). The lock is only tried and released again, so the answer can be stale by the time
    /// it is used: a scheduler uses it to put a pull off rather than queue behind a long ingest;
    /// an ingest that starts anyway simply waits for the lock.
    pub fn ingest_busy(&self) -> Result<bool> {
        let lock_path = self.path.with_extension("ingest-lock");
        let lock = std::fs::File::create(&lock_path).map_err(|source| StoreError::Io {
            path: lock_path.display().to_string(),
            source,
        })?;
        Ok(lock.try_lock().is_err())
    }
}

/// Holds the write connection for the whole run; a transaction is open between the first write
/// after a commit and the next commit.
struct SqliteRunWriter<'a> {
    conn: std::sync::MutexGuard<'a, Connection>,
    run_id: i64,
    sha256: String,
    feed: String,
    file_name: String,
    open: bool,
    /// ASNs whose name this writer has already stored.
    as_names_written: std::collections::HashMap<u32, std::sync::Arc<str>>,
    /// Ids of stored events in the windows loaded so far, plus those written by this writer.
    known: idset::IdSet,
    loaded: std::collections::HashSet<(i64, i64)>,
    /// Ids written since the last commit, by window: saved as dedup chunks at commit.
    pending: std::collections::HashMap<(i64, i64), Vec<[u8; 16]>>,
    /// Stopped (after a last checkpoint) when the writer is dropped.
    _checkpointer: Checkpointer,
    /// Held for the writer's life: one ingest at a time per database, so that the known ids
    /// cannot go stale under another writer.
    _lock: std::fs::File,
}

/// Runs passive WAL checkpoints on its own connection while a run writes.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: PathBuf) -> Checkpointer {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let Ok(conn) = SqliteStore::connect(&path) else {
                    return;
                };
                loop {
                    let done = !matches!(
                        stopped.recv_timeout(std::time::Duration::from_millis(250)),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    );
                    // PASSIVE never blocks the writer; a failed checkpoint is retried on the next tick,
                    // and SQLite checkpoints again when the last connection closes.
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                    if done {
                        return;
                    }
                }
            })
            .ok();
        Checkpointer {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SqliteRunWriter<'_> {
    /// Adds the ids of every stored event of a de-duplication window to the known set.
    fn load_window(&mut self, (window, bucket): (i64, i64)) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ids FROM dedup_chunks WHERE window = ?1 AND bucket = ?2")
            .map_err(err("loading event ids"))?;
        let mut rows = stmt
            .query(params![window, bucket])
            .map_err(err("loading event ids"))?;
        while let Some(row) = rows.next().map_err(err("loading event ids"))? {
            let ids = row
                .get_ref(0)
                .and_then(|v| v.as_blob().map_err(Into::into))
                .map_err(err("loading event ids"))?;
            for id in ids.chunks_exact(16) {
                let mut b = [0u8; 16];
                b.copy_from_slice(id);
                self.known.insert(u128::from_be_bytes(b));
            }
        }
        self.loaded.insert((window, bucket));
        Ok(())
    }

    fn begin(&mut self) -> Result<()> {
        if !self.open {
            // IMMEDIATE takes the write lock now, so the commit cannot fail for a lock upgrade.
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(err("starting a transaction"))?;
            self.open = true;
        }
        Ok(())
    }
}

impl RunWriter for SqliteRunWriter<'_> {
    fn write(&mut self, events: &[EncodedEvent], rejections: &[QuarantineEntry]) -> Result<u64> {
        self.begin()?;
        // Drop events already stored or already written by this run, keeping the first
        // record of each id in file order.
        let mut fresh: Vec<&EncodedEvent> = Vec::with_capacity(events.len());
        for e in events {
            if !self.loaded.contains(&e.bucket) {
                self.load_window(e.bucket)?;
            }
            if self.known.insert(u128::from_be_bytes(e.id)) {
                self.pending.entry(e.bucket).or_default().push(e.id);
                fresh.push(e);
            }
        }
        let inserted =
            events::insert(&self.conn, self.run_id, &fresh).map_err(err("writing events"))?;
        let mut names = self
            .conn
            .prepare_cached(
                "INSERT INTO as_names (asn, name) VALUES (?1, ?2)
                 ON CONFLICT(asn) DO UPDATE SET name = excluded.name WHERE name != excluded.name",
            )
            .map_err(err("writing AS names"))?;
        for e in events {
            if let (Some(asn), Some(name)) = (e.source_asn, &e.source_as_name)
                && self.as_names_written.get(&asn) != Some(name)
            {
                names
                    .execute(params![asn, &**name])
                    .map_err(err("writing AS names"))?;
                self.as_names_written.insert(asn, name.clone());
            }
        }
        drop(names);
        if !rejections.is_empty() {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO quarantine (run_id, sha256, feed, file_name, line, kind, field, reason, raw, quarantined_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(err("writing quarantine"))?;
            let stamp = now();
            for q in rejections {
                stmt.execute(params![
                    self.run_id,
                    self.sha256,
                    self.feed,
                    self.file_name,
                    q.line as i64,
                    q.kind,
                    q.field,
                    q.reason,
                    q.raw,
                    stamp
                ])
                .map_err(err("writing quarantine"))?;
            }
        }
        Ok(inserted)
    }

    fn commit(&mut self, progress: &RunProgress) -> Result<()> {
        self.begin()?;
        {
            let mut chunk = self
                .conn
                .prepare_cached("INSERT INTO dedup_chunks (window, bucket, run_id, ids) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err("saving event ids"))?;
            for ((window, bucket), mut ids) in self.pending.drain() {
                ids.sort_unstable();
                chunk
                    .execute(params![window, bucket, self.run_id, ids.concat()])
                    .map_err(err("saving event ids"))?;
            }
        }
        save_progress(&self.conn, self.run_id, progress).map_err(err("saving run progress"))?;
        self.conn
            .execute_batch("COMMIT")
            .map_err(err("committing"))?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteRunWriter<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: an uncommitted run is resumed from its last commit anyway.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let _ = self.conn.execute_batch("PRAGMA wal_autocheckpoint = 1000");
    }
}

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        feed: row.get(1)?,
        file_name: row.get(2)?,
        sha256: row.get(3)?,
        size: row.get::<_, i64>(4)? as u64,
        status: RunStatus::parse(&row.get::<_, String>(5)?),
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        resumed_from: row.get(8)?,
        progress: RunProgress {
            rows_read: row.get::<_, i64>(9)? as u64,
            events_stored: row.get::<_, i64>(10)? as u64,
            duplicates: row.get::<_, i64>(11)? as u64,
            quarantined: row.get::<_, i64>(12)? as u64,
            offset: row.get::<_, i64>(13)? as u64,
            line: row.get::<_, i64>(14)? as u64,
        },
    })
}

const RUN_COLUMNS: &str = "id, feed, file_name, sha256, size, status, started_at, finished_at, resumed_from, \
     rows_read, events_stored, duplicates, quarantined, resume_offset, resume_line";

/// A quarantine row as selected by `id, run_id, feed, file_name, line, kind, field, reason, raw,
/// quarantined_at`.
pub(super) fn quarantine_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QuarantineRecord> {
    let raw: Vec<u8> = r.get(8)?;
    Ok(QuarantineRecord {
        id: r.get(0)?,
        run_id: r.get(1)?,
        feed: r.get(2)?,
        file_name: r.get(3)?,
        line: r.get::<_, i64>(4)? as u64,
        kind: r.get(5)?,
        field: r.get(6)?,
        reason: r.get(7)?,
        raw: String::from_utf8_lossy(&raw).into_owned(),
        raw_hex: raw.iter().map(|b| format!("{b:02x}")).collect(),
        quarantined_at: r.get(9)?,
    })
}

fn save_progress(conn: &Connection, run_id: i64, p: &RunProgress) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE runs SET rows_read = ?2, events_stored = ?3, duplicates = ?4, quarantined = ?5,
                resume_offset = ?6, resume_line = ?7 WHERE id = ?1",
    )?
    .execute(params![
        run_id,
        p.rows_read as i64,
        p.events_stored as i64,
        p.duplicates as i64,
        p.quarantined as i64,
        p.offset as i64,
        p.line as i64
    ])
}

/// The seven stored columns after the id, starting at column `at`.
fn stored_columns(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<StoredColumns> {
    Ok(StoredColumns {
        name: r.get(at)?,
        abuse_email: r.get(at + 1)?,
        asns: r.get(at + 2)?,
        netblocks: r.get(at + 3)?,
        domains: r.get(at + 4)?,
        language: r.get(at + 5)?,
        also_notify: r.get(at + 6)?,
    })
}

impl SqliteStore {
    /// Upserts constituents in one transaction, with their audit entries when `how` is given.
    fn write_constituents(
        &self,
        list: &[Constituent],
        how: Option<&ConstituentSave<'_>>,
    ) -> Result<ImportSummary> {
        let key = match how {
            Some(_) => self.audit_key()?,
            None => None,
        };
        let mut conn = self.writer();
        let tx = conn
            .transaction()
            .map_err(err("starting the constituent import"))?;
        let mut summary = ImportSummary::default();
        {
            let mut find = tx
                .prepare("SELECT name, abuse_email, asns, netblocks, domains, language, also_notify FROM constituents WHERE id = ?1")
                .map_err(err("preparing the constituent import"))?;
            let mut upsert = tx
                .prepare(
                    "INSERT INTO constituents (id, name, abuse_email, asns, netblocks, domains, created_at, updated_at, language, also_notify)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name, abuse_email = excluded.abuse_email,
                        asns = excluded.asns, netblocks = excluded.netblocks, domains = excluded.domains,
                        updated_at = excluded.updated_at, language = excluded.language,
                        also_notify = excluded.also_notify",
                )
                .map_err(err("preparing the constituent import"))?;
            let mut chain = None;
            let stamp = now();
            let mode = how.map(|h| h.mode).unwrap_or(SaveMode::Import);
            for c in list {
                let existing = find
                    .query_row([&c.id], |r| stored_columns(r, 0))
                    .optional()
                    .map_err(err("reading a constituent"))?
                    .map(|cols| cols.decode(&c.id))
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
                upsert
                    .execute(params![
                        c.id,
                        c.name,
                        c.abuse_email,
                        asns,
                        nets,
                        domains,
                        stamp,
                        c.language,
                        also_notify
                    ])
                    .map_err(err("writing a constituent"))?;
                if let Some(how) = how {
                    let (action, subject, before, after) =
                        constituents::audit_entry(c, existing.as_ref(), how)?;
                    let chain = match &mut chain {
                        Some(chain) => chain,
                        None => chain.insert(
                            audit::Chain::load(&tx, key.clone())
                                .map_err(err("reading the audit log"))?,
                        ),
                    };
                    chain
                        .append(
                            &tx,
                            how.actor,
                            action,
                            &subject,
                            before.as_ref(),
                            Some(&after),
                        )
                        .map_err(err("writing an audit entry"))?;
                }
            }
        }
        tx.commit()
            .map_err(err("committing the constituent import"))?;
        Ok(summary)
    }
}

impl Store for SqliteStore {
    fn schema_version(&self) -> Result<i64> {
        migrate::current(&self.writer())
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
        self.path.display().to_string()
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
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT id, name, abuse_email, asns, netblocks, domains, language, also_notify FROM constituents ORDER BY pk")
            .map_err(err("listing constituents"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, stored_columns(r, 1)?)))
            .map_err(err("listing constituents"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, columns) = row.map_err(err("listing constituents"))?;
            out.push(columns.decode(&id)?);
        }
        Ok(out)
    }

    fn find_run(&self, sha256: &str, feed: &str) -> Result<Option<RunRecord>> {
        let conn = self.writer();
        conn.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE sha256 = ?1 AND feed = ?2 AND status != 'already_ingested' ORDER BY id DESC LIMIT 1"),
            params![sha256, feed],
            run_from_row,
        )
        .optional()
        .map_err(err("looking up earlier runs"))
    }

    fn begin_run(&self, run: &NewRun) -> Result<RunRecord> {
        let conn = self.writer();
        let p = &run.progress;
        conn.execute(
            "INSERT INTO runs (feed, file_name, sha256, size, status, started_at, resumed_from,
                               rows_read, events_stored, duplicates, quarantined, resume_offset, resume_line,
                               feed_provider, feed_url, observed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                run.feed,
                run.file_name,
                run.sha256,
                run.size as i64,
                run.status.as_str(),
                now(),
                run.resumed_from,
                p.rows_read as i64,
                p.events_stored as i64,
                p.duplicates as i64,
                p.quarantined as i64,
                p.offset as i64,
                p.line as i64,
                run.feed_provider,
                run.feed_url,
                run.observed.as_microsecond()
            ],
        )
        .map_err(err("recording the run"))?;
        let id = conn.last_insert_rowid();
        conn.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_from_row,
        )
        .map_err(err("reading the run back"))
    }

    fn run_writer(&self, run_id: i64) -> Result<Box<dyn RunWriter + '_>> {
        // The ingest lock first, the writer connection second: waiting for another ingest must
        // not hold the connection every other write (a TAXII POST, a transition) needs.
        let lock_path = self.path.with_extension("ingest-lock");
        let lock = std::fs::File::create(&lock_path).map_err(|source| StoreError::Io {
            path: lock_path.display().to_string(),
            source,
        })?;
        if lock.try_lock().is_err() {
            tracing::info!(lock = %lock_path.display(), "Waiting for another ingest into this database to finish.");
            lock.lock().map_err(|source| StoreError::Io {
                path: lock_path.display().to_string(),
                source,
            })?;
        }
        let conn = self.writer();
        let (sha256, feed, file_name): (String, String, String) = conn
            .query_row(
                "SELECT sha256, feed, file_name FROM runs WHERE id = ?1",
                [run_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(err("reading the run"))?;
        // Checkpoints (copying the WAL into the database file) move to a thread of their own for
        // the run, so the writer only appends to the WAL.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0")
            .map_err(err("configuring the writer"))?;
        let checkpointer = Checkpointer::start(self.path.clone());
        Ok(Box::new(SqliteRunWriter {
            conn,
            run_id,
            sha256,
            feed,
            file_name,
            open: false,
            as_names_written: Default::default(),
            known: Default::default(),
            loaded: Default::default(),
            pending: Default::default(),
            _checkpointer: checkpointer,
            _lock: lock,
        }))
    }

    fn finish_run(&self, run_id: i64, progress: &RunProgress, status: RunStatus) -> Result<()> {
        let conn = self.writer();
        save_progress(&conn, run_id, progress).map_err(err("saving run progress"))?;
        conn.execute(
            "UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1",
            params![run_id, status.as_str(), now()],
        )
        .map_err(err("finishing the run"))?;
        Ok(())
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(err("listing runs"))?;
        let rows = stmt
            .query_map([limit as i64], run_from_row)
            .map_err(err("listing runs"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing runs"))
    }

    fn events(
        &self,
        filter: &EventFilter,
        visit: &mut dyn FnMut(Event) -> Result<()>,
    ) -> Result<()> {
        let conn = self.reader()?;
        events::query(&conn, filter, visit)
    }

    fn quarantine(&self, filter: &QuarantineFilter) -> Result<Vec<QuarantineRecord>> {
        let conn = self.reader()?;
        let mut sql = String::from(
            "SELECT id, run_id, feed, file_name, line, kind, field, reason, raw, quarantined_at FROM quarantine WHERE 1=1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(run) = filter.run_id {
            args.push(run.into());
            sql.push_str(&format!(" AND run_id = ?{}", args.len()));
        }
        if let Some(kind) = &filter.kind {
            args.push(kind.clone().into());
            sql.push_str(&format!(" AND kind = ?{}", args.len()));
        }
        if let Some(feed) = &filter.feed {
            args.push(feed.clone().into());
            sql.push_str(&format!(" AND feed = ?{}", args.len()));
        }
        sql.push_str(" ORDER BY id");
        if let Some(limit) = filter.limit {
            args.push((limit as i64).into());
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        let mut stmt = conn.prepare(&sql).map_err(err("listing the quarantine"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), quarantine_from_row)
            .map_err(err("listing the quarantine"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing the quarantine"))
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
        let conn = self.reader()?;
        let count = |sql: &str| -> Result<u64> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(err("counting"))
        };
        let grouped = |sql: &str| -> Result<std::collections::BTreeMap<String, u64>> {
            let mut stmt = conn.prepare(sql).map_err(err("counting"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .map_err(err("counting"))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(err("counting"))
        };
        let per_constituent = grouped(
            "SELECT constituent, COUNT(*) FROM events INDEXED BY events_by_constituent
             WHERE constituent IS NOT NULL GROUP BY constituent",
        )?;
        Ok(Stats {
            events: count("SELECT COUNT(*) FROM events")?,
            quarantined: count("SELECT COUNT(*) FROM quarantine")?,
            unassigned: count(
                "SELECT COUNT(*) FROM events INDEXED BY events_by_constituent WHERE constituent IS NULL",
            )?,
            constituents: count("SELECT COUNT(*) FROM constituents")?,
            constituents_with_events: per_constituent.len() as u64,
            per_constituent,
            by_type: grouped(
                "SELECT classification_type, COUNT(*) FROM events GROUP BY classification_type",
            )?,
            by_feed: grouped(
                "SELECT runs.feed, SUM(n) FROM (SELECT run_id, COUNT(*) AS n FROM events GROUP BY run_id) AS per_run
                 JOIN runs ON runs.id = per_run.run_id GROUP BY runs.feed",
            )?,
            quarantined_by_kind: grouped("SELECT kind, COUNT(*) FROM quarantine GROUP BY kind")?,
            runs: count("SELECT COUNT(*) FROM runs")?,
        })
    }
}
