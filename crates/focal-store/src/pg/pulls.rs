//! Feed pulls on PostgreSQL (migration 0002).

use super::{PostgresStore, err};
use crate::*;

const PULL_COLUMNS: &str = "p.id, p.feed, p.requested_by, p.started_at, p.finished_at, p.result, \
     p.http_status, p.bytes, p.run_id, p.error, p.url_sha256, p.etag, p.last_modified, p.sha256, \
     r.status, r.rows_read, r.events_stored, r.duplicates, r.quarantined";

const FROM: &str = "FROM feed_pulls p LEFT JOIN runs r ON r.id = p.run_id";

fn pull_from_row(row: &postgres::Row) -> PullRecord {
    let n = |i: usize| row.get::<_, Option<i64>>(i).unwrap_or(0) as u64;
    let run = row.get::<_, Option<String>>(14).map(|s| PullRun {
        status: RunStatus::parse(&s),
        rows_read: n(15),
        events_stored: n(16),
        duplicates: n(17),
        quarantined: n(18),
    });
    PullRecord {
        id: row.get(0),
        feed: row.get(1),
        requested_by: row.get(2),
        started_at: row.get(3),
        finished_at: row.get(4),
        result: PullResult::parse(row.get(5)),
        http_status: row
            .get::<_, Option<i32>>(6)
            .and_then(|s| u16::try_from(s).ok()),
        bytes: row.get::<_, Option<i64>>(7).map(|b| b as u64),
        run_id: row.get(8),
        error: row.get(9),
        url_sha256: row.get(10),
        etag: row.get(11),
        last_modified: row.get(12),
        sha256: row.get(13),
        run,
    }
}

impl PostgresStore {
    pub(super) fn record_pull_impl(&self, p: &NewPull) -> Result<i64> {
        let mut conn = self.conn("recording a feed pull")?;
        let row = conn
            .query_one(
                "INSERT INTO feed_pulls (feed, requested_by, started_at, finished_at, result, http_status,
                                         bytes, run_id, error, url_sha256, etag, last_modified, sha256)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                &[
                    &p.feed,
                    &p.requested_by,
                    &p.started_at.to_string(),
                    &p.finished_at.to_string(),
                    &p.result.as_str(),
                    &p.http_status.map(i32::from),
                    &p.bytes.map(|b| b as i64),
                    &p.run_id,
                    &p.error,
                    &p.url_sha256,
                    &p.etag,
                    &p.last_modified,
                    &p.sha256,
                ],
            )
            .map_err(err("recording a feed pull"))?;
        Ok(row.get(0))
    }

    pub(super) fn pulls_impl(
        &self,
        feed: &str,
        before: i64,
        limit: usize,
    ) -> Result<Vec<PullRecord>> {
        let mut conn = self.conn("listing feed pulls")?;
        let before = if before <= 0 { i64::MAX } else { before };
        let rows = conn
            .query(
                &format!(
                    "SELECT {PULL_COLUMNS} {FROM} WHERE p.feed = $1 AND p.id < $2 ORDER BY p.id DESC LIMIT $3"
                ),
                &[&feed, &before, &(limit as i64)],
            )
            .map_err(err("listing feed pulls"))?;
        Ok(rows.iter().map(pull_from_row).collect())
    }

    pub(super) fn latest_pulls_impl(&self) -> Result<Vec<PullRecord>> {
        let mut conn = self.conn("reading the last pulls")?;
        let rows = conn
            .query(
                &format!(
                    "SELECT {PULL_COLUMNS} {FROM}
                     WHERE p.id IN (SELECT MAX(id) FROM feed_pulls GROUP BY feed) ORDER BY p.feed"
                ),
                &[],
            )
            .map_err(err("reading the last pulls"))?;
        Ok(rows.iter().map(pull_from_row).collect())
    }

    pub(super) fn last_good_pull_impl(
        &self,
        feed: &str,
        url_sha256: &str,
    ) -> Result<Option<PullRecord>> {
        let mut conn = self.conn("reading the last good pull")?;
        let row = conn
            .query_opt(
                &format!(
                    "SELECT {PULL_COLUMNS} {FROM}
                     WHERE p.feed = $1 AND p.url_sha256 = $2 AND p.result IN ('ok', 'unchanged')
                     ORDER BY p.id DESC LIMIT 1"
                ),
                &[&feed, &url_sha256],
            )
            .map_err(err("reading the last good pull"))?;
        Ok(row.as_ref().map(pull_from_row))
    }

    pub(super) fn pull_counts_impl(&self) -> Result<Vec<(String, PullResult, u64)>> {
        let mut conn = self.conn("counting feed pulls")?;
        let rows = conn
            .query(
                "SELECT feed, result, COUNT(*) FROM feed_pulls GROUP BY feed, result ORDER BY feed, result",
                &[],
            )
            .map_err(err("counting feed pulls"))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    PullResult::parse(r.get(1)),
                    r.get::<_, i64>(2) as u64,
                )
            })
            .collect())
    }
}
