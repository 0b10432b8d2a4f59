//! Storage for sharing: TAXII collections of STIX objects, provenance, peers, sharing policies,
//! TAXII status resources, and the accounts' rights on collections (the accounts themselves are
//! `focal_identity`'s).
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
    /// The TAXII API root (trust community) it belongs to: [`DEFAULT_API_ROOT`] unless set.
    pub api_root: String,
}

/// The API root every node has (`/taxii2/root/`).
pub const DEFAULT_API_ROOT: &str = "root";

/// A TAXII API root: one trust community, with its own collections (and, through them, rights).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiRoot {
    /// The URL segment (`/taxii2/<name>/`).
    pub name: String,
    pub title: String,
    pub description: Option<String>,
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
    /// Received from another organisation (a peer), not made here: stored in its own column
    /// (`foreign_origin`) for [`Visibility`] to match. The sharing layer fills it, and
    /// `constituent`, from the same metadata it writes into `meta` (`import::new_object`).
    pub foreign: bool,
    /// The constituent the object concerns (its own column, for AMBER+STRICT in [`Visibility`]).
    pub constituent: Option<String>,
    pub body: String,
    /// If the object arrived as STIX 2.0: the record of its conversion (JSON), kept beside it.
    pub conversion: Option<String>,
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
    /// Only versions this reader may see, decided in SQL from the columns stored with each (TLP,
    /// foreign origin, constituent) along an index, so a filtered reader's pages are full.
    pub visible: Option<Visibility>,
}

/// Which stored versions a reader may see, as the sharing policy's gate decides it (the sharing
/// layer fills this in; the store only matches stored values).
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    /// TLP colours (`CLEAR`..) of versions made on this node the reader may receive.
    pub local_tlps: Vec<String>,
    /// TLP colours of versions received from another organisation ([`NewObject::foreign`]).
    pub foreign_tlps: Vec<String>,
    /// `AMBER+STRICT` versions only where [`NewObject::constituent`] is this.
    pub strict_constituent: Option<String>,
}

/// One page of objects, and whether more match.
#[derive(Debug, Clone, Default)]
pub struct ObjectPage {
    pub objects: Vec<StoredObject>,
    pub more: bool,
}

/// Accounts live in `focal_identity` (roles, users, sessions, tokens); the sharing store keeps
/// only their rights on collections.
pub use focal_identity::User;

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

    /// Creates or updates an API root.
    fn put_api_root(&self, root: &ApiRoot) -> Result<()>;
    /// Every API root, the default one first.
    fn api_roots(&self) -> Result<Vec<ApiRoot>>;
    fn api_root(&self, name: &str) -> Result<Option<ApiRoot>>;

    /// Creates the collection, or updates its title, description, alias, limit and API root
    /// (which must exist).
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
    /// How many stored object versions carry a marking the sharing layer could not interpret
    /// (their `meta` lists `uninterpreted_markings`): shown in `/metrics`.
    fn count_uninterpreted_markings(&self) -> Result<u64>;
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
    /// The conversion record of a stored object version that arrived as STIX 2.0.
    fn conversion(&self, collection: &str, id: &str, version_us: i64) -> Result<Option<String>>;

    fn put_peer(&self, peer: &Peer) -> Result<()>;
    fn peers(&self) -> Result<Vec<Peer>>;
    fn peer(&self, name: &str) -> Result<Option<Peer>>;

    fn set_policy(&self, principal: &str, policy_json: &str) -> Result<()>;
    fn policy(&self, principal: &str) -> Result<Option<String>>;
    /// Every stored policy as (principal, policy JSON), by principal.
    fn policies(&self) -> Result<Vec<(String, String)>>;
    /// Object versions of a collection that came from elsewhere (a peer's push or pull, an
    /// import with a peer, a TAXII POST: `origin` is set), newest first, added before
    /// `before_added` (a `date_added`; `None`: from the newest), at most `limit`.
    fn received_objects(
        &self,
        collection: &str,
        before_added: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredObject>>;

    fn put_status(&self, id: &str, owner: &str, body: &str) -> Result<()>;
    /// A status resource, if it exists and belongs to `owner`.
    fn status(&self, id: &str, owner: &str) -> Result<Option<String>>;

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
