//! The TAXII 2.1 API: discovery, API roots (`/taxii2/root/` and one per trust community made
//! with `focal share api-root`), status, collections, objects (GET, POST), object (GET,
//! DELETE), manifest and versions.
//!
//! A collection belongs to one API root and answers only under it. A user sees an API root (in
//! discovery, or asked for) when it may read or write at least one of its collections; staff
//! see every root. The default root is always listed, first, as before.
//!
//! Objects served are stored objects after `focal_sharing::release` with the user's policy,
//! narrowed by the collection's own TLP limit. Inbound objects are validated whole
//! (`focal_sharing::validate`) and stored in one transaction, with the user as their origin.

use crate::AppState;
use crate::access::Principal;
use crate::auth;
use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use focal_sharing::import::AcceptError;
use focal_sharing::policy::{Policy, Shareable};
use focal_sharing::validate::InboundError;
use focal_store::incidents::AuditLog;
use focal_store::sharing::{
    ObjectQuery, Rights, SharingStore, StoredObject, User, VersionMatch, parse_timestamp_us,
    timestamp_us,
};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const TAXII_MEDIA: &str = "application/taxii+json;version=2.1";
pub const STIX_MEDIA: &str = "application/stix+json;version=2.1";
/// Largest page the server returns, whatever `limit` asks for.
pub const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
/// At most this many reads of the store to fill one page.
const FILL_ROUNDS: usize = 8;
use focal_store::sharing::DEFAULT_API_ROOT;

pub fn routes(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/{root}/", get(api_root))
        .route("/taxii2/{root}/status/{status}/", get(status))
        .route("/taxii2/{root}/collections/", get(collections))
        .route("/taxii2/{root}/collections/{collection}/", get(collection))
        .route(
            "/taxii2/{root}/collections/{collection}/objects/",
            get(get_objects).post(add_objects),
        )
        .route(
            "/taxii2/{root}/collections/{collection}/objects/{object}/",
            get(get_object).delete(delete_object),
        )
        .route(
            "/taxii2/{root}/collections/{collection}/objects/{object}/versions/",
            get(versions),
        )
        .route(
            "/taxii2/{root}/collections/{collection}/manifest/",
            get(manifest),
        )
}

/// A TAXII error response: the error resource with its status code.
#[derive(Debug)]
pub struct TaxiiError {
    pub status: StatusCode,
    pub title: String,
    pub description: String,
    pub details: Option<Value>,
}

impl TaxiiError {
    pub fn new(status: StatusCode, title: &str, description: impl Into<String>) -> TaxiiError {
        TaxiiError {
            status,
            title: title.into(),
            description: description.into(),
            details: None,
        }
    }
    fn not_found(what: impl Into<String>) -> TaxiiError {
        TaxiiError::new(StatusCode::NOT_FOUND, "Not found", what)
    }
    fn bad_request(what: impl Into<String>) -> TaxiiError {
        TaxiiError::new(StatusCode::BAD_REQUEST, "Bad request", what)
    }
    fn internal(what: impl std::fmt::Display) -> TaxiiError {
        tracing::error!(error = %what, "TAXII request failed");
        TaxiiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "the server could not complete the request",
        )
    }
}

impl From<focal_store::StoreError> for TaxiiError {
    fn from(e: focal_store::StoreError) -> Self {
        TaxiiError::internal(e)
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        let mut resp = taxii_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"focal\", Bearer"),
            );
        }
        resp
    }
}

type Result<T> = std::result::Result<T, TaxiiError>;

fn taxii_json(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA));
    resp
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(TaxiiError::internal)?
}

/// Refuses an `Accept` that asks for something other than TAXII 2.1 JSON.
fn check_accept(headers: &HeaderMap) -> Result<()> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let ok = accept.split(',').any(|part| {
        let part = part.trim().to_ascii_lowercase().replace(' ', "");
        let (media, params) = part.split_once(';').unwrap_or((&part, ""));
        let version_ok = params
            .split(';')
            .all(|p| !p.starts_with("version=") || p == "version=2.1");
        matches!(
            media,
            "application/taxii+json" | "application/json" | "*/*" | "application/*"
        ) && version_ok
    });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Not acceptable",
            format!("this server answers with {TAXII_MEDIA}, not {accept:?}"),
        ))
    }
}

