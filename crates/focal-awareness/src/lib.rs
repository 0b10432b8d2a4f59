//! Awareness, the first of resolution 57/239's nine elements: what a focal point tells its
//! constituents and the public.
//!
//! This crate owns three things and the storage traits each needs:
//! - [`advisory`]: security advisories written, reviewed and published as numbered revisions,
//!   rendered as CSAF 2.0 JSON ([`advisory::csaf`]), standalone HTML pages ([`advisory::html`])
//!   and a public Atom feed of TLP:CLEAR advisories ([`advisory::atom`]), and mailed to the
//!   constituents who run the affected products ([`advisory::distribution`]).
//! - [`stats`]: public statistics from TLP:CLEAR events and incidents, with small counts
//!   suppressed so that no figure below k can be read or derived ([`stats::public_stats`]).
//! - [`library`]: the cyber-policy library (entities with their policy, structure, legislation
//!   and cooperation items), its JSON exchange format and the search request and answer.
//!
//! **Architecture invariants.** No SQL, no HTTP, no command line: the rules live here, the
//! backends implement [`store`]'s traits in `focal-store`, and the server and CLI call the
//! functions named in docs/AWARENESS.md. Everything that leaves (CSAF, HTML, Atom, e-mail,
//! statistics) goes through a function of this crate that enforces TLP: the public feed and
//! statistics take TLP:CLEAR only, and TLP:RED is never mailed.

pub mod advisory;
pub mod config;
pub mod library;
pub mod stats;
pub mod store;

pub use config::AwarenessConfig;
pub use store::{AuditRecord, StorageError};

/// One problem with a value, named by its path (`products[2].vendor`, `entities[0].id`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldProblem {
    pub path: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Every problem found, joined one per line for a message.
pub fn describe_problems(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
