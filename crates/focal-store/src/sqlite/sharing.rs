//! [`SharingStore`] for SQLite (tables in `migrations/0003_sharing.sql`).

use super::{SqliteStore, err, now};
use crate::Result;
use crate::sharing::*;
use rusqlite::types::ToSql;
use rusqlite::{OptionalExtension, Row, params};

const OBJECT_COLUMNS: &str = "seq, collection_id, object_id, object_type, version, version_us, spec_version, date_added, tlp, meta, origin, body";

fn object_row(r: &Row<'_>) -> rusqlite::Result<StoredObject> {
    Ok(StoredObject {
        seq: r.get(0)?,
        collection: r.get(1)?,
        id: r.get(2)?,
        type_: r.get(3)?,
        version: r.get(4)?,
        version_us: r.get(5)?,
        spec_version: r.get(6)?,
        date_added: r.get(7)?,
        tlp: r.get(8)?,
        meta: r.get(9)?,
        origin: r.get(10)?,
        body: r.get(11)?,
    })
}

const PEER_COLUMNS: &str = "name, api_root, collection, local_collection, username, secret, auth, pull, push, pull_cursor, push_cursor, last_sync_at, last_error, pulled, pushed";

fn peer_row(r: &Row<'_>) -> rusqlite::Result<Peer> {
    Ok(Peer {
        name: r.get(0)?,
        api_root: r.get(1)?,
        collection: r.get(2)?,
        local_collection: r.get(3)?,
        username: r.get(4)?,
        secret: r.get(5)?,
        auth: r.get(6)?,
        pull: r.get(7)?,
        push: r.get(8)?,
        pull_cursor: r.get(9)?,
        push_cursor: r.get(10)?,
        last_sync_at: r.get(11)?,
        last_error: r.get(12)?,
        pulled: r.get::<_, i64>(13)? as u64,
        pushed: r.get::<_, i64>(14)? as u64,
    })
}

fn collection_row(r: &Row<'_>) -> rusqlite::Result<Collection> {
    Ok(Collection {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        alias: r.get(3)?,
        max_tlp: r.get(4)?,
        api_root: r.get(5)?,
    })
}

