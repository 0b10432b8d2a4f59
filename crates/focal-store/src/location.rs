//! Where a store lives: a SQLite file (the default) or a PostgreSQL database.

use crate::{PostgresStore, Result, SqliteStore, Store, StoreError};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` URL (or libpq key=value string) and an optional schema to keep Focal's
    /// tables in, so several Focal instances (or tests) can share one database.
    Postgres {
        url: String,
        schema: Option<String>,
    },
}

impl Location {
    /// `postgres://...` or `postgresql://...` is PostgreSQL; anything else is a SQLite file path.
    /// A `schema` query parameter on a PostgreSQL URL selects the schema (and is removed from
    /// the URL handed to the driver).
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            let (base, query) = text.split_once('?').unwrap_or((text, ""));
            let mut schema = None;
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .filter(|kv| match kv.strip_prefix("schema=") {
                    Some(s) => {
                        schema = Some(s.to_string());
                        false
                    }
                    None => true,
                })
                .collect();
            let url = if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
            Location::Postgres { url, schema }
        } else {
            Location::Sqlite(sqlite_path(text))
        }
    }
}

/// The file a SQLite location names. SQLite itself opens URI filenames (`file:/path?mode=rw`,
/// `file:///path`, `file:relative`), so one is taken as the plain path it names, its options
/// dropped: otherwise a URI slipped past every check made on the path (an attacker pass had
/// `init --database file:OTHER/focal.db` add an admin to another folder's live database).
fn sqlite_path(text: &str) -> PathBuf {
    match text.strip_prefix("file:") {
        Some(rest) => {
            let rest = rest.split(['?', '#']).next().unwrap_or(rest);
            let rest = rest.strip_prefix("//localhost").unwrap_or(rest);
            // `file:///abs` and `file://localhost/abs` are `/abs`; `file:rel` stays relative.
            let rest = match rest.strip_prefix("//") {
                Some(abs) => abs,
                None => rest,
            };
            PathBuf::from(rest)
        }
        None => PathBuf::from(text),
    }
}

#[cfg(test)]
mod uri_tests {
    use super::*;

    #[test]
    fn sqlite_uris_name_their_plain_file() {
        for (text, path) in [
            ("/srv/focal/focal.db", "/srv/focal/focal.db"),
            ("file:/srv/focal/focal.db", "/srv/focal/focal.db"),
            ("file:///srv/focal/focal.db", "/srv/focal/focal.db"),
            ("file://localhost/srv/focal/focal.db", "/srv/focal/focal.db"),
            (
                "file:/srv/focal/focal.db?mode=rw&cache=shared",
                "/srv/focal/focal.db",
            ),
            ("file:demo/focal.db", "demo/focal.db"),
        ] {
            assert_eq!(
                Location::parse(text),
                Location::Sqlite(PathBuf::from(path)),
                "{text}"
            );
        }
    }
}

/// Opens (creating and migrating as needed) the store at `location`.
pub fn open(location: &Location) -> Result<Box<dyn Store>> {
    match location {
        Location::Sqlite(path) => Ok(Box::new(SqliteStore::open(path)?)),
        Location::Postgres { url, schema } => {
            Ok(Box::new(PostgresStore::open(url, schema.as_deref())?))
        }
    }
}

/// A connection string as it may be shown in messages and logs: no user, password or query
/// (the one rule of [`focal_model::redact::url`]).
pub fn redact_url(url: &str) -> String {
    focal_model::redact::url(url)
}

/// Checks a schema name: identifiers cannot be bound as parameters, so only plain lower-case
/// names are accepted and then quoted.
pub fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "schema name {name:?} is not allowed: use 1 to 63 lower-case letters, digits and \
             underscores, starting with a letter or underscore"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_and_paths_are_told_apart() {
        assert_eq!(
            Location::parse("focal-data/focal.db"),
            Location::Sqlite("focal-data/focal.db".into())
        );
        assert_eq!(
            Location::parse("postgres://u@h:5432/db?schema=cert_a&sslmode=disable"),
            Location::Postgres {
                url: "postgres://u@h:5432/db?sslmode=disable".into(),
                schema: Some("cert_a".into())
            }
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        let shown = redact_url("postgres://focal:s3cret@db.example:5432/focal");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db.example:5432/focal"), "{shown}");
        // libpq takes a password in the query too, and a user name is nobody's business.
        let shown = redact_url("postgres://focal@db/x?password=s3cret");
        assert_eq!(shown, "postgres://[redacted]@db/x?[redacted]");
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(check_schema_name("focal_test_1").is_ok());
        for bad in ["", "Focal", "a-b", "x\"; DROP TABLE events; --", "1abc"] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }
}
