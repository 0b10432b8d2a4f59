//! [`JobStore`] on PostgreSQL.

use super::{
    Conn, PostgresStore, err, events, insert_quarantine, insert_run, now, upsert_as_names,
};
use crate::*;
use postgres::GenericClient;

const JOB_SELECT: &str = "SELECT j.id, j.run_id, j.feed, j.file_name, j.sha256, j.size, j.status,
        j.chunks_total, j.created_at, j.finished_at, j.feed_definition, j.header, j.header_line,
        r.observed, r.feed_provider, r.feed_url, j.chunk_records, j.chunk_bytes,
        COUNT(c.chunk_no) FILTER (WHERE c.status = 'done'),
        COALESCE(SUM(c.rows_read), 0)::BIGINT, COALESCE(SUM(c.events_stored), 0)::BIGINT,
        COALESCE(SUM(c.duplicates), 0)::BIGINT, COALESCE(SUM(c.quarantined), 0)::BIGINT
    FROM jobs AS j JOIN runs AS r ON r.id = j.run_id
    LEFT JOIN job_chunks AS c ON c.job_id = j.id AND c.status = 'done'";

const JOB_GROUP: &str = " GROUP BY j.id, r.id";

fn job_from_row(row: &postgres::Row) -> JobRecord {
    let n = |i: usize| row.get::<_, i64>(i) as u64;
    let header: Option<Vec<u8>> = row.get(11);
    let header_line: Option<i64> = row.get(12);
    JobRecord {
        id: row.get(0),
        run_id: row.get(1),
        feed: row.get(2),
        file_name: row.get(3),
        sha256: row.get(4),
        size: n(5),
        status: JobStatus::parse(row.get(6)),
        chunks_total: row.get::<_, Option<i32>>(7).map(|t| t as u32),
        created_at: row.get(8),
        finished_at: row.get(9),
        feed_definition: row.get(10),
        header: header.map(|h| (h, header_line.unwrap_or(1) as u64)),
        observed: row.get(13),
        feed_provider: row.get(14),
        feed_url: row.get(15),
        chunk_records: row.get::<_, i32>(16) as u32,
        chunk_bytes: row.get::<_, i32>(17) as u32,
        chunks_done: n(18) as u32,
        progress: RunProgress {
            rows_read: n(19),
            events_stored: n(20),
            duplicates: n(21),
            quarantined: n(22),
            offset: 0,
            line: 0,
        },
    }
}

fn load_job(client: &mut impl GenericClient, job_id: i64) -> Result<Option<JobRecord>> {
    let row = client
        .query_opt(
            &format!("{JOB_SELECT} WHERE j.id = $1{JOB_GROUP}"),
            &[&job_id],
        )
        .map_err(err("reading a job"))?;
    Ok(row.as_ref().map(job_from_row))
}

/// Completes the job and its run if every chunk is done. The caller holds the job's row lock,
/// so exactly one transaction sees the last chunk finish.
fn complete_if_done(client: &mut impl GenericClient, job_id: i64) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT j.chunks_total, j.run_id, j.size,
                    COUNT(c.chunk_no) FILTER (WHERE c.status = 'done'),
                    COALESCE(SUM(c.rows_read), 0)::BIGINT, COALESCE(SUM(c.events_stored), 0)::BIGINT,
                    COALESCE(SUM(c.duplicates), 0)::BIGINT, COALESCE(SUM(c.quarantined), 0)::BIGINT,
                    0::BIGINT
             FROM jobs AS j LEFT JOIN job_chunks AS c ON c.job_id = j.id
             WHERE j.id = $1 GROUP BY j.id",
            &[&job_id],
        )
        .map_err(err("checking the job"))?;
    let total: Option<i32> = row.get(0);
    let done: i64 = row.get(3);
    if total.is_none_or(|t| i64::from(t) != done) {
        return Ok(false);
    }
    let run_id: i64 = row.get(1);
    let stamp = now();
    client
        .execute(
            "UPDATE runs SET rows_read = $2, events_stored = $3, duplicates = $4, quarantined = $5,
                    resume_offset = $6, status = 'completed', finished_at = $7 WHERE id = $1",
            &[
                &run_id,
                &row.get::<_, i64>(4),
                &row.get::<_, i64>(5),
                &row.get::<_, i64>(6),
                &row.get::<_, i64>(7),
                &row.get::<_, i64>(2),
                &stamp,
            ],
        )
        .map_err(err("completing the run"))?;
    client
        .execute(
            "UPDATE jobs SET status = 'completed', finished_at = $2 WHERE id = $1",
            &[&job_id, &stamp],
        )
        .map_err(err("completing the job"))?;
    Ok(true)
}

