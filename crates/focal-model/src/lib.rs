//! The vocabulary every other Focal crate speaks.
//!
//! This crate owns the [`Event`] (one fact about one indicator, named with IntelMQ's harmonised
//! field names), the closed RSIT [`taxonomy`], the TLP 2.0 [`Tlp`] labels, and the rules that turn
//! an event into its deterministic id.
//!
//! **Architecture invariant:** nothing here does I/O or knows about storage, HTTP or the command
//! line. Everything is plain data plus validation, so it can be used from a parser, a database
//! backend or a web handler alike.

pub mod constituent;
pub mod event;
pub mod field;
pub mod intelmq;
pub mod redact;
pub mod taxonomy;
pub mod tlp;

pub use constituent::{Constituent, ConstituentDraft, FieldError};
pub use event::{CountryCode, DedupKey, Event, Transport};
pub use field::Field;
pub use taxonomy::{ClassificationType, Taxonomy};
pub use tlp::Tlp;

/// Why a value could not become part of an event. Parsers attach the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a valid IP address: {0:?}")]
    InvalidIp(String),
    #[error("not a valid IP network (CIDR): {0:?}")]
    InvalidNetwork(String),
    #[error("port {0:?} is not a number in 0..=65535")]
    InvalidPort(String),
    #[error("AS number {0:?} is not a number in 0..=4294967295")]
    InvalidAsn(String),
    #[error("country code {0:?} is not two ASCII letters")]
    InvalidCountry(String),
    #[error("unknown classification.type {0:?} (not in the RSIT taxonomy)")]
    UnknownType(String),
    #[error("unknown classification.taxonomy {0:?} (not in the RSIT taxonomy)")]
    UnknownTaxonomy(String),
    #[error("classification.taxonomy {taxonomy:?} does not contain classification.type {type_:?}")]
    TaxonomyMismatch { taxonomy: String, type_: String },
    #[error("unknown TLP label {0:?} (expected CLEAR, GREEN, AMBER, AMBER+STRICT or RED)")]
    UnknownTlp(String),
    #[error("unknown transport protocol {0:?} (expected tcp, udp, icmp, sctp or a number)")]
    InvalidTransport(String),
    #[error("not a valid fully qualified domain name: {0:?}")]
    InvalidFqdn(String),
    #[error("timestamp {value:?} does not match {format}")]
    InvalidTime { value: String, format: String },
    #[error("{0}")]
    Other(String),
}
