//! Feeds: what a feed looks like ([`FeedDefinition`], written in TOML), how a file is opened
//! ([`input`]: decompressed, a JSON document one record per line), how its bytes are cut into
//! records ([`read`]), and how each record becomes an [`focal_model::Event`] or a [`Rejection`]
//! ([`Feed::parse_record`]). The [`registry`] is the folder of definitions a data folder pulls
//! on its own.
//!
//! **Architecture invariants.**
//! - Memory is bounded by the batch size and [`read::MAX_RECORD_BYTES`], never by the input size;
//!   a JSON document (`format = "json"`) is held whole, so it is bounded by `json.max_bytes`, and
//!   decompressed input by `input.max_bytes` ([`input`]).
//! - Every record read comes out exactly once: as an event or as a rejection with its line, raw
//!   bytes and reason. Nothing is dropped silently, and no input makes the code panic (the
//!   `fuzz/` targets hold that line).
//! - Reading (cutting bytes into records) and parsing (records into events) are separate steps, so
//!   the pipeline can parse batches on several threads while one thread reads.

pub mod definition;
pub mod input;
pub mod parse;
pub mod read;
pub mod redact;
pub mod registry;
pub mod shadowserver;
pub mod shipped;
pub mod time;

pub use definition::{DefinitionError, Feed, FeedDefinition, Format, Pull};
pub use parse::{RejectKind, Rejection};
pub use read::{RecordBatch, RecordReader};
pub use registry::{Registered, Registry, RegistryError};
