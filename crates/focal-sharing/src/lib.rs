//! Focal's side of the cooperative network between focal points: STIX 2.1 over TAXII 2.1,
//! bound by TLP 2.0.
//!
//! - [`stix`]: the STIX 2.1 objects Focal emits, deterministic ids, the five TLP 2.0 markings.
//! - [`export`]: events (and reports over events) → STIX objects with the metadata the policy needs.
//! - [`policy`]: who may receive what, and [`policy::release`], the one choke point every
//!   outbound path (export, the TAXII server, pushes to peers) goes through.
//! - [`pattern`]: the STIX 2.1 pattern grammar (lexer, parser, printer), used on every inbound
//!   indicator.
//! - [`elevate`]: STIX 2.0 objects stepped to 2.1 on import, as the OASIS stix_stepper does.
//! - [`validate`]: checks on inbound bundles and envelopes, with configurable limits.
//! - [`vocab`]: every STIX 2.1 type with its required properties and references.
//! - [`import`]: validated objects → the store (all or nothing) with provenance, and → events.
//! - [`users`]: password and token hashing for the user store.
//! - [`client`]: the TAXII 2.1 client that pulls from and pushes to peers, and [`client::preview`]
//!   of what a peer would receive.
//! - [`manage`]: adding, changing, pausing peers and setting policies, audited (CLI and web UI).
//!
//! No HTTP server lives here (that is `focal-server`), so the command line and the server share
//! every rule.

pub mod client;
pub mod elevate;
pub mod export;
pub mod import;
pub mod manage;
pub mod pattern;
pub mod policy;
pub mod settings;
pub mod stix;
pub mod users;
pub mod validate;
pub mod vocab;

pub use policy::{Policy, PseudonymKey, Redaction, Released, ShareMeta, Shareable, release};
