//! The TAXII 2.1 API: discovery, one API root (`/taxii2/root/`), status, collections, objects
//! (GET, POST), object (GET, DELETE), manifest and versions.
//!
//! Objects served are stored objects after `focal_sharing::release` with the user's policy,
//! narrowed by the collection's own TLP limit. Inbound objects are validated whole
//! (`focal_sharing::validate`) and stored in one transaction, with the user as their origin.

use crate::AppState;
use crate::auth::{self, AuthError};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use focal_sharing::import::AcceptError;
use focal_sharing::policy::{Policy, Shareable, release};
use focal_sharing::validate::InboundError;
use focal_store::sharing::{
    ObjectQuery, Rights, SharingStore, StoredObject, User, VersionMatch, parse_timestamp_us,
    timestamp_us,
};
use serde_json::{Value, json};

pub const TAXII_MEDIA: &str = "application/taxii+json;version=2.1";
pub const STIX_MEDIA: &str = "application/stix+json;version=2.1";
/// Largest page the server returns, whatever `limit` asks for.
pub const MAX_PAGE: usize = 1000;
const DEFAULT_PAGE: usize = 100;
/// At most this many reads of the store to fill one page.
const FILL_ROUNDS: usize = 8;
const ROOT: &str = "root";

pub fn routes(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/taxii2/", get(discovery))
        .route("/taxii2/root/", get(api_root))
        .route("/taxii2/root/status/{status}/", get(status))
        .route("/taxii2/root/collections/", get(collections))
        .route("/taxii2/root/collections/{collection}/", get(collection))
        .route(
            "/taxii2/root/collections/{collection}/objects/",
            get(get_objects).post(add_objects),
        )
        .route(
            "/taxii2/root/collections/{collection}/objects/{object}/",
            get(get_object).delete(delete_object),
        )
        .route(
            "/taxii2/root/collections/{collection}/objects/{object}/versions/",
            get(versions),
        )
        .route(
            "/taxii2/root/collections/{collection}/manifest/",
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

impl From<AuthError> for TaxiiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => TaxiiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "valid HTTP Basic credentials or a bearer token are required",
            ),
            AuthError::Store(s) => TaxiiError::internal(s),
        }
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

/// Authenticates the request and checks its `Accept` header.
async fn user(state: &AppState, headers: &HeaderMap) -> Result<User> {
    check_accept(headers)?;
    let auth = state.auth.clone();
    let headers = headers.clone();
    blocking(move || Ok(auth.authenticate(&headers)?)).await
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn discovery(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    user(&state, &headers).await?;
    let root = format!("{}/taxii2/{ROOT}/", base_url(&headers));
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("{} (Focal)", state.settings.node.name),
            "description": "TAXII 2.1 server of a Focal node",
            "default": root,
            "api_roots": [root],
        }),
    ))
}

async fn api_root(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    user(&state, &headers).await?;
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": format!("{} sharing", state.settings.node.name),
            "description": "Indicators and sightings shared under TLP 2.0",
            "versions": [TAXII_MEDIA],
            "max_content_length": state.settings.limits.max_body_bytes,
        }),
    ))
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
    let store = state.store.clone();
    let body = blocking(move || Ok(store.status(&id, &u.name)?)).await?;
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

async fn collections(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let u = user(&state, &headers).await?;
    let store = state.store.clone();
    let list = blocking(move || {
        let mut out = Vec::new();
        for c in store.collections()? {
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

/// The collection and the user's rights on it; 404 if it does not exist or the user has no
/// right at all on it (so its existence is not disclosed).
fn access(
    store: &dyn SharingStore,
    u: &User,
    id: &str,
) -> Result<(focal_store::sharing::Collection, Rights)> {
    let c = store
        .collection(id)?
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
    Path(id): Path<String>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
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

/// Stored objects through the choke point, each with its stored record.
fn released(
    policy: &Policy,
    state: &AppState,
    stored: &[StoredObject],
) -> Vec<(Value, i64, String)> {
    let mut out = Vec::with_capacity(stored.len());
    for s in stored {
        let Ok(object) = serde_json::from_str::<Value>(&s.body) else {
            continue;
        };
        let meta = serde_json::from_str(&s.meta)
            .unwrap_or_else(|_| focal_sharing::import::inbound_meta(&object));
        let r = release(
            policy,
            &state.settings.key,
            vec![Shareable { object, meta }],
        );
        for o in r.objects {
            out.push((o, s.date_added, s.version.clone()));
        }
    }
    out
}

/// A page of objects the user may see, the page's stored records (for the date headers), and
/// whether more match.
async fn page(
    state: &AppState,
    u: User,
    collection: String,
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
        let (mut out, mut dates, mut last_seq, mut more) = (Vec::new(), Vec::new(), None, true);
        for _ in 0..FILL_ROUNDS {
            q.limit = limit - out.len();
            let p = store.objects(&c.id, &q)?;
            dates.extend(p.objects.iter().map(|o| o.date_added));
            if let Some(last) = p.objects.last() {
                last_seq = Some(last.date_added);
                q.after_added = Some(last.date_added);
            }
            let mut page = released(&policy, &state2, &p.objects);
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
            out.extend(page);
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
    Path(collection): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
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
    Path((collection, object)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
    let mut q = parse_query(&params, false)?;
    q.ids = vec![object.clone()];
    let (objects, dates, next, more) = page(&state, u, collection, q).await?;
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
    Path((collection, object)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
    let mut q = parse_query(&params, false)?;
    q.ids = vec![object.clone()];
    q.versions = VersionMatch::All;
    let (objects, dates, next, more) = page(&state, u, collection, q).await?;
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
    Path(collection): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
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

async fn delete_object(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((collection, object)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
    let q = parse_query(&params, false)?;
    let store = state.store.clone();
    let n = blocking(move || {
        let (c, r) = access(store.as_ref(), &u, &collection)?;
        need_write(r)?;
        Ok(store.delete_object(&c.id, &object, &q.versions, &q.spec_versions)?)
    })
    .await?;
    if n == 0 {
        return Err(TaxiiError::not_found("no such object version"));
    }
    Ok((StatusCode::OK, "").into_response())
}

async fn add_objects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    body: Body,
) -> Result<Response> {
    let u = user(&state, &headers).await?;
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
    let status = blocking(move || {
        let objects = focal_sharing::import::accept(store.as_ref(), &c.id, &bytes, &limits)
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
        let foreign = !matches!(u.role.as_str(), "admin" | "analyst");
        let items = focal_sharing::import::inbound_items(objects, foreign);
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