/// The account the access layer authenticated (`access::guard`, with the one authenticator:
/// HTTP Basic or a bearer token, its scope already enforced), after checking `Accept`.
fn user(headers: &HeaderMap, who: Principal) -> Result<User> {
    check_accept(headers)?;
    Ok(who.user)
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Whether the user may see an API root: staff see every one, others one where they have a
/// right on at least one collection. The default root is always visible (it is where TAXII
/// clients start).
fn root_visible(
    store: &dyn SharingStore,
    u: &User,
    root: &focal_store::sharing::ApiRoot,
) -> Result<bool> {
    if root.name == DEFAULT_API_ROOT || matches!(u.role.as_str(), "admin" | "analyst" | "auditor") {
        return Ok(true);
    }
    for c in store
        .collections()?
        .iter()
        .filter(|c| c.api_root == root.name)
    {
        let r = auth::rights(store, u, &c.id)?;
        if r.can_read || r.can_write {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The API root named in the path, if it exists and the user may see it (else 404, so that a
/// community's root is not disclosed to outsiders).
fn visible_root(
    store: &dyn SharingStore,
    u: &User,
    name: &str,
) -> Result<focal_store::sharing::ApiRoot> {
    match store.api_root(name)? {
        Some(root) if root_visible(store, u, &root)? => Ok(root),
        _ => Err(TaxiiError::not_found(format!("no API root {name}"))),
    }
}

async fn discovery(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let store = state.store.clone();
    let names = blocking(move || {
        let mut names = Vec::new();
        for root in store.api_roots()? {
            if root_visible(store.as_ref(), &u, &root)? {
                names.push(root.name);
            }
        }
        Ok(names)
    })
    .await?;
    let base = base_url(&headers);
    let urls: Vec<String> = names
        .iter()
        .map(|n| format!("{base}/taxii2/{n}/"))
        .collect();
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("{} (Focal)", state.settings.node.name),
            "description": "TAXII 2.1 server of a Focal node",
            "default": format!("{base}/taxii2/{DEFAULT_API_ROOT}/"),
            "api_roots": urls,
        }),
    ))
}

async fn api_root(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let store = state.store.clone();
    let root = blocking(move || visible_root(store.as_ref(), &u, &name)).await?;
    let mut body = json!({
        "title": if root.name == DEFAULT_API_ROOT {
            format!("{} sharing", state.settings.node.name)
        } else {
            root.title.clone()
        },
        "versions": [TAXII_MEDIA],
        "max_content_length": state.settings.limits.max_body_bytes,
    });
    body["description"] = json!(
        root.description
            .unwrap_or_else(|| "Indicators and sightings shared under TLP 2.0".into())
    );
    Ok(taxii_json(StatusCode::OK, &body))
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path((root, id)): Path<(String, String)>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let store = state.store.clone();
    let body = blocking(move || {
        visible_root(store.as_ref(), &u, &root)?;
        Ok(store.status(&id, &u.name)?)
    })
    .await?;
    let body = body.ok_or_else(|| TaxiiError::not_found("no such status resource"))?;
    let value: Value = serde_json::from_str(&body).map_err(TaxiiError::internal)?;
    Ok(taxii_json(StatusCode::OK, &value))
}

fn collection_json(c: &focal_store::sharing::Collection, r: Rights) -> Value {
    let mut v = json!({
        "id": c.id,
        "title": c.title,
        "can_read": r.can_read,
        "can_write": r.can_write,
        "media_types": [STIX_MEDIA],
    });
    if let Some(d) = &c.description {
        v["description"] = json!(d);
    }
    if let Some(a) = &c.alias {
        v["alias"] = json!(a);
    }
    v
}

async fn collections(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path(root): Path<String>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let store = state.store.clone();
    let list = blocking(move || {
        let root = visible_root(store.as_ref(), &u, &root)?;
        let mut out = Vec::new();
        for c in store
            .collections()?
            .into_iter()
            .filter(|c| c.api_root == root.name)
        {
            let r = auth::rights(store.as_ref(), &u, &c.id)?;
            if r.can_read || r.can_write {
                out.push(collection_json(&c, r));
            }
        }
        Ok(out)
    })
    .await?;
    let body = if list.is_empty() {
        json!({})
    } else {
        json!({ "collections": list })
    };
    Ok(taxii_json(StatusCode::OK, &body))
}

/// The collection (`root/id`) and the user's rights on it; 404 if it does not exist under that
/// API root or the user has no right at all on it (so its existence is not disclosed).
fn access(
    store: &dyn SharingStore,
    u: &User,
    (root, id): &(String, String),
) -> Result<(focal_store::sharing::Collection, Rights)> {
    let c = store
        .collection(id)?
        .filter(|c| &c.api_root == root)
        .ok_or_else(|| TaxiiError::not_found(format!("no collection {id}")))?;
    let r = auth::rights(store, u, &c.id)?;
    if !r.can_read && !r.can_write {
        return Err(TaxiiError::not_found(format!("no collection {id}")));
    }
    Ok((c, r))
}

fn need_read(r: Rights) -> Result<()> {
    if r.can_read {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "you may not read this collection",
        ))
    }
}