fn api_root_row(r: &Row<'_>) -> rusqlite::Result<ApiRoot> {
    Ok(ApiRoot {
        name: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
    })
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// `?n, ?n+1, ...` for a list of values, appending them to `args`.
fn placeholders(values: &[impl ToSql + Clone + 'static], args: &mut Vec<Box<dyn ToSql>>) -> String {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        args.push(Box::new(v.clone()));
        out.push(format!("?{}", args.len()));
    }
    out.join(", ")
}

/// The WHERE clause for version and spec_version matching, as bound parameters.
/// `versions` and `spec_versions` as SQL over alias `o`. `among` (over alias `o2`, empty for
/// all) narrows the versions the first or last is chosen among: a reader's last version is the
/// last one it may see, so a version it may not see (a peer's copy marked higher, or one the
/// peer dated far ahead) cannot hide the ones it may.
fn version_clause(
    versions: &VersionMatch,
    spec_versions: &[String],
    among: &str,
    args: &mut Vec<Box<dyn ToSql>>,
) -> String {
    let mut sql = String::new();
    if !spec_versions.is_empty() {
        sql += &format!(
            " AND o.spec_version IN ({})",
            placeholders(spec_versions, args)
        );
    }
    match versions {
        VersionMatch::All => {}
        VersionMatch::Last | VersionMatch::First => {
            let agg = if *versions == VersionMatch::Last {
                "MAX"
            } else {
                "MIN"
            };
            sql += &format!(
                " AND o.version_us = (SELECT {agg}(o2.version_us) FROM stix_objects o2 \
                 WHERE o2.collection_id = o.collection_id AND o2.object_id = o.object_id{among})"
            );
        }
        VersionMatch::At(list) => {
            sql += &format!(" AND o.version_us IN ({})", placeholders(list, args));
        }
    }
    sql
}

/// The columns [`Visibility`] is matched on (written by `add_objects` from [`NewObject`], indexed
/// with the collection and `date_added` by `stix_objects_visible`, migration 0013).
const TLP: &str = "tlp";
const FOREIGN: &str = "foreign_origin";
const CONSTITUENT: &str = "constituent";

/// The versions a reader may see, as SQL over `alias` (` AND ...`). Only stored columns, all in
/// the `stix_objects_visible` index, so the page query checks them on index entries.
fn visibility_clause(v: &Visibility, alias: &str, args: &mut Vec<Box<dyn ToSql>>) -> String {
    let list = |tlps: &[String], args: &mut Vec<Box<dyn ToSql>>| {
        if tlps.is_empty() {
            "0".to_string()
        } else {
            format!("{alias}.{TLP} IN ({})", placeholders(tlps, args))
        }
    };
    let local = list(&v.local_tlps, args);
    let foreign = list(&v.foreign_tlps, args);
    let mut sql = format!(" AND CASE WHEN {alias}.{FOREIGN} THEN {foreign} ELSE {local} END");
    match &v.strict_constituent {
        Some(c) => {
            args.push(Box::new(c.clone()));
            sql += &format!(
                " AND ({alias}.{TLP} <> 'AMBER+STRICT' OR {alias}.{CONSTITUENT} = ?{})",
                args.len()
            );
        }
        None => sql += &format!(" AND {alias}.{TLP} <> 'AMBER+STRICT'"),
    }
    sql
}

/// The page query of [`SharingStore::objects`] (one row more than `limit`, to tell whether more
/// match) and its arguments.
fn objects_query(collection: &str, q: &ObjectQuery) -> (String, Vec<Box<dyn ToSql>>) {
    let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(collection.to_string())];
    // A filtered reader walks `stix_objects_visible`: the filter is tested on its entries, and
    // only rows that pass are read. SQLite would otherwise take the narrower
    // (collection_id, date_added) index, its row being smaller, and read every row to test
    // the filter. Asked for ids, the object_id index is the better walk: the planner chooses.
    let index = if q.visible.is_some() && q.ids.is_empty() {
        " INDEXED BY stix_objects_visible"
    } else {
        ""
    };
    let mut sql =
        format!("SELECT {OBJECT_COLUMNS} FROM stix_objects o{index} WHERE o.collection_id = ?1");
    if let Some(after) = q.added_after {
        args.push(Box::new(after));
        sql += &format!(" AND o.date_added > ?{}", args.len());
    }
    // Paging is by date_added (unique and increasing per collection), so the filter, the
    // cursor and the order all use an index on (collection_id, date_added); with a reader's
    // visibility, `stix_objects_visible`, which also holds the columns it is decided on.
    if let Some(after) = q.after_added {
        args.push(Box::new(after));
        sql += &format!(" AND o.date_added > ?{}", args.len());
    }
    if !q.ids.is_empty() {
        sql += &format!(" AND o.object_id IN ({})", placeholders(&q.ids, &mut args));
    }
    if !q.types.is_empty() {
        sql += &format!(
            " AND o.object_type IN ({})",
            placeholders(&q.types, &mut args)
        );
    }
    let among = match &q.visible {
        Some(v) => visibility_clause(v, "o2", &mut args),
        None => String::new(),
    };
    sql += &version_clause(&q.versions, &q.spec_versions, &among, &mut args);
    if let Some(v) = &q.visible {
        sql += &visibility_clause(v, "o", &mut args);
    }
    args.push(Box::new((q.limit.max(1) + 1) as i64));
    sql += &format!(" ORDER BY o.date_added LIMIT ?{}", args.len());
    (sql, args)
}

impl SharingStore for SqliteStore {
    fn setting(&self, key: &str) -> Result<Option<String>> {
        self.writer()
            .query_row(
                "SELECT value FROM sharing_settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("reading a sharing setting"))
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO sharing_settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map_err(err("saving a sharing setting"))?;
        Ok(())
    }

    fn put_api_root(&self, root: &ApiRoot) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO taxii_api_roots (name, title, description, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (name) DO UPDATE SET title = excluded.title, description = excluded.description",
                params![root.name, root.title, root.description, now()],
            )
            .map_err(err("saving an API root"))?;
        Ok(())
    }