impl JobStore for PostgresStore {
    fn create_job(&self, job: &NewJob) -> Result<JobRecord> {
        let mut conn = self.conn("creating a job")?;
        let mut tx = conn.transaction().map_err(err("creating a job"))?;
        let run = insert_run(&mut tx, &job.run)?;
        let (header, header_line) = match &job.header {
            Some((h, line)) => (Some(h.as_slice()), Some(*line as i64)),
            None => (None, None),
        };
        let row = tx
            .query_one(
                "INSERT INTO jobs (run_id, feed, feed_definition, header, header_line, file_name, sha256, size,
                                   chunk_records, chunk_bytes, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'publishing', $11) RETURNING id",
                &[
                    &run.id,
                    &job.run.feed,
                    &job.feed_definition,
                    &header,
                    &header_line,
                    &job.run.file_name,
                    &job.run.sha256,
                    &(job.run.size as i64),
                    &(job.chunk_records as i32),
                    &(job.chunk_bytes as i32),
                    &now(),
                ],
            )
            .map_err(err("creating a job"))?;
        let id: i64 = row.get(0);
        let record = load_job(&mut tx, id)?
            .ok_or_else(|| StoreError::Invalid(format!("job {id} vanished while being created")))?;
        tx.commit().map_err(err("creating a job"))?;
        Ok(record)
    }

    fn unfinished_job(&self, sha256: &str, feed: &str) -> Result<Option<JobRecord>> {
        let mut conn = self.conn("looking up jobs")?;
        let row = conn
            .query_opt(
                &format!(
                    "{JOB_SELECT} WHERE j.sha256 = $1 AND j.feed = $2 AND j.status != 'completed'
                     {JOB_GROUP} ORDER BY j.id DESC LIMIT 1"
                ),
                &[&sha256, &feed],
            )
            .map_err(err("looking up jobs"))?;
        Ok(row.as_ref().map(job_from_row))
    }

    fn record_chunk(&self, c: &ChunkSpec) -> Result<()> {
        let mut conn = self.conn("recording a chunk")?;
        conn.execute(
            "INSERT INTO job_chunks (job_id, chunk_no, first_line, last_line, records, bytes, status)
             VALUES ($1, $2, $3, $4, $5, $6, 'queued') ON CONFLICT (job_id, chunk_no) DO NOTHING",
            &[
                &c.job_id,
                &(c.chunk_no as i32),
                &(c.first_line as i64),
                &(c.last_line as i64),
                &(c.records as i32),
                &(c.bytes as i32),
            ],
        )
        .map_err(err("recording a chunk"))?;
        Ok(())
    }

    fn chunks_published(&self, job_id: i64, total: u32) -> Result<JobRecord> {
        let mut conn = self.conn("recording a published job")?;
        let mut tx = conn
            .transaction()
            .map_err(err("recording a published job"))?;
        tx.execute("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", &[&job_id])
            .map_err(err("locking the job"))?;
        tx.execute(
            "UPDATE jobs SET chunks_total = $2, status = 'queued' WHERE id = $1 AND status = 'publishing'",
            &[&job_id, &(total as i32)],
        )
        .map_err(err("recording a published job"))?;
        complete_if_done(&mut tx, job_id)?;
        let job = load_job(&mut tx, job_id)?
            .ok_or_else(|| StoreError::Invalid(format!("job {job_id} does not exist")))?;
        tx.commit().map_err(err("recording a published job"))?;
        Ok(job)
    }

    fn job(&self, job_id: i64) -> Result<Option<JobRecord>> {
        load_job(&mut *self.conn("reading a job")?, job_id)
    }

    fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>> {
        let mut conn = self.conn("listing jobs")?;
        let rows = conn
            .query(
                &format!("{JOB_SELECT}{JOB_GROUP} ORDER BY j.id DESC LIMIT $1"),
                &[&(limit as i64)],
            )
            .map_err(err("listing jobs"))?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    fn chunks(&self, job_id: i64) -> Result<Vec<ChunkRecord>> {
        let mut conn = self.conn("listing chunks")?;
        let rows = conn
            .query(
                "SELECT job_id, chunk_no, first_line, last_line, records, bytes, status, rows_read,
                        events_stored, duplicates, quarantined, worker, finished_at, error
                 FROM job_chunks WHERE job_id = $1 ORDER BY chunk_no",
                &[&job_id],
            )
            .map_err(err("listing chunks"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let n = |i: usize| r.get::<_, i64>(i) as u64;
                ChunkRecord {
                    job_id: r.get(0),
                    chunk_no: r.get::<_, i32>(1) as u32,
                    first_line: n(2),
                    last_line: n(3),
                    records: r.get::<_, i32>(4) as u32,
                    bytes: r.get::<_, i32>(5) as u32,
                    status: r.get(6),
                    rows_read: n(7),
                    events_stored: n(8),
                    duplicates: n(9),
                    quarantined: n(10),
                    worker: r.get(11),
                    finished_at: r.get(12),
                    error: r.get(13),
                }
            })
            .collect())
    }

    fn fail_chunk(&self, job_id: i64, chunk_no: u32, error: &str) -> Result<()> {
        let mut conn = self.conn("recording a failed chunk")?;
        conn.execute(
            "UPDATE job_chunks SET status = 'failed', error = $3, finished_at = $4
             WHERE job_id = $1 AND chunk_no = $2 AND status = 'queued'",
            &[&job_id, &(chunk_no as i32), &error, &now()],
        )
        .map_err(err("recording a failed chunk"))?;
        Ok(())
    }

    fn write_chunk(&self, c: &ChunkWrite<'_>) -> Result<ChunkOutcome> {
        let mut tx = OpenTransaction::begin(self.conn("writing a chunk")?)?;
        let outcome = write_chunk_in_transaction(&mut tx.conn, c)?;
        if outcome != ChunkOutcome::AlreadyDone {
            tx.commit()?;
        }
        // Otherwise (and on every error or panic above) the guard rolls back.
        Ok(outcome)
    }
}

