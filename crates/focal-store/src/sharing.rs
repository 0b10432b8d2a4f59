//! Storage for sharing: TAXII collections of STIX objects, provenance, peers, sharing policies,
//! TAXII status resources, and the user store (accounts, hashed API tokens, per-collection
//! rights).
//!
//! A separate trait from [`crate::Store`] so backends can grow it independently. STIX objects
//! are stored as JSON text with the few properties TAXII filters on in columns; this crate does
//! not interpret STIX (that is `focal-sharing`), it only keeps what it is given, in order.

use crate::Result;
use serde::Serialize;

/// A TAXII collection as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub alias: Option<String>,
    /// The highest TLP label (`CLEAR`..`RED`) this collection releases, if it has its own limit.
    pub max_tlp: Option<String>,
}

/// An object version to add to a collection.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub id: String,
    pub type_: String,
    /// `modified`, else `created`; `None` for objects without either (SCOs), whose version is
    /// then their `date_added`, as TAXII 2.1 says.
    pub version: Option<String>,
    /// `version` as Unix microseconds, for ordering and matching.
    pub version_us: Option<i64>,
    pub spec_version: String,
    /// The TLP colour (`CLEAR`..`RED`).
    pub tlp: String,
    /// JSON the sharing policy reads back.
    pub meta: String,
    pub body: String,
}

/// An object version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredObject {
    pub seq: i64,
    pub collection: String,
    pub id: String,
    pub type_: String,
    pub version: String,
    pub version_us: i64,
    pub spec_version: String,
    /// Unix microseconds; strictly increasing in storage order.
    pub date_added: i64,
    pub tlp: String,
    pub meta: String,
    pub origin: Option<String>,
    pub body: String,
}

/// What happened to each object of an add.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddOutcome {
    /// (id, version, date_added) of the versions stored.
    pub added: Vec<(String, String, i64)>,
    /// (id, version) of versions the collection already had, or that came from this origin
    /// before (and were deleted since): not stored again.
    pub already_present: Vec<(String, String)>,
}

/// Which versions of each object to return.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VersionMatch {
    #[default]
    Last,
    First,
    All,
    /// These versions (Unix microseconds).
    At(Vec<i64>),
}

/// The TAXII filters. Every condition present must hold; values within one are OR'ed.
#[derive(Debug, Clone, Default)]
pub struct ObjectQuery {
    /// Only objects added after this (Unix microseconds).
    pub added_after: Option<i64>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: VersionMatch,
    pub spec_versions: Vec<String>,
    /// Continue after this `date_added` (the pagination cursor: the last one of the previous page).
    pub after_added: Option<i64>,
    pub limit: usize,
}

/// One page of objects, and whether more match.
#[derive(Debug, Clone, Default)]
pub struct ObjectPage {
    pub objects: Vec<StoredObject>,
    pub more: bool,
}

/// The roles of the user store. A peer is another node's account on this one.
pub const ROLES: [&str; 5] = ["admin", "analyst", "auditor", "constituent", "peer"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub organisation: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: String,
    pub organisation: Option<String>,
    pub password_hash: Option<String>,
}

/// A user's rights on one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rights {
    pub can_read: bool,
    pub can_write: bool,
}

/// A remote node this one pulls from and/or pushes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    pub name: String,
    /// The remote API root URL (ending in `/`).
    pub api_root: String,
    /// The remote collection id.
    pub collection: String,
    /// Where pulled objects go, and what is pushed.
    pub local_collection: String,
    pub username: Option<String>,
    #[serde(skip)]
    pub secret: Option<String>,
    /// `basic`, `bearer` or `none`.
    pub auth: String,
    pub pull: bool,
    pub push: bool,
    /// The remote `date_added` of the last object pulled (TAXII timestamp text).
    pub pull_cursor: Option<String>,
    /// The local `date_added` up to which objects were pushed.
    pub push_cursor: i64,
    pub last_sync_at: Option<String>,
    pub last_error: Option<String>,
    pub pulled: u64,
    pub pushed: u64,
}

pub trait SharingStore: Send + Sync {
    fn setting(&self, key: &str) -> Result<Option<String>>;
    fn set_setting(&self, key: &str, value: &str) -> Result<()>;

    /// Creates the collection, or updates its title, description, alias and limit.
    fn put_collection(&self, collection: &Collection) -> Result<()>;
    fn collections(&self) -> Result<Vec<Collection>>;
    fn collection(&self, id: &str) -> Result<Option<Collection>>;

    /// Adds object versions in one transaction: all are stored or none. Versions already in
    /// the collection, or received from `origin` before, are reported and skipped. Objects from
    /// a peer (`origin`) are recorded in the provenance.
    fn add_objects(
        &self,
        collection: &str,
        objects: &[NewObject],
        origin: Option<&str>,
    ) -> Result<AddOutcome>;
    fn objects(&self, collection: &str, query: &ObjectQuery) -> Result<ObjectPage>;
    /// Deletes versions of an object; returns how many.
    fn delete_object(
        &self,
        collection: &str,
        id: &str,
        versions: &VersionMatch,
        spec_versions: &[String],
    ) -> Result<u64>;
    /// Objects added after `after_added` (a `date_added`), in order, for pushing.
    fn objects_after(
        &self,
        collection: &str,
        after_added: i64,
        limit: usize,
    ) -> Result<Vec<StoredObject>>;
    /// Which of these object ids any collection holds (any version).
    /// Which of `ids` are stored in `collection`. Scoped to one collection so that a poster
    /// cannot probe for objects in collections it has no business with.
    fn known_ids(
        &self,
        collection: &str,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>>;
    /// The peers an object version came from.
    fn provenance(&self, id: &str, version_us: i64) -> Result<Vec<String>>;

    fn put_peer(&self, peer: &Peer) -> Result<()>;
    fn peers(&self) -> Result<Vec<Peer>>;
    fn peer(&self, name: &str) -> Result<Option<Peer>>;

    fn set_policy(&self, principal: &str, policy_json: &str) -> Result<()>;
    fn policy(&self, principal: &str) -> Result<Option<String>>;

    fn put_status(&self, id: &str, owner: &str, body: &str) -> Result<()>;
    /// A status resource, if it exists and belongs to `owner`.
    fn status(&self, id: &str, owner: &str) -> Result<Option<String>>;

    fn add_user(&self, user: &NewUser) -> Result<User>;
    fn users(&self) -> Result<Vec<User>>;
    fn user(&self, name: &str) -> Result<Option<User>>;
    fn add_token(&self, user_id: i64, token_hash: &str, label: Option<&str>) -> Result<()>;
    /// The enabled user a token (by its hash) belongs to, if the token is valid now.
    fn user_by_token(&self, token_hash: &str) -> Result<Option<User>>;
    fn set_rights(&self, user_id: i64, collection: &str, rights: Rights) -> Result<()>;
    fn rights(&self, user_id: i64, collection: &str) -> Result<Option<Rights>>;
}

/// A TAXII timestamp with microsecond precision (`date_added`, SCO versions).
pub fn timestamp_us(us: i64) -> String {
    match jiff::Timestamp::from_microsecond(us) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000000Z".to_string(),
    }
}

/// An RFC 3339 timestamp as Unix microseconds (finer digits are truncated).
pub fn parse_timestamp_us(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_microsecond())
}
