//! Credentials (argon2id password hashes, tokens stored as hashes, random keys) are identity's:
//! `focal_identity::credentials`. Re-exported here for the sharing code that makes keys and
//! hashes with them.

pub use focal_identity::credentials::*;