/// A transaction on a pooled connection that is rolled back unless committed, even when a panic
/// unwinds through it: the connection goes back to the pool either way and must not carry an
/// open transaction to its next user.
struct OpenTransaction {
    conn: Conn,
    committed: bool,
}

impl OpenTransaction {
    fn begin(mut conn: Conn) -> Result<OpenTransaction> {
        conn.batch_execute("BEGIN")
            .map_err(err("starting a transaction"))?;
        Ok(OpenTransaction {
            conn,
            committed: false,
        })
    }

    fn commit(&mut self) -> Result<()> {
        self.conn
            .batch_execute("COMMIT")
            .map_err(err("committing a chunk"))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if !self.committed {
            // The connection may be gone; the server rolls back either way.
            let _ = self.conn.batch_execute("ROLLBACK");
        }
    }
}

fn write_chunk_in_transaction(conn: &mut Conn, c: &ChunkWrite<'_>) -> Result<ChunkOutcome> {
    let chunk_no = c.chunk_no as i32;
    // The row lock also makes a second delivery of the same chunk, running at the same time on
    // another worker, wait here and then find the chunk done.
    let status = conn
        .query_opt(
            "SELECT c.status, j.run_id, j.sha256, j.feed, j.file_name
             FROM job_chunks AS c JOIN jobs AS j ON j.id = c.job_id
             WHERE c.job_id = $1 AND c.chunk_no = $2 FOR UPDATE OF c",
            &[&c.job_id, &chunk_no],
        )
        .map_err(err("reading a chunk"))?;
    let Some(row) = status else {
        return Err(StoreError::Invalid(format!(
            "chunk {} of job {} is not recorded; was the job deleted?",
            c.chunk_no, c.job_id
        )));
    };
    if row.get::<_, &str>(0) != "queued" {
        return Ok(ChunkOutcome::AlreadyDone);
    }
    let run_id: i64 = row.get(1);
    let (sha256, feed, file_name): (String, String, String) = (row.get(2), row.get(3), row.get(4));
    let inserted = events::insert(conn, run_id, c.events)?;
    upsert_as_names(conn, c.events, &mut Default::default())?;
    insert_quarantine(conn, run_id, (&sha256, &feed, &file_name), c.rejections)?;
    let valid = c.events.len() as u64;
    conn.execute(
        "UPDATE job_chunks SET status = 'done', rows_read = $3, events_stored = $4, duplicates = $5,
                quarantined = $6, worker = $7, finished_at = $8, deliveries = deliveries + 1
         WHERE job_id = $1 AND chunk_no = $2",
        &[
            &c.job_id,
            &chunk_no,
            &(c.rows_read as i64),
            &(inserted as i64),
            &((valid - inserted) as i64),
            &(c.rejections.len() as i64),
            &c.worker,
            &now(),
        ],
    )
    .map_err(err("recording a chunk"))?;
    conn.execute("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", &[&c.job_id])
        .map_err(err("locking the job"))?;
    let job_completed = complete_if_done(&mut **conn, c.job_id)?;
    Ok(ChunkOutcome::Written {
        events_stored: inserted,
        job_completed,
    })
}