fn need_write(r: Rights) -> Result<()> {
    if r.can_write {
        Ok(())
    } else {
        Err(TaxiiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "you may not write to this collection",
        ))
    }
}

async fn collection(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path(id): Path<(String, String)>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let store = state.store.clone();
    let (c, r) = blocking(move || access(store.as_ref(), &u, &id)).await?;
    Ok(taxii_json(StatusCode::OK, &collection_json(&c, r)))
}

/// The TAXII filters of a request, parsed; errors say which parameter is wrong.
fn parse_query(params: &[(String, String)], allow_ids: bool) -> Result<ObjectQuery> {
    let mut q = ObjectQuery {
        limit: DEFAULT_PAGE,
        ..ObjectQuery::default()
    };
    let list = |v: &str| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    for (k, v) in params {
        match k.as_str() {
            "added_after" => {
                q.added_after = Some(parse_timestamp_us(v).ok_or_else(|| {
                    TaxiiError::bad_request(format!("added_after: {v:?} is not a timestamp"))
                })?)
            }
            "limit" => {
                let n: usize = v.parse().map_err(|_| {
                    TaxiiError::bad_request(format!("limit: {v:?} is not a positive integer"))
                })?;
                if n == 0 {
                    return Err(TaxiiError::bad_request("limit: must be at least 1"));
                }
                q.limit = n.min(MAX_PAGE);
            }
            "next" => {
                q.after_added = Some(v.parse().map_err(|_| {
                    TaxiiError::bad_request(format!("next: {v:?} is not a token this server gave"))
                })?)
            }
            "match[id]" if allow_ids => q.ids.extend(list(v)),
            "match[type]" => q.types.extend(list(v)),
            "match[spec_version]" => q.spec_versions.extend(list(v)),
            "match[version]" => {
                let mut at = Vec::new();
                for item in list(v) {
                    match item.as_str() {
                        "last" => q.versions = VersionMatch::Last,
                        "first" => q.versions = VersionMatch::First,
                        "all" => q.versions = VersionMatch::All,
                        t => at.push(parse_timestamp_us(t).ok_or_else(|| {
                            TaxiiError::bad_request(format!(
                                "match[version]: {t:?} is not last, first, all or a timestamp"
                            ))
                        })?),
                    }
                }
                if !at.is_empty() {
                    q.versions = VersionMatch::At(at);
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Stored objects through the choke point, each with its stored record. Each is released only
/// if every object it refers to is released with it or was added to the collection before it
/// and is visible to this reader (so a client paging from the start has received it).
fn released(
    policy: &Policy,
    state: &AppState,
    collection: &str,
    stored: &[StoredObject],
) -> Vec<(Value, i64, String)> {
    use focal_store::sharing::SharingStore;
    // Per referenced id: the earliest date_added of a version this reader may see, and its TLP.
    let mut visible: HashMap<String, Option<(i64, focal_model::Tlp)>> = HashMap::new();
    let mut out = Vec::with_capacity(stored.len());
    for s in stored {
        let Ok(object) = serde_json::from_str::<Value>(&s.body) else {
            continue;
        };
        let meta = serde_json::from_str(&s.meta)
            .unwrap_or_else(|_| focal_sharing::import::inbound_meta(&object));
        for r in focal_sharing::vocab::references(&object) {
            if visible.contains_key(r.id) {
                continue;
            }
            let q = ObjectQuery {
                ids: vec![r.id.to_string()],
                versions: VersionMatch::All,
                limit: 1000,
                ..ObjectQuery::default()
            };
            let mut seen: Option<(i64, focal_model::Tlp)> = None;
            for o in state
                .store
                .objects(collection, &q)
                .map(|p| p.objects)
                .unwrap_or_default()
            {
                let Ok(m) = serde_json::from_str::<focal_sharing::ShareMeta>(&o.meta) else {
                    continue;
                };
                if focal_sharing::policy::gate(policy, &m).is_some() {
                    continue;
                }
                let v = (o.date_added, m.tlp);
                if seen.is_none_or(|s| v.0 < s.0) {
                    seen = Some(v);
                }
                // An observable pseudonymised for this reader goes out under its pseudonym's
                // id, and what refers to it is rewritten to that id: it is held under that id
                // too. (Without this, nothing referring to a pseudonymised observable was ever
                // served: found by the five-node star in crates/focal/tests/federation_five.rs.)
                if let Some(p) = pseudonym_id(policy, &state.settings.key, &o.body, &m) {
                    let e = visible.entry(p).or_insert(Some(v));
                    if e.is_none_or(|x| v.0 < x.0) {
                        *e = Some(v);
                    }
                }
            }
            visible.insert(r.id.to_string(), seen);
        }
        let held = |id: &str| {
            visible
                .get(id)
                .copied()
                .flatten()
                .filter(|v| v.0 < s.date_added)
                .map(|v| v.1)
        };
        let r = focal_sharing::policy::release_closed(
            policy,
            &state.settings.key,
            vec![Shareable { object, meta }],
            &held,
        );
        for o in r.objects {
            out.push((o, s.date_added, s.version.clone()));
        }
    }
    out
}

/// The id a stored observable goes out under when `policy` pseudonymises its value: that of
/// the `domain-name` of its pseudonym (as `policy::release` rewrites it).
fn pseudonym_id(
    policy: &Policy,
    key: &focal_sharing::PseudonymKey,
    body: &str,
    meta: &focal_sharing::ShareMeta,
) -> Option<String> {
    let o: Value = serde_json::from_str(body).ok()?;
    if !matches!(
        o.get("type")?.as_str()?,
        "ipv4-addr" | "ipv6-addr" | "domain-name" | "url"
    ) {
        return None;
    }
    let value = o.get("value")?.as_str()?;
    let actions: Vec<_> = meta
        .sensitive
        .iter()
        .filter(|s| s.value == value)
        .filter_map(|s| policy.redact.get(&s.field))
        .collect();
    let pseudonymised = actions.contains(&&focal_sharing::Redaction::Pseudonymise)
        && !actions.contains(&&focal_sharing::Redaction::Drop);
    pseudonymised.then(|| {
        focal_sharing::stix::sco_id("domain-name", &json!({ "value": key.pseudonym(value) }))
    })
}

/// Adds released objects to a page, each object version once. Two stored objects can be
/// released as one: an address's observable, pseudonymised for this reader, takes the id of the
/// pseudonym's own observable, which the node also holds once its pseudonymised objects have
/// come back from a peer (found by the five-node ring in crates/focal/tests/federation_five.rs).
/// A request carrying one version twice is refused whole by Focal (and is ambiguous for any
/// TAXII client), so the page keeps one: the least restricted copy, as
/// `policy::release_closed` does for the copies of an observable.
fn add_once(
    out: &mut Vec<(Value, i64, String)>,
    on_page: &mut HashMap<(String, String), usize>,
    released: Vec<(Value, i64, String)>,
) {
    let rank = |o: &Value| focal_sharing::stix::object_tlp(o).unwrap_or(focal_model::Tlp::Red);
    for item in released {
        let key = (
            item.0
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            item.0
                .get("modified")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
        match on_page.get(&key) {
            Some(&i) => {
                if rank(&item.0) < rank(&out[i].0) {
                    out[i] = item;
                }
            }
            None => {
                on_page.insert(key, out.len());
                out.push(item);
            }
        }
    }
}

/// A page of objects the user may see, the page's stored records (for the date headers), and
/// whether more match.
async fn page(
    state: &AppState,
    u: User,
    collection: (String, String),
    q: ObjectQuery,
) -> Result<(Vec<(Value, i64, String)>, Vec<i64>, Option<i64>, bool)> {
    let state2 = state.clone();
    blocking(move || {
        let store = state2.store.as_ref();
        let (c, r) = access(store, &u, &collection)?;
        need_read(r)?;
        let policy = focal_sharing::settings::policy_for(store, &u.name)
            .map_err(TaxiiError::internal)?
            .narrowed(c.max_tlp.as_deref().and_then(|t| t.parse().ok()));
        // Objects the policy withholds leave a page short; read on (a bounded number of times)
        // so clients that size their next request by the last page (taxii2-client's as_pages
        // does) do not shrink to nothing.
        let limit = q.limit.max(1);
        let mut q = q;
        // Visibility in SQL, so every page but the last holds `limit` objects the reader may
        // see; the gate and closure below still run on each.
        q.visible = Some(focal_sharing::policy::visibility(&policy));
        let (mut out, mut dates, mut last_seq, mut more) = (Vec::new(), Vec::new(), None, true);
        let mut on_page = HashMap::new();
        for _ in 0..FILL_ROUNDS {
            q.limit = limit - out.len();
            let p = store.objects(&c.id, &q)?;
            dates.extend(p.objects.iter().map(|o| o.date_added));
            if let Some(last) = p.objects.last() {
                last_seq = Some(last.date_added);
                q.after_added = Some(last.date_added);
            }
            let mut page = released(&policy, &state2, &c.id, &p.objects);
            // Asked for by id, an object answers only to the id it is released under: a
            // pseudonymised observable must not answer to its real value's id, or the reply
            // would confirm the value and map it to its pseudonym.
            if !q.ids.is_empty() {
                page.retain(|(o, _, _)| {
                    o.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| q.ids.iter().any(|want| want == id))
                });
            }
            add_once(&mut out, &mut on_page, page);
            more = p.more;
            if !more || out.len() >= limit {
                break;
            }
        }
        Ok((out, dates, last_seq, more))
    })
    .await
}

fn with_date_headers(mut resp: Response, dates: &[i64]) -> Response {
    if let (Some(first), Some(last)) = (dates.first(), dates.last()) {
        for (name, v) in [
            ("X-TAXII-Date-Added-First", first),
            ("X-TAXII-Date-Added-Last", last),
        ] {
            if let Ok(h) = HeaderValue::from_str(&timestamp_us(*v)) {
                resp.headers_mut().insert(name, h);
            }
        }
    }
    resp
}

fn envelope(objects: Vec<Value>, more: bool, next: Option<i64>) -> Value {
    let mut v = json!({ "more": more });
    if more && let Some(n) = next {
        v["next"] = json!(n.to_string());
    }
    if !objects.is_empty() {
        v["objects"] = Value::Array(objects);
    }
    v
}

async fn get_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path(collection): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let q = parse_query(&params, true)?;
    let (objects, dates, next, more) = page(&state, u, collection, q).await?;
    let objects = objects.into_iter().map(|o| o.0).collect();
    Ok(with_date_headers(
        taxii_json(StatusCode::OK, &envelope(objects, more, next)),
        &dates,
    ))
}

async fn get_object(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path((root, collection, object)): Path<(String, String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let mut q = parse_query(&params, false)?;
    q.ids = vec![object.clone()];
    let (objects, dates, next, more) = page(&state, u, (root, collection), q).await?;
    if objects.is_empty() {
        return Err(TaxiiError::not_found(format!(
            "no object {object} that you may see"
        )));
    }
    let objects = objects.into_iter().map(|o| o.0).collect();
    Ok(with_date_headers(
        taxii_json(StatusCode::OK, &envelope(objects, more, next)),
        &dates,
    ))
}

async fn versions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path((root, collection, object)): Path<(String, String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let mut q = parse_query(&params, false)?;
    q.ids = vec![object.clone()];
    q.versions = VersionMatch::All;
    let (objects, dates, next, more) = page(&state, u, (root, collection), q).await?;
    if objects.is_empty() {
        return Err(TaxiiError::not_found(format!(
            "no object {object} that you may see"
        )));
    }
    let mut body = json!({ "more": more, "versions": objects.iter().map(|o| o.2.clone()).collect::<Vec<_>>() });
    if more && let Some(n) = next {
        body["next"] = json!(n.to_string());
    }
    Ok(with_date_headers(taxii_json(StatusCode::OK, &body), &dates))
}

async fn manifest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path(collection): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&headers, who)?;
    let q = parse_query(&params, true)?;
    let (objects, dates, next, more) = page(&state, u, collection, q).await?;
    let entries: Vec<Value> = objects
        .into_iter()
        .map(|(o, added, version)| {
            json!({
                "id": o["id"],
                "date_added": timestamp_us(added),
                "version": version,
                "media_type": STIX_MEDIA,
            })
        })
        .collect();
    let mut body = json!({ "more": more });
    if more && let Some(n) = next {
        body["next"] = json!(n.to_string());
    }
    if !entries.is_empty() {
        body["objects"] = Value::Array(entries);
    }
    Ok(with_date_headers(taxii_json(StatusCode::OK, &body), &dates))
}

/// Deletes the versions of an object that the caller may both read and write. Whatever the
/// caller may not read (a TLP:RED object, one above its clearance, one it would only see under a
/// pseudonymised id, or anything in a collection it may only write to) answers exactly as an
/// object that does not exist, so DELETE cannot probe for what GET hides. Audited
/// (`taxii.delete`) before the change: the sharing store is not transactional with the log, and
/// nothing may change unaudited.
async fn delete_object(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path((root, collection, object)): Path<(String, String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let actor = who.actor();
    let u = user(&headers, who)?;
    let q = parse_query(&params, false)?;
    let not_found = {
        let object = object.clone();
        move || TaxiiError::not_found(format!("no object {object} that you may see"))
    };
    let gone = not_found.clone();
    let st = state.clone();
    let n = blocking(move || {
        let store = st.store.as_ref();
        let (c, r) = access(store, &u, &(root, collection))?;
        need_write(r)?;
        if !r.can_read {
            return Err(not_found());
        }
        let visible = visible_versions(&st, &u, &c, &object, &q)?;
        if visible.is_empty() {
            return Err(not_found());
        }
        st.store.audit_append(
            &actor,
            "taxii.delete",
            &format!("collection:{}", c.id),
            None,
            Some(&json!({
                "api_root": c.api_root,
                "collection": c.id,
                "id": object,
                "versions": visible.iter().map(|v| timestamp_us(*v)).collect::<Vec<_>>(),
            })),
        )?;
        Ok(store.delete_object(&c.id, &object, &VersionMatch::At(visible), &q.spec_versions)?)
    })
    .await?;
    if n == 0 {
        // Deleted in between by someone else: gone, as for any missing object.
        return Err(gone());
    }
    Ok((StatusCode::OK, "").into_response())
}

/// The versions (Unix microseconds) of `object` matching the query's version and spec_version
/// filters that the user would be served by GET: after `release` with the user's policy, under
/// the collection's TLP limit, and answering to this id.
fn visible_versions(
    state: &AppState,
    u: &User,
    c: &focal_store::sharing::Collection,
    object: &str,
    q: &ObjectQuery,
) -> Result<Vec<i64>> {
    let store = state.store.as_ref();
    let policy = focal_sharing::settings::policy_for(store, &u.name)
        .map_err(TaxiiError::internal)?
        .narrowed(c.max_tlp.as_deref().and_then(|t| t.parse().ok()));
    let mut q = ObjectQuery {
        ids: vec![object.to_string()],
        versions: q.versions.clone(),
        spec_versions: q.spec_versions.clone(),
        limit: MAX_PAGE,
        ..ObjectQuery::default()
    };
    let mut out = Vec::new();
    loop {
        let p = store.objects(&c.id, &q)?;
        for s in &p.objects {
            let seen = released(&policy, state, &c.id, std::slice::from_ref(s));
            if seen.iter().any(|(o, _, _)| o["id"] == object) {
                out.push(s.version_us);
            }
        }
        match p.objects.last() {
            Some(last) if p.more => q.after_added = Some(last.date_added),
            _ => break,
        }
    }
    Ok(out)
}

async fn add_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Extension(who): Extension<Principal>,
    Path(collection): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let actor = who.actor();
    let u = user(&headers, who)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = content_type.to_ascii_lowercase().replace(' ', "");
    if !(ct == "application/taxii+json" || ct == TAXII_MEDIA) {
        return Err(TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("send {TAXII_MEDIA}, not {content_type:?}"),
        ));
    }
    let limits = state.settings.limits;
    let too_large = |size: usize| {
        TaxiiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            InboundError::TooLarge {
                size,
                limit: limits.max_body_bytes,
            }
            .to_string(),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limits.max_body_bytes
    {
        return Err(too_large(len));
    }
    let bytes = axum::body::to_bytes(body, limits.max_body_bytes)
        .await
        .map_err(|_| too_large(limits.max_body_bytes + 1))?;
    // Check access before spending time on the body.
    let store = state.store.clone();
    let (u2, coll2) = (u.clone(), collection.clone());
    let c = blocking(move || {
        let (c, r) = access(store.as_ref(), &u2, &coll2)?;
        need_write(r)?;
        Ok(c)
    })
    .await?;
    let store = state.store.clone();
    let key = state.settings.key.clone();
    let node_id = state.settings.node.common.id.clone();
    let status = blocking(move || {
        // Staff of this node add its own objects; anyone else (a peer) is a foreign source.
        let foreign = !matches!(
            u.role,
            focal_identity::Role::Admin | focal_identity::Role::Analyst
        );
        let objects = focal_sharing::import::accept(store.as_ref(), &c.id, &bytes, &limits)
            .and_then(|objects| {
                if foreign {
                    focal_sharing::import::refuse_forged_own(
                        store.as_ref(),
                        &c.id,
                        &node_id,
                        &objects,
                    )?;
                }
                Ok(objects)
            })
            .map_err(|e| {
                let e = match e {
                    AcceptError::Inbound(e) => e,
                    AcceptError::Store(e) => return TaxiiError::from(e),
                };
                let mut err = TaxiiError::new(
                    StatusCode::from_u16(e.http_status())
                        .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                    "Refused: nothing was stored",
                    e.to_string(),
                );
                if let InboundError::Object {
                    index,
                    id,
                    field,
                    reason,
                } = &e
                {
                    err.details =
                        Some(json!({"index": index, "id": id, "field": field, "reason": reason}));
                }
                err
            })?;
        let items =
            focal_sharing::import::inbound_items_in(store.as_ref(), &c.id, objects, foreign)?;
        // This node's own pseudonyms coming back are its own objects: held already.
        let (items, own) =
            focal_sharing::import::without_own_pseudonyms(store.as_ref(), &c.id, &key, items)?;
        // Audited before the change (the sharing store is not transactional with the log):
        // who wrote what into which collection. The ids are at most `max_objects`, the
        // request's own limit.
        let ids: Vec<&str> = items
            .iter()
            .filter_map(|i| i.object.get("id").and_then(Value::as_str))
            .collect();
        store.audit_append(
            &actor,
            "taxii.add",
            &format!("collection:{}", c.id),
            None,
            Some(&json!({
                "api_root": c.api_root,
                "collection": c.id,
                "count": ids.len(),
                "ids": ids,
            })),
        )?;
        let outcome =
            focal_sharing::import::store_objects(store.as_ref(), &c.id, &items, Some(&u.name))?;
        // Indicators become events of the feed `peer:<user>`. The objects are stored; events
        // are derived from them, so a failure here is logged rather than refused.
        if let Err(e) = focal_sharing::import::derive_events(
            store.as_ref(),
            &items,
            &outcome,
            Some(&u.name),
            &format!("taxii-post:{}", u.name),
        ) {
            tracing::warn!(error = %e, "could not store events for posted indicators");
        }
        let mut successes: Vec<Value> = outcome
            .added
            .iter()
            .map(|(id, version, _)| json!({"id": id, "version": version}))
            .collect();
        successes.extend(outcome.already_present.iter().map(
            |(id, version)| json!({"id": id, "version": version, "message": "already present"}),
        ));
        successes.extend(
            own.iter()
                .map(|id| json!({"id": id, "message": "already present"})),
        );
        let id = focal_sharing::stix::random_uuid().to_string();
        let status = json!({
            "id": id,
            "status": "complete",
            "request_timestamp": timestamp_us(jiff::Timestamp::now().as_microsecond()),
            "total_count": successes.len(),
            "success_count": successes.len(),
            "successes": successes,
            "failure_count": 0,
            "failures": [],
            "pending_count": 0,
            "pendings": [],
        });
        store.put_status(&id, &u.name, &status.to_string())?;
        Ok(status)
    })
    .await?;
    Ok(taxii_json(StatusCode::ACCEPTED, &status))
}
