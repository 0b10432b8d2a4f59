//! Self-assessment, risk register and vulnerability management.
//!
//! - [`framework`]: frameworks as data (`frameworks/*.toml`, schema `focal-framework/1`), loaded
//!   with precise errors.
//! - [`assessment`] and [`score`]: assessments of an organisation or a country, their answers and
//!   evidence, scores per section and overall, ranked gaps, comparison, reassessment dates.
//! - [`risk`]: assets and the software they run, threats, vulnerabilities, risks and treatment.
//! - [`software`], [`version`], [`advisory`], [`osv`], [`csaf`], [`matching`]: advisories in
//!   CSAF 2.0 and OSV matched by package key and version range against assets' software.
//! - [`store`]: the storage traits this domain needs, with typed errors; `focal-store`
//!   implements them for SQLite and PostgreSQL.
//!
//! **Architecture invariants.** No SQL, no HTTP, no command line. Everything that reaches a
//! store was checked here first (answers against the framework, software ids, advisory
//! documents); matching is a hash join on package keys, never a scan of every pair.

pub mod advisory;
pub mod assessment;
pub mod csaf;
pub mod framework;
pub mod matching;
pub mod ops;
pub mod osv;
pub mod report;
pub mod risk;
pub mod score;
pub mod software;
pub mod store;
pub mod version;

pub use assessment::*;
pub use framework::{Framework, FrameworkError, Problem, TextKind};
pub use score::{Comparison, Scorecard, compare, score};
