//! Versioned migrations for PostgreSQL, embedded in the binary and applied in order.
//!
//! Several workers may start at once against a fresh database, so the whole check-and-apply runs
//! in one transaction under an advisory lock: the first applies, the others then find nothing to do.

use crate::{Result, StoreError};
use postgres::Client;

/// (version, name, SQL). Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "feed_pulls",
        include_str!("migrations/0002_feed_pulls.sql"),
    ),
    (
        3,
        "assessment",
        include_str!("migrations/0003_assessment.sql"),
    ),
    (
        4,
        "awareness",
        include_str!("migrations/0004_awareness.sql"),
    ),
    (
        5,
        "also notify",
        include_str!("migrations/0005_also_notify.sql"),
    ),
    (
        6,
        "assessment reminders",
        include_str!("migrations/0006_assessment_reminders.sql"),
    ),
];

/// An arbitrary constant naming Focal's migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x466f_6361_6c4d_6967; // "FocalMig"

fn err(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { context, source }
}

pub fn current(client: &mut Client) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(err("reading the schema version"))?;
    Ok(row.get(0))
}

pub fn run(client: &mut Client, location: &str) -> Result<()> {
    let mut tx = client
        .transaction()
        .map_err(err("starting the migrations"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err("waiting for the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(err("creating the migrations table"))?;
    let have: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(err("reading the schema version"))?
        .get(0);
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if have > known {
        return Err(StoreError::TooNew {
            path: location.to_string(),
            found: have,
            known,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have) {
        tx.batch_execute(sql).map_err(err("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &jiff::Timestamp::now().to_string()],
        )
        .map_err(err("recording a migration"))?;
    }
    tx.commit().map_err(err("committing the migrations"))?;
    Ok(())
}