    fn api_roots(&self) -> Result<Vec<ApiRoot>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT name, title, description FROM taxii_api_roots \
                 ORDER BY name <> ?1, created_at, name",
            )
            .map_err(err("listing API roots"))?;
        let rows = stmt
            .query_map(params![DEFAULT_API_ROOT], api_root_row)
            .map_err(err("listing API roots"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("listing API roots"))
    }

    fn api_root(&self, name: &str) -> Result<Option<ApiRoot>> {
        self.reader()?
            .query_row(
                "SELECT name, title, description FROM taxii_api_roots WHERE name = ?1",
                params![name],
                api_root_row,
            )
            .optional()
            .map_err(err("reading an API root"))
    }

    fn put_collection(&self, c: &Collection) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction().map_err(err("saving a collection"))?;
        let root_exists = tx
            .prepare_cached("SELECT 1 FROM taxii_api_roots WHERE name = ?1")
            .and_then(|mut s| s.exists(params![c.api_root]))
            .map_err(err("saving a collection"))?;
        if !root_exists {
            return Err(crate::StoreError::Invalid(format!(
                "there is no API root {:?} (create it first)",
                c.api_root
            )));
        }
        tx.execute(
            "INSERT INTO taxii_collections (id, title, description, alias, max_tlp, created_at, api_root) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
             description = excluded.description, alias = excluded.alias, max_tlp = excluded.max_tlp, \
             api_root = excluded.api_root",
            params![c.id, c.title, c.description, c.alias, c.max_tlp, now(), c.api_root],
        )
        .map_err(err("saving a collection"))?;
        tx.commit().map_err(err("saving a collection"))?;
        Ok(())
    }

    fn collections(&self) -> Result<Vec<Collection>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT id, title, description, alias, max_tlp, api_root FROM taxii_collections ORDER BY created_at, id")
            .map_err(err("listing collections"))?;
        let rows = stmt
            .query_map([], collection_row)
            .map_err(err("listing collections"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("listing collections"))
    }

    fn collection(&self, id: &str) -> Result<Option<Collection>> {
        self.reader()?
            .query_row(
                "SELECT id, title, description, alias, max_tlp, api_root FROM taxii_collections WHERE id = ?1 OR alias = ?1",
                params![id],
                collection_row,
            )
            .optional()
            .map_err(err("reading a collection"))
    }

    fn add_objects(
        &self,
        collection: &str,
        objects: &[NewObject],
        origin: Option<&str>,
    ) -> Result<AddOutcome> {
        let mut conn = self.writer();
        let tx = conn.transaction().map_err(err("starting to add objects"))?;
        let mut out = AddOutcome::default();
        let last: i64 = tx
            .query_row(
                "SELECT date_added FROM stix_objects ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("reading the last date_added"))?
            .unwrap_or(0);
        let mut next_added = now_us().max(last + 1);
        {
            let mut exists = tx
                .prepare_cached("SELECT 1 FROM stix_objects WHERE collection_id = ?1 AND object_id = ?2 AND version_us = ?3")
                .map_err(err("checking for an object"))?;
            let mut seen_from = tx
                .prepare_cached("SELECT 1 FROM provenance WHERE object_id = ?1 AND version_us = ?2 AND peer = ?3")
                .map_err(err("checking provenance"))?;
            let mut insert = tx
                .prepare_cached(
                    &format!(
                        "INSERT INTO stix_objects (collection_id, object_id, object_type, version, version_us, \
                         spec_version, date_added, {TLP}, meta, origin, body, {FOREIGN}, {CONSTITUENT}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                    ),
                )
                .map_err(err("adding an object"))?;
            let mut record = tx
                .prepare_cached("INSERT OR IGNORE INTO provenance (object_id, version_us, peer, received_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err("recording provenance"))?;
            let mut converted = tx
                .prepare_cached("INSERT OR REPLACE INTO stix_conversions (collection_id, object_id, version_us, record) VALUES (?1, ?2, ?3, ?4)")
                .map_err(err("recording a conversion"))?;
            // An object without `modified` or `created` (an SCO) is identified by its id and
            // content: its id is a hash of its identifying properties, so the same body again
            // is the same object, whenever and from whomever it arrives.
            let mut same_body = tx
                .prepare_cached(
                    "SELECT version FROM stix_objects WHERE collection_id = ?1 AND object_id = ?2 AND body = ?3 LIMIT 1",
                )
                .map_err(err("checking for an object"))?;
            let mut batch: std::collections::HashSet<(String, i64)> =
                std::collections::HashSet::new();
            let mut batch_bodies: std::collections::HashSet<(&str, &str)> =
                std::collections::HashSet::new();
            for o in objects {
                let date_added = next_added;
                let (version, version_us) = match (&o.version, o.version_us) {
                    (Some(v), Some(us)) => (v.clone(), us),
                    _ => {
                        let held: Option<String> = same_body
                            .query_row(params![collection, o.id, o.body], |r| r.get(0))
                            .optional()
                            .map_err(err("checking for an object"))?;
                        if let Some(v) = held {
                            out.already_present.push((o.id.clone(), v));
                            continue;
                        }
                        if !batch_bodies.insert((o.id.as_str(), o.body.as_str())) {
                            out.already_present
                                .push((o.id.clone(), timestamp_us(date_added)));
                            continue;
                        }
                        (timestamp_us(date_added), date_added)
                    }
                };
                let known = exists
                    .exists(params![collection, o.id, version_us])
                    .map_err(err("checking for an object"))?
                    || match origin {
                        Some(p) => seen_from
                            .exists(params![o.id, version_us, p])
                            .map_err(err("checking provenance"))?,
                        None => false,
                    }
                    || !batch.insert((o.id.clone(), version_us));
                if known {
                    out.already_present.push((o.id.clone(), version));
                    continue;
                }
                insert
                    .execute(params![
                        collection,
                        o.id,
                        o.type_,
                        version,
                        version_us,
                        o.spec_version,
                        date_added,
                        o.tlp,
                        o.meta,
                        origin,
                        o.body,
                        o.foreign,
                        o.constituent
                    ])
                    .map_err(err("adding an object"))?;
                if let Some(c) = &o.conversion {
                    converted
                        .execute(params![collection, o.id, version_us, c])
                        .map_err(err("recording a conversion"))?;
                }
                if let Some(p) = origin {
                    record
                        .execute(params![o.id, version_us, p, now()])
                        .map_err(err("recording provenance"))?;
                }
                out.added.push((o.id.clone(), version, date_added));
                next_added += 1;
            }
        }
        tx.commit().map_err(err("committing added objects"))?;
        Ok(out)
    }

    fn objects(&self, collection: &str, q: &ObjectQuery) -> Result<ObjectPage> {
        let (sql, args) = objects_query(collection, q);
        let limit = q.limit.max(1);
        let conn = self.reader()?;
        let mut stmt = conn.prepare(&sql).map_err(err("querying objects"))?;
        let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let rows = stmt
            .query_map(refs.as_slice(), object_row)
            .map_err(err("querying objects"))?;
        let mut objects: Vec<StoredObject> = rows
            .collect::<rusqlite::Result<_>>()
            .map_err(err("querying objects"))?;
        let more = objects.len() > limit;
        objects.truncate(limit);
        Ok(ObjectPage { objects, more })
    }

    fn delete_object(
        &self,
        collection: &str,
        id: &str,
        versions: &VersionMatch,
        spec_versions: &[String],
    ) -> Result<u64> {
        let mut args: Vec<Box<dyn ToSql>> =
            vec![Box::new(collection.to_string()), Box::new(id.to_string())];
        let clause = version_clause(versions, spec_versions, "", &mut args);
        let sql = format!(
            "DELETE FROM stix_objects WHERE seq IN (SELECT o.seq FROM stix_objects o \
             WHERE o.collection_id = ?1 AND o.object_id = ?2{clause})"
        );
        let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let n = self
            .writer()
            .execute(&sql, refs.as_slice())
            .map_err(err("deleting an object"))?;
        Ok(n as u64)
    }

    fn objects_after(
        &self,
        collection: &str,
        after_added: i64,
        limit: usize,
    ) -> Result<Vec<StoredObject>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {OBJECT_COLUMNS} FROM stix_objects WHERE collection_id = ?1 AND date_added > ?2 ORDER BY date_added LIMIT ?3"
            ))
            .map_err(err("reading objects to push"))?;
        let rows = stmt
            .query_map(params![collection, after_added, limit as i64], object_row)
            .map_err(err("reading objects to push"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("reading objects to push"))
    }

    fn count_uninterpreted_markings(&self) -> Result<u64> {
        // `meta` is the sharing layer's JSON; the key is present only when the list is not empty.
        let n: i64 = self
            .reader()?
            .query_row(
                "SELECT count(*) FROM stix_objects WHERE json_extract(meta, '$.uninterpreted_markings') IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(err("counting objects with uninterpreted markings"))?;
        Ok(n as u64)
    }

    fn known_ids(
        &self,
        collection: &str,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT 1 FROM stix_objects WHERE collection_id = ?2 AND object_id = ?1 LIMIT 1",
            )
            .map_err(err("looking up object ids"))?;
        let mut out = std::collections::HashSet::new();
        for id in ids {
            if stmt
                .exists(params![id, collection])
                .map_err(err("looking up object ids"))?
            {
                out.insert(id.clone());
            }
        }
        Ok(out)
    }

    fn conversion(&self, collection: &str, id: &str, version_us: i64) -> Result<Option<String>> {
        self.reader()?
            .query_row(
                "SELECT record FROM stix_conversions WHERE collection_id = ?1 AND object_id = ?2 AND version_us = ?3",
                params![collection, id, version_us],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("reading a conversion"))
    }

    fn provenance(&self, id: &str, version_us: i64) -> Result<Vec<String>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT peer FROM provenance WHERE object_id = ?1 AND version_us = ?2 ORDER BY peer")
            .map_err(err("reading provenance"))?;
        let rows = stmt
            .query_map(params![id, version_us], |r| r.get(0))
            .map_err(err("reading provenance"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("reading provenance"))
    }

    fn put_peer(&self, p: &Peer) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO peers (name, api_root, collection, local_collection, username, secret, auth, pull, push, \
                 pull_cursor, push_cursor, last_sync_at, last_error, pulled, pushed, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
                 ON CONFLICT (name) DO UPDATE SET api_root = excluded.api_root, collection = excluded.collection, \
                 local_collection = excluded.local_collection, username = excluded.username, secret = excluded.secret, \
                 auth = excluded.auth, pull = excluded.pull, push = excluded.push, pull_cursor = excluded.pull_cursor, \
                 push_cursor = excluded.push_cursor, last_sync_at = excluded.last_sync_at, last_error = excluded.last_error, \
                 pulled = excluded.pulled, pushed = excluded.pushed",
                params![
                    p.name,
                    p.api_root,
                    p.collection,
                    p.local_collection,
                    p.username,
                    p.secret,
                    p.auth,
                    p.pull,
                    p.push,
                    p.pull_cursor,
                    p.push_cursor,
                    p.last_sync_at,
                    p.last_error,
                    p.pulled as i64,
                    p.pushed as i64,
                    now()
                ],
            )
            .map_err(err("saving a peer"))?;
        Ok(())
    }

    fn peers(&self) -> Result<Vec<Peer>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY name"))
            .map_err(err("listing peers"))?;
        let rows = stmt.query_map([], peer_row).map_err(err("listing peers"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("listing peers"))
    }

    fn peer(&self, name: &str) -> Result<Option<Peer>> {
        self.reader()?
            .query_row(
                &format!("SELECT {PEER_COLUMNS} FROM peers WHERE name = ?1"),
                params![name],
                peer_row,
            )
            .optional()
            .map_err(err("reading a peer"))
    }

    fn set_policy(&self, principal: &str, policy_json: &str) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO sharing_policies (principal, policy) VALUES (?1, ?2) \
                 ON CONFLICT (principal) DO UPDATE SET policy = excluded.policy",
                params![principal, policy_json],
            )
            .map_err(err("saving a sharing policy"))?;
        Ok(())
    }

    fn policy(&self, principal: &str) -> Result<Option<String>> {
        self.reader()?
            .query_row(
                "SELECT policy FROM sharing_policies WHERE principal = ?1",
                params![principal],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("reading a sharing policy"))
    }

    fn policies(&self) -> Result<Vec<(String, String)>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT principal, policy FROM sharing_policies ORDER BY principal")
            .map_err(err("listing sharing policies"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err("listing sharing policies"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("listing sharing policies"))
    }

    fn received_objects(
        &self,
        collection: &str,
        before_added: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredObject>> {
        let conn = self.reader()?;
        // Walks the (collection_id, date_added) index backwards; rows made here are skipped.
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {OBJECT_COLUMNS} FROM stix_objects WHERE collection_id = ?1 AND date_added < ?2 \
                 AND origin IS NOT NULL ORDER BY date_added DESC LIMIT ?3"
            ))
            .map_err(err("reading received objects"))?;
        let rows = stmt
            .query_map(
                params![collection, before_added.unwrap_or(i64::MAX), limit as i64],
                object_row,
            )
            .map_err(err("reading received objects"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(err("reading received objects"))
    }

    fn put_status(&self, id: &str, owner: &str, body: &str) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO taxii_status (id, owner, body, created_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                params![id, owner, body, now()],
            )
            .map_err(err("saving a status"))?;
        Ok(())
    }

    fn status(&self, id: &str, owner: &str) -> Result<Option<String>> {
        self.reader()?
            .query_row(
                "SELECT body FROM taxii_status WHERE id = ?1 AND owner = ?2",
                params![id, owner],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("reading a status"))
    }

    fn set_rights(&self, user_id: i64, collection: &str, rights: Rights) -> Result<()> {
        self.writer()
            .execute(
                "INSERT INTO collection_rights (user_id, collection_id, can_read, can_write) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (user_id, collection_id) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write",
                params![user_id, collection, rights.can_read, rights.can_write],
            )
            .map_err(err("saving rights"))?;
        Ok(())
    }

    fn rights(&self, user_id: i64, collection: &str) -> Result<Option<Rights>> {
        self.reader()?
            .query_row(
                "SELECT can_read, can_write FROM collection_rights WHERE user_id = ?1 AND collection_id = ?2",
                params![user_id, collection],
                |r| Ok(Rights { can_read: r.get(0)?, can_write: r.get(1)? }),
            )
            .optional()
            .map_err(err("reading rights"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
        s.put_collection(&Collection {
            id: "c1".into(),
            title: "one".into(),
            description: None,
            alias: Some("one".into()),
            max_tlp: None,
            api_root: DEFAULT_API_ROOT.into(),
        })
        .unwrap();
        (dir, s)
    }

    fn obj(id: &str, version: Option<&str>) -> NewObject {
        NewObject {
            id: id.into(),
            type_: id.split("--").next().unwrap().into(),
            version: version.map(str::to_string),
            version_us: version.and_then(parse_timestamp_us),
            spec_version: "2.1".into(),
            tlp: "GREEN".into(),
            meta: "{}".into(),
            foreign: false,
            constituent: None,
            body: format!("{{\"id\":\"{id}\"}}"),
            conversion: None,
        }
    }

    #[test]
    fn api_roots_hold_collections_and_conversions_stay_with_their_object() {
        let (_d, s) = store();
        assert_eq!(s.api_roots().unwrap()[0].name, DEFAULT_API_ROOT);
        let orphan = Collection {
            id: "c2".into(),
            title: "two".into(),
            description: None,
            alias: None,
            max_tlp: None,
            api_root: "isac".into(),
        };
        assert!(matches!(
            s.put_collection(&orphan),
            Err(crate::StoreError::Invalid(_))
        ));
        s.put_api_root(&ApiRoot {
            name: "isac".into(),
            title: "Energy ISAC".into(),
            description: None,
        })
        .unwrap();
        s.put_collection(&orphan).unwrap();
        assert_eq!(s.collection("c2").unwrap().unwrap().api_root, "isac");
        let names: Vec<_> = s.api_roots().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, [DEFAULT_API_ROOT, "isac"]);
        let mut converted = obj("indicator--9", Some("2026-01-01T00:00:00.000Z"));
        converted.conversion = Some("{\"from\":\"2.0\"}".into());
        s.add_objects("c2", &[converted], None).unwrap();
        let us = parse_timestamp_us("2026-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            s.conversion("c2", "indicator--9", us).unwrap().as_deref(),
            Some("{\"from\":\"2.0\"}")
        );
        assert_eq!(s.conversion("c1", "indicator--9", us).unwrap(), None);
    }

    #[test]
    fn adds_are_atomic_ordered_and_idempotent() {
        let (_d, s) = store();
        let batch = [
            obj("indicator--1", Some("2026-01-01T00:00:00.000Z")),
            obj("indicator--1", Some("2026-01-02T00:00:00.000Z")),
            obj("ipv4-addr--2", None),
            obj("indicator--1", Some("2026-01-01T00:00:00.000Z")),
        ];
        let out = s.add_objects("c1", &batch, Some("peer-a")).unwrap();
        assert_eq!(out.added.len(), 3);
        assert_eq!(out.already_present.len(), 1);
        let dates: Vec<i64> = out.added.iter().map(|a| a.2).collect();
        assert!(
            dates.windows(2).all(|w| w[0] < w[1]),
            "date_added must strictly increase"
        );
        // The same versions again, from anyone: nothing stored twice.
        let again = s.add_objects("c1", &batch[..2], None).unwrap();
        assert!(again.added.is_empty());
        // Deleted, then offered again by the peer it came from: not re-imported.
        s.delete_object("c1", "indicator--1", &VersionMatch::All, &[])
            .unwrap();
        let back = s.add_objects("c1", &batch[..1], Some("peer-a")).unwrap();
        assert!(back.added.is_empty());
        assert_eq!(
            s.provenance("indicator--1", batch[0].version_us.unwrap())
                .unwrap(),
            vec!["peer-a"]
        );
        // A statement failing half-way (a trigger here) rolls the whole add back.
        rusqlite::Connection::open(s.path())
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON stix_objects WHEN NEW.object_id = 'indicator--boom' \
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .unwrap();
        let err = s.add_objects(
            "c1",
            &[obj("indicator--8", None), obj("indicator--boom", None)],
            None,
        );
        assert!(err.is_err());
        let all = s
            .objects(
                "c1",
                &ObjectQuery {
                    versions: VersionMatch::All,
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(
            all.objects.iter().all(|o| o.id != "indicator--8"),
            "half of a failed add was kept"
        );
    }

    #[test]
    fn queries_page_filter_and_match_versions() {
        let (_d, s) = store();
        let mut batch = Vec::new();
        for n in 0..10 {
            batch.push(obj(
                &format!("indicator--{n}"),
                Some("2026-01-01T00:00:00.000Z"),
            ));
            batch.push(obj(
                &format!("indicator--{n}"),
                Some("2026-01-03T00:00:00.000Z"),
            ));
        }
        batch.push(obj("malware--x", Some("2026-01-01T00:00:00.000Z")));
        s.add_objects("c1", &batch, None).unwrap();
        let mut q = ObjectQuery {
            limit: 4,
            ..Default::default()
        };
        let mut ids = Vec::new();
        loop {
            let p = s.objects("c1", &q).unwrap();
            assert!(
                p.objects
                    .iter()
                    .all(|o| o.version.starts_with("2026-01-03") || o.id == "malware--x")
            );
            ids.extend(p.objects.iter().map(|o| o.id.clone()));
            q.after_added = p.objects.last().map(|o| o.date_added);
            if !p.more {
                break;
            }
        }
        assert_eq!(ids.len(), 11);
        let first = s
            .objects(
                "c1",
                &ObjectQuery {
                    versions: VersionMatch::First,
                    types: vec!["indicator".into()],
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(first.objects.len(), 10);
        assert!(
            first
                .objects
                .iter()
                .all(|o| o.version.starts_with("2026-01-01"))
        );
        let all = s
            .objects(
                "c1",
                &ObjectQuery {
                    versions: VersionMatch::All,
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        let cut = all.objects[5].date_added;
        let after = s
            .objects(
                "c1",
                &ObjectQuery {
                    versions: VersionMatch::All,
                    added_after: Some(cut),
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(after.objects.len(), all.objects.len() - 6);
        let by_id = s
            .objects(
                "c1",
                &ObjectQuery {
                    ids: vec!["indicator--3".into(), "malware--x".into()],
                    limit: 100,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(by_id.objects.len(), 2);
    }

    /// Visibility is decided on the columns, not on `meta`, and the page query walks the
    /// `stix_objects_visible` index in `date_added` order, with no sort.
    #[test]
    fn visibility_uses_the_columns_along_the_visible_index() {
        let (_d, s) = store();
        let mut batch = Vec::new();
        for n in 0..40 {
            let mut o = obj(&format!("indicator--{n}"), Some("2026-01-01T00:00:00.000Z"));
            o.tlp = if n % 10 == 0 { "GREEN" } else { "AMBER" }.into();
            batch.push(o);
        }
        // A GREEN version received from a peer: `meta` says nothing, the column decides.
        let mut foreign = obj("indicator--f", Some("2026-01-01T00:00:00.000Z"));
        foreign.foreign = true;
        batch.push(foreign);
        // AMBER+STRICT for constituent "a" and for "b".
        for c in ["a", "b"] {
            let mut o = obj(
                &format!("indicator--strict-{c}"),
                Some("2026-01-01T00:00:00.000Z"),
            );
            o.tlp = "AMBER+STRICT".into();
            o.constituent = Some(c.into());
            batch.push(o);
        }
        s.add_objects("c1", &batch, None).unwrap();
        let q = |local: &[&str], foreign: &[&str], constituent: Option<&str>| ObjectQuery {
            limit: 3,
            visible: Some(Visibility {
                local_tlps: local.iter().map(|t| t.to_string()).collect(),
                foreign_tlps: foreign.iter().map(|t| t.to_string()).collect(),
                strict_constituent: constituent.map(str::to_string),
            }),
            ..Default::default()
        };
        let all_ids = |q: ObjectQuery| {
            let mut q = q;
            let mut ids = Vec::new();
            loop {
                let p = s.objects("c1", &q).unwrap();
                if p.more {
                    assert_eq!(p.objects.len(), q.limit, "a page before the last is short");
                }
                ids.extend(p.objects.iter().map(|o| o.id.clone()));
                q.after_added = p.objects.last().map(|o| o.date_added);
                if !p.more {
                    break ids;
                }
            }
        };
        let green = [
            "indicator--0",
            "indicator--10",
            "indicator--20",
            "indicator--30",
        ];
        assert_eq!(all_ids(q(&["GREEN"], &[], None)), green);
        let mut with_foreign: Vec<&str> = green.to_vec();
        with_foreign.push("indicator--f");
        assert_eq!(all_ids(q(&["GREEN"], &["GREEN"], None)), with_foreign);
        let mut strict_a = green.to_vec();
        strict_a.push("indicator--strict-a");
        assert_eq!(
            all_ids(q(&["GREEN", "AMBER+STRICT"], &[], Some("a"))),
            strict_a
        );
        assert_eq!(all_ids(q(&["GREEN", "AMBER+STRICT"], &[], None)), green);

        let (sql, args) = objects_query(
            "c1",
            &ObjectQuery {
                after_added: Some(0),
                ..q(&["GREEN", "AMBER+STRICT"], &["GREEN"], Some("a"))
            },
        );
        let conn = s.reader().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
        let plan: Vec<String> = stmt
            .query_map(refs.as_slice(), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|l| l.starts_with("SEARCH o USING INDEX stix_objects_visible")),
            "the page query does not walk the visibility index: {plan:?}"
        );
        assert!(
            !plan.iter().any(|l| l.contains("TEMP B-TREE")),
            "the page query sorts: {plan:?}"
        );
    }

    #[test]
    fn rights_per_user_and_collection() {
        let (_d, s) = store();
        let u = crate::sqlite::identity::tests::user(&s, "peer1", focal_identity::Role::Peer);
        assert!(s.rights(u.id, "c1").unwrap().is_none());
        s.set_rights(
            u.id,
            "c1",
            Rights {
                can_read: true,
                can_write: false,
            },
        )
        .unwrap();
        assert_eq!(
            s.rights(u.id, "c1").unwrap(),
            Some(Rights {
                can_read: true,
                can_write: false
            })
        );
    }
}
