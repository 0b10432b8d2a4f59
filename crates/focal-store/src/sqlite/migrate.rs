//! Versioned migrations, embedded in the binary and applied in order, each in its own transaction.
//!
//! Hand-written rather than a crate: the migration crates that drive rusqlite pin versions of it
//! that conflict with ours, and the whole job is twenty lines. `schema_migrations` records what ran.

use crate::{Result, StoreError};
use rusqlite::Connection;
use std::path::Path;

/// (version, name, SQL). Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (
        2,
        "incidents",
        include_str!("migrations/0002_incidents.sql"),
    ),
    (3, "sharing", include_str!("migrations/0003_sharing.sql")),
    (4, "web", include_str!("migrations/0004_web.sql")),
    (
        5,
        "feed_pulls",
        include_str!("migrations/0005_feed_pulls.sql"),
    ),
    (
        6,
        "event search",
        include_str!("migrations/0006_event_search.sql"),
    ),
    (7, "identity", include_str!("migrations/0007_identity.sql")),
    (
        8,
        "stix vocabulary",
        include_str!("migrations/0008_stix_vocabulary.sql"),
    ),
    (
        9,
        "assessment",
        include_str!("migrations/0009_assessment.sql"),
    ),
    (
        10,
        "awareness",
        include_str!("migrations/0010_awareness.sql"),
    ),
    (
        11,
        "also notify",
        include_str!("migrations/0011_also_notify.sql"),
    ),
    (
        12,
        "assessment reminders",
        include_str!("migrations/0012_assessment_reminders.sql"),
    ),
    (
        13,
        "stix visibility",
        include_str!("migrations/0013_stix_visibility.sql"),
    ),
];

pub fn current(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )
    .map_err(|source| StoreError::Sqlite {
        context: "reading the schema version",
        source,
    })
}

pub fn run(conn: &mut Connection, path: &Path) -> Result<()> {
    run_to(conn, path, i64::MAX)
}

/// Applies pending migrations up to and including `upto` (tests make old stores with it).
pub fn run_to(conn: &mut Connection, path: &Path, upto: i64) -> Result<()> {
    let e = |context| move |source| StoreError::Sqlite { context, source };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(e("creating the migrations table"))?;
    let have = current(conn)?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if have > known {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            found: have,
            known,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > have && m.0 <= upto) {
        // IMMEDIATE takes the write lock first, and the version is read again under it: two
        // processes opening an old store at once apply each migration once, not twice.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(e("starting a migration"))?;
        let applied: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [version],
                |r| r.get(0),
            )
            .map_err(e("reading the schema version"))?;
        if applied {
            continue;
        }
        tx.execute_batch(sql).map_err(e("applying a migration"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, jiff::Timestamp::now().to_string()],
        )
        .map_err(e("recording a migration"))?;
        tx.commit().map_err(e("committing a migration"))?;
    }
    Ok(())
}
